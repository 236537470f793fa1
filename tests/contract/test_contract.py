"""The project against torchship's contract: its configuration loads, its sessions are
listed, its git hooks install. Nothing here imports torch: the `contract` session runs
without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = ("lint", "typecheck", "unit", "e2e", "benchmark", "contract", "gpu_tests", "compare")


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        project: dict[str, object] = tomllib.load(fh)["project"]
    return project


def test_the_configuration_loads_through_torchship() -> None:
    from torchship import config

    cfg = config.load(ROOT, use_local=False)
    assert cfg.root == ROOT
    assert cfg.release.branch
    assert (ROOT / cfg.dockerfile).is_file()
    package = str(_project()["name"]).replace("-", "_")
    assert (ROOT / "src" / package / "__init__.py").is_file()
    assert (ROOT / "src" / package / "models" / "registry.toml").is_file()


def test_the_tool_is_a_pinned_dependency_of_the_test_extra() -> None:
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    assert any(req.replace(" ", "").startswith("torchship~=") for req in extras["test"])


def test_nox_lists_the_sessions_without_importing_torch() -> None:
    # nox -l imports only the noxfile: run it in-process under a watch for torch.
    code = ("import sys, runpy; sys.argv = ['nox', '-l']\n"
            "try:\n    runpy.run_module('nox', run_name='__main__')\n"
            "except SystemExit as exit:\n    code = exit.code\n"
            "print('torch imported' if 'torch' in sys.modules else 'torch not imported')\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=False)
    assert "torch not imported" in res.stdout, res.stdout + res.stderr
    listed = {line.split()[1] for line in res.stdout.splitlines()
              if line.startswith(("* ", "- "))}
    assert set(SESSIONS) <= {name.split("(")[0] for name in listed}, res.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed here")
def test_invoke_hooks_install_installs_the_hooks(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("tasks.py", "pyproject.toml", ".pre-commit-config.yaml", ".gitmessage"):
        shutil.copy2(ROOT / name, repo / name)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
               # pre-commit's environments (ruff) are a cache: the user's, not built again here.
               PRE_COMMIT_HOME=os.environ.get("PRE_COMMIT_HOME")
               or str(Path.home() / ".cache" / "pre-commit"))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env, check=True)
    res = subprocess.run([sys.executable, "-m", "invoke", "hooks.install"], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    for hook in ("pre-commit", "commit-msg"):
        assert "pre-commit" in (repo / ".git" / "hooks" / hook).read_text()
    template = subprocess.run(["git", "config", "commit.template"], cwd=repo, env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert template == ".gitmessage"
