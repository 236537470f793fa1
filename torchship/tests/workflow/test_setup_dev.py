"""Onboarding: scripts/setup_dev.sh takes a fresh clone to green tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from workflow_helpers import BIN, workflow_env

from torchship.testing.template import find_links


@pytest.mark.slow
def test_setup_dev_from_a_fresh_clone_to_green_tests(tmp_path: Path, pre_commit_home: Path,
                                                     template: Path, tool_wheels: Path) -> None:
    """A real clone, a real venv, a real `pip install -e .[dev]` (about two minutes), the
    tool from its wheel as a project made from the template gets it."""
    env = workflow_env(tmp_path / "home", pre_commit_home)
    env.update(find_links(tool_wheels, env))
    env.pop("VIRTUAL_ENV")  # a newcomer has no venv active
    (tmp_path / "home" / ".gitconfig").write_text("[user]\n\tname = New\n\temail = new@x.invalid\n")
    made = subprocess.run([str(BIN / "invoke"), "template.new", str(tmp_path / "origin"),
                           "--name", "acme", "--no-hooks"], cwd=template, env=env,
                          capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(tmp_path / "origin"), str(clone)], env=env,
                   check=True)

    res = subprocess.run(["scripts/setup_dev.sh"], cwd=clone, env=env, capture_output=True,
                         text=True, timeout=1200, check=False)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert "Session unit was successful" in res.stdout + res.stderr
    assert (clone / ".venv" / "bin" / "python").is_file()
    assert (clone / ".git" / "hooks" / "commit-msg").is_file()
    template = subprocess.run(["git", "config", "commit.template"], cwd=clone, env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert template == ".gitmessage"

    again = subprocess.run(["scripts/setup_dev.sh", "--no-tests"], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=1200, check=False)
    assert again.returncode == 0, again.stderr[-2000:]


def test_setup_dev_refuses_an_old_python_in_one_line(template: Path) -> None:
    res = subprocess.run([str(template / "scripts" / "setup_dev.sh"), "--python", "no-such-python"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == ("error: no-such-python is missing or older than Python 3.11 "
                                  "(pass --python python3.11)")
