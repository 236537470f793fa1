"""[tool.torchship] -> Config: what a valid table gives, and one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship import config
from torchship.errors import ConfigError

DIGEST = "sha256:" + "ab" * 32
PROJECT = """
[project]
name = "demo"
version = "0.1.0"
[project.optional-dependencies]
test = ["pytest"]
"""
BASES = f"""
[tool.torchship.bases.cu121]
runtime = "pytorch/pytorch:2.5.1-cuda12.1-cudnn9-runtime@{DIGEST}"
devel = "127.0.0.1:5000/team/pytorch:2.5.1-devel@{DIGEST}"
torch = "2.5.1"
"""


def _project(tmp_path: Path, tool: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    (tmp_path / "pyproject.toml").write_text(PROJECT + tool)
    return tmp_path


def _error(root: Path) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(root)
    return info.value.render()


def test_a_valid_table_gives_frozen_typed_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, '[tool.torchship]\nimage = "reg.example.com/t/demo"\n'
                    "[tool.torchship.compare]\nregression = 1\n" + BASES, monkeypatch)
    cfg = config.load(root)
    assert cfg.image == "reg.example.com/t/demo"
    assert cfg.envs == ["cu121"]
    assert cfg.default_env == "cu121"
    base = cfg.bases["cu121"]
    assert base.runtime.name == "pytorch/pytorch"
    assert base.runtime.tag == "2.5.1-cuda12.1-cudnn9-runtime"
    assert base.devel.pinned == f"127.0.0.1:5000/team/pytorch@{DIGEST}"
    assert base.torch == "2.5.1"
    assert cfg.compare.regression == 1.0  # an int where a float is expected is accepted
    assert cfg.devel_extras == ("test",)  # the default, limited to the extras the project has
    assert cfg.source == root / "pyproject.toml"
    with pytest.raises(AttributeError):
        cfg.image = "x"  # type: ignore[misc]  # frozen: the assignment itself is the test


@pytest.mark.parametrize(("tool", "message"), [
    ('[tool.torchship]\nimgae = "x"\n', "tool.torchship.imgae: unknown key"),
    ('[tool.torchship.bases.cu121]\nruntime = "pytorch/pytorch:2.5.1"\ndevel = "a@' + DIGEST + '"\n',
     "tool.torchship.bases.cu121.runtime: 'pytorch/pytorch:2.5.1' is not pinned by digest "
     "(run `invoke images.pin`)"),
    ('[tool.torchship.bases.cu121]\nruntime = "Not A Ref"\ndevel = "a@' + DIGEST + '"\n',
     "tool.torchship.bases.cu121.runtime: 'Not A Ref' is not an image reference"),
    ('[tool.torchship.bases.cu121]\nruntime = "a@' + DIGEST + '"\n',
     "tool.torchship.bases.cu121.devel: missing"),
    ('[tool.torchship.bases.cu121]\nruntime = "a@' + DIGEST + '"\ndevel = "a@' + DIGEST + '"\ncudnn = "9"\n',
     "tool.torchship.bases.cu121.cudnn: unknown key"),
    ('[tool.torchship]\ndefault_env = "cu999"\n', "tool.torchship.default_env: 'cu999' is not in bases"),
    ('[tool.torchship.compare]\nloss_rtol = "tight"\n', "tool.torchship.compare.loss_rtol: must be float"),
    ('[tool.torchship]\ndevel_extras = ["notebook"]\n',
     "tool.torchship.devel_extras: 'notebook' is not an extra of the project"),
    ("[tool.torchship]\nrelease = 3\n", "tool.torchship.release: must be a table"),
])
def test_each_mistake_is_one_line_naming_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 tool: str, message: str) -> None:
    rendered = _error(_project(tmp_path, tool, monkeypatch))
    assert rendered.startswith(message)
    assert "\n" not in rendered


def test_unpinned_bases_are_allowed_when_pinning_is_not_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = _project(tmp_path, "[tool.torchship]\nrequire_digest = false\n"
                    '[tool.torchship.bases.cpu]\nruntime = "python:3.11"\ndevel = "python:3.11"\n',
                    monkeypatch)
    assert config.load(root).bases["cpu"].runtime.pinned == "python:3.11"


def test_the_local_override_replaces_image_and_bases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, '[tool.torchship]\nimage = "reg.example.com/t/demo"\n' + BASES, monkeypatch)
    (root / config.LOCAL_CONFIG).write_text(
        f'image = "127.0.0.1:5000/demo"\n[bases.cpu]\nruntime = "a@{DIGEST}"\ndevel = "b@{DIGEST}"\n')
    cfg = config.load(root)
    assert cfg.image == "127.0.0.1:5000/demo"
    assert cfg.envs == ["cpu"]
    assert cfg.source == root / config.LOCAL_CONFIG
    (root / config.LOCAL_CONFIG).write_text('regression = 0.5\n')
    assert _error(root).startswith(f"{config.LOCAL_CONFIG}.regression: unknown key")


def test_missing_or_broken_pyproject(tmp_path: Path) -> None:
    assert _error(tmp_path).endswith("pyproject.toml: not found")
    (tmp_path / "pyproject.toml").write_text("[project\n")
    assert "pyproject.toml: not valid TOML" in _error(tmp_path)
