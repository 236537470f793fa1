"""The matrix with no engine: the real suites on the host as the one `local` environment.

One real run (the e2e suite; the benchmark suite too when the project has one) is shared
by the module; the planted problems are made by editing copies of its saved records.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torchship.errors import TorchshipError
from torchship.matrix import records
from torchship.matrix import run as matrix
from torchship.testing.template import template_source

SUITES = ("e2e", "benchmark") if (template_source(Path(__file__).resolve().parents[3])
                                  / "tests" / "benchmarks").is_dir() else ("e2e",)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Path:
    out = tmp_path_factory.mktemp("matrix") / "run"
    opts = matrix.Options(root=template, mode="local", suites=SUITES, out=out, show=False)
    matrix.gpu_tests(opts)  # raises MatrixFailed if anything failed
    return out


def test_local_run_writes_records_and_report(local_run: Path) -> None:
    run = records.load(local_run)
    assert run.mode == "local"
    [rec] = run.records
    assert rec.env == "local"
    assert rec.image is None
    assert [s.suite for s in rec.suites] == list(SUITES)
    assert all(s.status == "passed" for s in rec.suites)
    e2e = rec.suite("e2e")
    assert e2e is not None
    assert any(t.id.startswith("tests/e2e/test_training.py::") for t in e2e.tests)
    assert rec.training is not None
    assert rec.training.final["loss"] < rec.training.epochs[0].metrics["loss"]
    assert set(rec.training.final) == {"loss", "accuracy"}
    assert rec.repeat is not None
    assert rec.repeat.first_difference(rec.training) is None
    assert rec.fingerprint["container"]["image"] is None
    md = (local_run / "compare.md").read_text()
    assert "**PASS" in md
    assert "No image was used" in md
    assert json.loads((local_run / "compare.json").read_text())["ok"] is True
    # The report names what the environment ran on, and the commit that was tested.
    import torch

    assert (f"| local | {torch.__version__} | {torch.version.cuda or '-'} | ") in md
    assert f"Commit: `{run.host['git']['commit'][:12]}" in md
    if "benchmark" in SUITES:
        assert rec.benchmarks
        assert (local_run / "compare.png").exists()


def _edit(src: Path, dest: Path, change: object) -> Path:
    shutil.copytree(src, dest)
    data = json.loads((dest / "run.json").read_text())
    change(data)  # type: ignore[operator]  # a callable, kept loose for the lambdas below
    (dest / "run.json").write_text(json.dumps(data))
    return dest


def test_planted_training_divergence_fails_and_is_named(local_run: Path, tmp_path: Path, template: Path) -> None:
    def plant(data: dict) -> None:  # type: ignore[type-arg]  # raw JSON
        twin = json.loads(json.dumps(data["records"][0]))
        twin["env"] = "local-diverged"
        twin["training"]["final"]["loss"] *= 1.5
        twin["repeat"] = None
        data["records"].append(twin)

    folder = _edit(local_run, tmp_path / "diverged", plant)
    opts = matrix.Options(root=template, show=False, png=False)
    with pytest.raises(matrix.MatrixFailed, match=r"divergence: local-diverged: training"):
        matrix.compare_only(opts, folder)
    assert "**divergence** `local-diverged`" in (folder / "compare.md").read_text()


def test_planted_nondeterminism_fails(local_run: Path, tmp_path: Path, template: Path) -> None:
    def plant(data: dict) -> None:  # type: ignore[type-arg]  # raw JSON
        data["records"][0]["repeat"]["epochs"][-1]["accuracy"] += 1e-7

    folder = _edit(local_run, tmp_path / "nondet", plant)
    # Not only the loss: every per-epoch metric of the repeat must be identical.
    with pytest.raises(matrix.MatrixFailed, match=r"nondeterminism: local: training: .*: epoch \d+ accuracy"):
        matrix.compare_only(matrix.Options(root=template, show=False, png=False), folder)


@pytest.mark.skipif("benchmark" not in SUITES, reason="the project has no benchmark suite yet")
def test_planted_benchmark_regression_fails_and_is_named(local_run: Path, tmp_path: Path, template: Path) -> None:
    def faster(data: dict) -> None:  # type: ignore[type-arg]  # raw JSON
        data["run_id"] = "baseline-made-faster"
        for b in data["records"][0]["benchmarks"]:
            b["median"] /= 2
            b["min"] /= 2

    baseline = _edit(local_run, tmp_path / "baseline", faster)
    opts = matrix.Options(root=template, baseline=baseline, show=False)
    with pytest.raises(matrix.MatrixFailed, match=r"regression: local: test_"):
        matrix.compare_only(opts, local_run)
    md = (local_run / "compare.md").read_text()
    assert "**REGRESSION**" in md
    assert "baseline `baseline-made-faster`" in md


def test_missing_baseline_is_a_clear_error(local_run: Path, tmp_path: Path, template: Path) -> None:
    opts = matrix.Options(root=template, baseline=tmp_path / "nope", show=False)
    with pytest.raises(records.RecordError, match="baseline does not exist"):
        matrix.compare_only(opts, local_run)


def test_results_from_an_incompatible_version_are_a_clear_error(local_run: Path,
                                                                tmp_path: Path, template: Path) -> None:
    folder = _edit(local_run, tmp_path / "old", lambda d: d.update(schema=0))
    with pytest.raises(records.RecordError, match="schema 0; this torchship reads schema 2"):
        matrix.compare_only(matrix.Options(root=template, show=False), folder)


def test_a_hung_suite_is_stopped_at_its_time_limit(tmp_path: Path, template: Path) -> None:
    opts = matrix.Options(root=template, mode="local", suites=("e2e",), limit=2, out=tmp_path,
                          show=False, png=False)
    with pytest.raises(matrix.MatrixFailed, match="suite: local: e2e: timed-out"):
        matrix.gpu_tests(opts)
    [rec] = records.load(tmp_path).records
    assert rec.suites[0].status == "timed-out"
    assert _running_with(f"TORCHSHIP_RESULTS={tmp_path / 'local'}") == []


def _running_with(variable: str) -> list[int]:
    """Processes whose environment holds `variable` (the suite and all it started)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if variable.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue  # gone, or not ours to read
    return found


def test_command_line_errors_are_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "torchship.matrix", "--image", "x"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr == "error: --image: 'x' is not ENV=REF\n"


def test_require_gpu_on_a_cpu_host_is_an_error(tmp_path: Path, template: Path) -> None:
    if matrix.host_gpus():
        pytest.skip("this host has a GPU")
    opts = matrix.Options(root=template, mode="local", require_gpu=True, out=tmp_path, show=False)
    with pytest.raises(TorchshipError, match="--require-gpu"):
        matrix.gpu_tests(opts)


def test_no_pinned_environment_is_a_clear_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch, template: Path) -> None:
    local = tmp_path / "torchship.local.toml"
    local.write_text("[bases]\n")
    monkeypatch.setenv("TORCHSHIP_LOCAL_CONFIG", str(local))
    opts = matrix.Options(root=template, mode="containers", out=tmp_path / "run", show=False)
    with pytest.raises(TorchshipError, match="no pinned environment configured"):
        matrix.gpu_tests(opts)
    assert not (tmp_path / "run").exists()


def test_with_no_pinned_environment_the_default_runs_on_the_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: Path) -> None:
    local = tmp_path / "torchship.local.toml"
    local.write_text("[bases]\n")
    monkeypatch.setenv("TORCHSHIP_LOCAL_CONFIG", str(local))
    cfg = matrix.configmod.load(template)
    mode, why = matrix.resolve_mode(matrix.Options(root=template), cfg)
    assert mode == "local"
    assert "no pinned environment is configured" in why


def test_local_report_says_why_no_image_was_used(local_run: Path) -> None:
    assert records.load(local_run).note == "--local was given"
    assert "(--local was given)" in (local_run / "compare.md").read_text()
