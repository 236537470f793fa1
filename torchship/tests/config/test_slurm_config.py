"""[tool.torchship.slurm]: where `torchship matrix --on slurm` submits, validated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship import config
from torchship.errors import ConfigError

PROJECT = '[project]\nname = "demo"\nversion = "0.1.0"\n'


def _load(tmp_path: Path, tool: str, monkeypatch: pytest.MonkeyPatch) -> config.Config:
    monkeypatch.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    (tmp_path / "pyproject.toml").write_text(PROJECT + tool)
    return config.load(tmp_path)


def test_the_slurm_table_gives_the_jobs_resources(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _load(tmp_path, '[tool.torchship.slurm]\npartition = "gpu"\naccount = "ml"\n'
                          'time = 90\ncpus = 8\nshared = "/shared/torchship"\n'
                          '[tool.torchship.slurm.gres]\na100 = "gpu:a100:1"\n'
                          'h100 = "gpu:h100:1"\n', monkeypatch)
    assert cfg.slurm == config.Slurm(partition="gpu", account="ml", time=90, cpus=8,
                                     gres={"a100": "gpu:a100:1", "h100": "gpu:h100:1"},
                                     shared="/shared/torchship")


def test_without_a_table_every_job_gets_the_defaults(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _load(tmp_path, "", monkeypatch)
    assert cfg.slurm == config.Slurm()
    assert cfg.slurm.gres == {}    # one job per environment, no GPU (kind `cpu`)


def test_a_machine_names_its_own_cluster_in_the_local_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / config.LOCAL_CONFIG).write_text('[slurm]\npartition = "debug"\ncpus = 1\n')
    cfg = _load(tmp_path, '[tool.torchship.slurm]\npartition = "gpu"\n', monkeypatch)
    assert (cfg.slurm.partition, cfg.slurm.cpus) == ("debug", 1)


@pytest.mark.parametrize(("table", "message"), [
    ('time = "1h"', "tool.torchship.slurm.time: must be int, not '1h'"),
    ("time = 0", "tool.torchship.slurm.time: must be a whole number >= 1, not 0 (time is in minutes)"),
    ("cpus = -2", "tool.torchship.slurm.cpus: must be a whole number >= 1, not -2"),
    ('qos = "high"', "tool.torchship.slurm.qos: unknown key"),
    ('runtime = "apptainer"', "tool.torchship.slurm.runtime: 'apptainer' is not supported"),
    ('gres = { A100 = "gpu:a100:1" }', "tool.torchship.slurm.gres.A100: a GPU kind"),
    ('gres = { a100 = 1 }', "tool.torchship.slurm.gres.a100: a GPU kind"),
    ('gres = "gpu:1"', "tool.torchship.slurm.gres: must be a table"),
])
def test_each_slurm_mistake_is_one_line_naming_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, f"[tool.torchship.slurm]\n{table}\n", monkeypatch)
    rendered = info.value.render()
    assert rendered.startswith(message), rendered
    assert "\n" not in rendered
