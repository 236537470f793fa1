from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torchship import envinfo

# An image need not have git (the matrix mounts the source without .git).
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed here")


@pytest.fixture(autouse=True)
def _no_image_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside an image the runner sets these; each test sets the ones it is about."""
    for var in [*envinfo.IMAGE_VARS.values(), *envinfo.GIT_VARS.values()]:
        monkeypatch.delenv(var, raising=False)


def _repo(path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "T")
    (path / "a.txt").write_text("a\n")
    git("add", "a.txt")
    git("commit", "-qm", "first")
    git("tag", "-a", "v1.0.0", "-m", "v1.0.0")
    return path


@needs_git
def test_fingerprint_has_the_versions_hardware_and_provenance(tmp_path: Path) -> None:
    import torch

    info = envinfo.collect(_repo(tmp_path))
    assert info["torch"] == torch.__version__
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert info["cuda_available"] == torch.cuda.is_available()
    assert info["gpu_count"] == len(info["gpus"])
    assert info["cpu"]["count"] >= 1
    assert info["git"]["describe"] == "v1.0.0"
    assert info["git"]["dirty"] is False
    assert len(info["git"]["commit"]) == 40
    json.dumps(info)  # JSON-ready


@needs_git
def test_dirty_tree_is_recorded(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "a.txt").write_text("changed\n")
    git = envinfo.git_info(repo)
    assert git["dirty"] is True
    assert git["describe"] == "v1.0.0-dirty"


def test_outside_a_repository_git_fields_are_null(tmp_path: Path) -> None:
    assert envinfo.git_info(tmp_path) == {"commit": None, "describe": None, "dirty": None}


def test_inside_an_image_the_variables_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHSHIP_IMAGE", "reg/app:1.0.0-cu121-devel")
    monkeypatch.setenv("TORCHSHIP_IMAGE_DIGEST", "sha256:" + "a" * 64)
    monkeypatch.setenv("TORCHSHIP_ENV", "cu121")
    monkeypatch.setenv("TORCHSHIP_GIT_COMMIT", "f" * 40)
    monkeypatch.setenv("TORCHSHIP_GIT_DIRTY", "false")
    info = envinfo.collect(tmp_path)
    assert info["container"]["image"] == "reg/app:1.0.0-cu121-devel"
    assert info["container"]["env"] == "cu121"
    assert info["git"] == {"commit": "f" * 40, "describe": None, "dirty": False}
    assert "image reg/app:1.0.0-cu121-devel" in envinfo.summary(info)


def test_write_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "env.json"
    info = envinfo.write(out, tmp_path)
    assert json.loads(out.read_text())["python"] == info["python"]
    lines = envinfo.summary(info).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"python {info['python']}  torch ")


def test_importing_envinfo_does_not_import_torch(tmp_path: Path) -> None:
    code = "import sys, torchship.envinfo; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    assert out.stdout.strip() == "False"
