"""Onboarding: scripts/setup_dev.sh takes a fresh clone to green tests, the tool from the
project's recorded source."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from workflow_helpers import BIN, workflow_env

import torchship


@pytest.mark.slow
def test_setup_dev_from_a_fresh_clone_to_green_tests(tmp_path: Path, pre_commit_home: Path,
                                                     template: Path) -> None:
    """A project made with `--tool-source git+file://<bare clone>@torchship-vX.Y.Z
    #subdirectory=torchship` (the bare clone stands in for the template's public repository):
    a real clone, a real venv, the project's own install command (about two minutes), with no
    folder of wheels; the tool comes from the recorded source, at the tag."""
    env = workflow_env(tmp_path / "home", pre_commit_home)
    env.pop("VIRTUAL_ENV")  # a newcomer has no venv active
    # pip's cache stays the machine's (speed only: the configuration is left as it is).
    env["XDG_CACHE_HOME"] = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    (tmp_path / "home" / ".gitconfig").write_text("[user]\n\tname = New\n\temail = new@x.invalid\n")
    public = tmp_path / "torchship.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(template), str(public)], env=env, check=True)
    tag = f"torchship-v{torchship.__version__}"
    subprocess.run(["git", "--git-dir", str(public), "tag", tag, "main"], env=env, check=True)
    tagged = subprocess.run(["git", "--git-dir", str(public), "rev-parse", f"{tag}^{{commit}}"],
                            env=env, capture_output=True, text=True, check=True).stdout.strip()
    source = f"git+{public.as_uri()}@{tag}#subdirectory=torchship"
    made = subprocess.run([str(BIN / "invoke"), "template.new", str(tmp_path / "origin"),
                           "--name", "acme", "--no-hooks", "--tool-source", source],
                          cwd=template, env=env, capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(tmp_path / "origin"), str(clone)], env=env,
                   check=True)
    assert "torchship" not in env.get("PIP_FIND_LINKS", "")

    res = subprocess.run(["scripts/setup_dev.sh"], cwd=clone, env=env, capture_output=True,
                         text=True, timeout=1200, check=False)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert "Session unit was successful" in res.stdout + res.stderr
    assert (clone / ".venv" / "bin" / "python").is_file()
    assert (clone / ".git" / "hooks" / "commit-msg").is_file()
    template = subprocess.run(["git", "config", "commit.template"], cwd=clone, env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert template == ".gitmessage"
    # Where pip says the tool came from (PEP 610): the recorded source, at the tag's commit.
    origin = json.loads(subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", "from importlib import metadata; "
         "print(metadata.distribution('torchship').read_text('direct_url.json'))"],
        capture_output=True, text=True, check=True).stdout)
    assert origin["url"] == public.as_uri()
    assert origin["vcs_info"] == {"vcs": "git", "requested_revision": tag, "commit_id": tagged}
    assert origin["subdirectory"] == "torchship"

    again = subprocess.run(["scripts/setup_dev.sh", "--no-tests"], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=1200, check=False)
    assert again.returncode == 0, again.stderr[-2000:]


def test_setup_dev_refuses_an_old_python_in_one_line(template: Path) -> None:
    res = subprocess.run([str(template / "scripts" / "setup_dev.sh"), "--python", "no-such-python"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == ("error: no-such-python is missing or older than Python 3.11 "
                                  "(pass --python python3.11)")
