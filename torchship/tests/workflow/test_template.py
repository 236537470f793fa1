"""New projects from the template: `invoke template.new DEST --name NAME`."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from workflow_helpers import BIN, ROOT, workflow_env

from torchship.release import changelog


def quickstart_test_command(readme: Path) -> list[str]:
    """The README Quickstart's `nox` test command, narrowed to its unit session, with --no-venv.

    --no-venv: nox would otherwise build a fresh venv and install torch and the rest (minutes
    on two cores); this test's venv already has every dependency, and PYTHONPATH puts the new
    project's src/ first, so the new package and its torchship are what get imported.
    """
    section = re.split(r"^#+ .*quick ?start.*$", readme.read_text(), maxsplit=1, flags=re.I | re.M)
    assert len(section) == 2, "the README has no Quickstart section"
    for line in section[1].splitlines():
        for command in line.split("&&"):
            words = shlex.split(command.strip().lstrip("$ "), comments=True)
            sessions = [w for w in words[1:] if not w.startswith("-")]
            if words[:1] == ["nox"] and (not sessions or "unit" in sessions):
                return ["nox", "--no-venv", "-s", "unit"]
    raise AssertionError("the README Quickstart has no `nox` command that runs the unit suite")


@pytest.fixture
def env(tmp_path: Path, pre_commit_home: Path) -> dict[str, str]:
    env = workflow_env(tmp_path / "home", pre_commit_home)
    (tmp_path / "home" / ".gitconfig").write_text(
        "[user]\n\tname = New Person\n\temail = new@person.invalid\n")
    return env


def new(dest: Path, name: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "invoke"), "template.new", str(dest), "--name", name, *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def git(repo: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_new_project_is_clean_renamed_and_passes_its_quickstart(tmp_path: Path,
                                                                env: dict[str, str]) -> None:
    dest = tmp_path / "acme"
    res = new(dest, "acme_vision", env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith(f"created {dest} (")

    # Renamed: no trace of the example package's name, in paths or in text.
    assert (dest / "src" / "acme_vision" / "models" / "registry.toml").is_file()
    assert not (dest / "src" / "mlproject").exists()
    leftovers = subprocess.run(["git", "grep", "-l", "-w", "mlproject"], cwd=dest, env=env,
                               capture_output=True, text=True, check=False).stdout
    assert leftovers == ""
    pyproject = (dest / "pyproject.toml").read_text()
    assert '\nname = "acme_vision"\n' in pyproject
    assert '\nversion = "0.1.0"\n' in pyproject
    assert 'current_version = "0.1.0"' in pyproject
    assert '"acme_vision[torch,test,tooling]"' in pyproject
    assert '__version__ = "0.1.0"' in (dest / "src" / "acme_vision" / "__init__.py").read_text()

    # An empty changelog that the release tooling accepts.
    log = changelog.parse((dest / "CHANGELOG.md").read_text())
    assert [s.title for s in log.sections] == ["Unreleased"]
    assert log.entries(log.sections[0]) == []

    # A fresh repository: one commit, clean, hooks installed, nothing machine-local copied.
    assert git(dest, env, "rev-list", "--count", "HEAD") == "1"
    assert git(dest, env, "branch", "--show-current") == "main"
    assert git(dest, env, "status", "--porcelain") == ""
    assert git(dest, env, "config", "commit.template") == ".gitmessage"
    assert "pre-commit" in (dest / ".git" / "hooks" / "commit-msg").read_text()
    assert not (dest / "torchship.local.toml").exists()
    assert not (dest / ".venv").exists()

    # The new project's Quickstart test command passes, from its own source.
    command = quickstart_test_command(dest / "README.md")
    run = subprocess.run(command, cwd=dest, capture_output=True, text=True, timeout=900,
                         env={**env, "PYTHONPATH": str(dest / "src")}, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Session unit was successful" in run.stdout + run.stderr
    # ... and it really imported the new package, not the template's.
    where = subprocess.run([str(BIN / "python"), "-c", "import acme_vision; print(acme_vision.__file__)"],
                           cwd=dest, env={**env, "PYTHONPATH": str(dest / "src")},
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(dest))


@pytest.mark.parametrize(("name", "message"), [
    ("Acme", "'Acme' is not a valid package name"),
    ("acme-vision", "'acme-vision' is not a valid package name"),
    ("2fast", "'2fast' is not a valid package name"),
    ("import", "'import' is taken"),
    ("json", "'json' is taken"),
    ("torchship", "'torchship' is taken"),
    ("a" * 49, f"'{'a' * 49}' is too long for this template: "),
])
def test_invalid_names_are_refused_and_nothing_is_created(tmp_path: Path, env: dict[str, str],
                                                          name: str, message: str) -> None:
    res = new(tmp_path / "p", name, env)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {message}")
    assert not (tmp_path / "p").exists()


def test_a_non_empty_destination_is_refused_and_left_alone(tmp_path: Path,
                                                           env: dict[str, str]) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine\n")
    res = new(dest, "acme", env)
    assert res.returncode == 1
    assert res.stderr.strip() == (f"error: {dest} exists and is not empty "
                                  "(choose a new or empty directory)")
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    assert (dest / "keep.txt").read_text() == "mine\n"


def test_an_empty_destination_is_used(tmp_path: Path, env: dict[str, str]) -> None:
    dest = tmp_path / "empty"
    dest.mkdir()
    res = new(dest, "acme", env, "--no-hooks")
    assert res.returncode == 0, res.stderr
    assert "hooks not installed" in res.stdout
    assert (dest / "src" / "acme" / "__init__.py").is_file()
