"""Fixtures for the workflow tests: a copy of the template with a bare remote, hooks that run.

The copy is the session's throwaway template (tests/conftest.py), copied again per test.

The hooks are installed through the real pre-commit framework. Its environments (ruff from
PyPI) are built once per test session in a shared PRE_COMMIT_HOME, not once per test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from workflow_helpers import Project, workflow_env

from torchship.testing.engine import engine, registry, standin_bases  # noqa: F401  (fixtures)
from torchship.testing.gitrepo import add_bare_remote, settle


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def project(tmp_path: Path, pre_commit_home: Path, template: Path) -> Project:
    env = workflow_env(tmp_path / "home", pre_commit_home)
    repo = tmp_path / "project"
    shutil.copytree(template, repo, symlinks=True)
    settle(repo, env=env)
    remote = add_bare_remote(repo, tmp_path / "remote.git", env=env)
    return Project(repo, remote, env)


@pytest.fixture
def hooked(project: Project) -> Project:
    """`project` after `invoke hooks.install`."""
    res = project.invoke("hooks.install")
    assert res.returncode == 0, res.stdout + res.stderr
    return project
