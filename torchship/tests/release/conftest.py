"""Fixtures for the release tests: a copy of the template with a bare remote, real keys."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship.testing import require
from torchship.testing.engine import engine, registry, standin_bases  # noqa: F401  (fixtures)
from torchship.testing.gitrepo import BIN, Project, add_bare_remote, git, isolated_env
from torchship.testing.keys import (
    GpgKey,
    SshKey,
    configure_gpg,
    gpg_key,
    have,
    ssh_key,
    stop_gpg_agent,
)


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


@pytest.fixture
def project(tmp_path: Path, template: Path, gnupg: GpgKey) -> Project:
    """A copy of the template with a bare remote, signing with a real GPG key."""
    env = isolated_env(tmp_path / "home", GNUPGHOME=str(gnupg.home),
                       PATH=f"{BIN}:/usr/local/bin:/usr/bin:/bin")
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    # These tests are about the release's mechanics, not its evidence (test_release_evidence.py
    # makes a real matrix record): the team's policy says so, as a user's config would. Made
    # before the remote, so that the remote has it too.
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + NO_EVIDENCE)
    git(repo, "-c", "user.name=torchship tests", "-c", "user.email=tests@example.com", "commit",
        "-q", "-am", "release without evidence", env=env)
    remote = add_bare_remote(repo, tmp_path / "remote.git", env=env)
    configure_gpg(repo, gnupg, env=env)
    proj = Project(repo, remote, env, tmp_path)
    proj.settle()
    return proj


NO_EVIDENCE = """
[tool.torchship.release]
evidence = false
"""
