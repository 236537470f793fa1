"""Fixtures for the release tests: a copy of the template with a bare remote, real keys."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from torchship.testing import require
from torchship.testing.gitrepo import (
    Snapshot,
    add_bare_remote,
    git,
    isolated_env,
    make_repo,
    settle,
    snapshot,
)
from torchship.testing.keys import (
    GpgKey,
    SshKey,
    configure_gpg,
    gpg_key,
    have,
    ssh_key,
    stop_gpg_agent,
)

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


@dataclass
class Project:
    """A copy of the template in tmp_path, released the way a user releases it."""

    path: Path
    remote: Path
    env: dict[str, str]
    tmp: Path

    def invoke(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "invoke"), *args], cwd=self.path, env=self.env,
                              text=True, capture_output=True, timeout=timeout, check=False)

    def git(self, *args: str) -> str:
        return git(self.path, *args, env=self.env)

    def snapshot(self) -> Snapshot:
        return snapshot(self.path, env=self.env)

    def settle(self) -> None:
        settle(self.path, env=self.env)

    def commit(self, rel: str, text: str, message: str = "edit") -> None:
        (self.path / rel).write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.settle()

    def script(self, name: str, body: str) -> Path:
        """An executable shell script outside the repository (a signer, a hook body)."""
        path = self.tmp / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
        return path

    def hook(self, name: str, body: str, *, remote: bool = False) -> None:
        hooks = (self.remote if remote else self.path / ".git") / "hooks"
        hook = hooks / name
        hook.write_text("#!/bin/sh\n" + body)
        hook.chmod(0o755)

    def refused(self, *args: str, says: str) -> subprocess.CompletedProcess[str]:
        """Run `invoke args`; it must fail with one clear line and change nothing."""
        self.settle()
        before = self.snapshot()
        res = self.invoke(*args)
        after = self.snapshot()
        lines = res.stderr.strip().splitlines()
        assert res.returncode != 0, res.stdout
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith("error: "), res.stderr
        assert says in lines[0], res.stderr
        assert before.diff(after) == [], before.diff(after)
        return res


@pytest.fixture(scope="session")
def gnupg() -> Iterator[GpgKey]:
    require(have("gpg"), "gpg is not installed (apt-get install gnupg)")
    # Short path: gpg-agent's socket path must stay under 108 characters.
    home = Path(tempfile.mkdtemp(prefix="tsg-"))
    try:
        yield gpg_key(home)
    finally:
        stop_gpg_agent(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def sshkey(tmp_path_factory: pytest.TempPathFactory) -> SshKey:
    require(have("ssh-keygen"), "ssh-keygen is not installed (apt-get install openssh-client)")
    return ssh_key(tmp_path_factory.mktemp("ssh"))


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template committed once per session into a fresh repository."""
    base = tmp_path_factory.mktemp("template")
    return make_repo(ROOT, base / "repo", env=isolated_env(base / "home"))


@pytest.fixture
def project(tmp_path: Path, template: Path, gnupg: GpgKey) -> Project:
    """A copy of the template with a bare remote, signing with a real GPG key."""
    env = isolated_env(tmp_path / "home", GNUPGHOME=str(gnupg.home),
                       PATH=f"{BIN}:/usr/local/bin:/usr/bin:/bin")
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    remote = add_bare_remote(repo, tmp_path / "remote.git", env=env)
    configure_gpg(repo, gnupg, env=env)
    proj = Project(repo, remote, env, tmp_path)
    proj.settle()
    return proj
