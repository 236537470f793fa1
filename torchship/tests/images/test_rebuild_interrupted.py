"""`invoke images.rebuild` stopped midway: SIGTERM cleans up and says so (143); after a
SIGKILL, which nothing can catch, the next rebuild prunes the worktree and the `-rebuild`
images the killed one left."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.testing.gitrepo import BIN, INVOKE, Project, add_bare_remote, git, isolated_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LONG = 1200


def _until(what: str, ok: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + LONG
    while time.monotonic() < deadline:
        if ok():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_interrupted_rebuild_leaves_nothing_and_a_killed_one_is_pruned_next_time(
        project: Path, tmp_path: Path, engine: Docker) -> None:
    env = isolated_env(tmp_path / "home", PATH=f"{BIN}:/usr/local/bin:/usr/bin:/bin")
    for key, value in (("user.name", "T"), ("user.email", "t@example.com")):
        git(project, "config", key, value, env=env)
    add_bare_remote(project, tmp_path / "remote.git", env=env)
    proj = Project(project, tmp_path / "remote.git", env, tmp_path)
    proj.settle()
    res = proj.invoke("release", "--part", "patch", "--no-sign", "--no-evidence", timeout=LONG)
    assert res.returncode == 0, res.stderr
    scratch = f"{tsconfig.load(project).image}-rebuild"

    def worktrees() -> list[str]:
        return [ln.removeprefix("worktree ") for ln in
                proj.git("worktree", "list", "--porcelain").splitlines()
                if ln.startswith("worktree ")]

    def scratch_images() -> list[str]:
        """The images of every rebuild of this project (`<image>-rebuild-<pid>`)."""
        return [ref for ref in engine("image", "ls", "--format", "{{.Repository}}:{{.Tag}}"
                                      ).stdout.split() if ref.startswith(f"{scratch}-")]

    def start(*flags: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*INVOKE, "images.rebuild", "v0.1.1", "--verbose", *flags],
                                cwd=project, env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    logs = project / "results" / "rebuild" / "v0.1.1"
    proc = start()
    _until("the first build", lambda: any(p.stat().st_size > 0 for p in logs.glob("*.log")),
           proc)
    [_, tree] = worktrees()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == [
        "error: interrupted; its worktree and the images it rebuilt were removed (SIGTERM)"]
    assert len(worktrees()) == 1
    assert not Path(tree).parent.exists()
    assert scratch_images() == []

    # --no-cache: the second image takes long enough to be killed in the middle of it.
    proc = start("--no-cache")
    _until("the first rebuilt image", lambda: bool(scratch_images()), proc)
    [_, tree] = worktrees()
    proc.kill()
    proc.communicate(timeout=60)
    left = scratch_images()
    assert left  # SIGKILL: nothing cleaned up
    assert Path(tree).is_dir()

    res = proj.invoke("images.rebuild", "v0.1.1", timeout=LONG)
    assert res.returncode == 0, res.stderr + res.stdout
    [line] = [ln for ln in res.stdout.splitlines() if ln.startswith("removed the worktree")]
    said, _, images = line.partition(", and its images ")
    assert said == f"removed the worktree {tree} that a killed rebuild left", line
    assert sorted(images.split(", ")) == sorted(left), (line, left)
    assert worktrees() == [str(project)]
    assert not Path(tree).parent.exists()
    assert scratch_images() == []
