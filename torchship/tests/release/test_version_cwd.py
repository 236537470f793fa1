"""The version step leaves the process as it found it: the preflight's threads run beside it.

bump-my-version resolves its files and asks git in the working directory; the release plans
and applies a version bump with explicit paths instead, so neither the working directory nor
the environment (GIT_INDEX_FILE) changes while it works, wherever the process stands.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from torchship.release import version
from torchship.testing.gitrepo import git, isolated_env

PROJECT = '''[project]
name = "demo"
version = "1.2.3"

[tool.bumpversion]
current_version = "1.2.3"

[[tool.bumpversion.files]]
filename = "pyproject.toml"
search = 'version = "{current_version}"'
replace = 'version = "{new_version}"'

[[tool.bumpversion.files]]
glob = "src/*/__init__.py"
'''


class Watch:
    """What another thread sees of the process while the main one works."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str | None]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._look, daemon=True)

    def _look(self) -> None:
        while not self._stop.is_set():
            self.seen.add((os.getcwd(), os.environ.get("GIT_INDEX_FILE")))

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_plan_and_apply_keep_the_working_directory_and_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = isolated_env(tmp_path / "home")
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    for repo in (project, elsewhere):  # the process stands in another repository
        repo.mkdir()
        git(repo, "init", "-q", env=env)
    (project / "pyproject.toml").write_text(PROJECT)
    (project / "src" / "demo").mkdir(parents=True)
    (project / "src" / "demo" / "__init__.py").write_text('__version__ = "1.2.3"\n')
    git(project, "add", "-A", env=env)
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("GIT_INDEX_FILE", raising=False)

    with Watch() as watch:
        bump = version.plan(project, part="minor", pre=None, final=False)
        version.apply(project, bump)
        missing = version.not_holding(project, "1.3.0")
    assert watch.seen == {(str(elsewhere), None)}
    assert os.getcwd() == str(elsewhere)
    assert sorted(bump.files) == ["pyproject.toml", "src/demo/__init__.py"]
    assert (project / "src" / "demo" / "__init__.py").read_text() == '__version__ = "1.3.0"\n'
    assert 'version = "1.3.0"' in (project / "pyproject.toml").read_text()
    assert missing == []
    assert sorted(p.name for p in elsewhere.iterdir()) == [".git"]  # nothing written there


def test_bump_my_version_hooks_are_refused_in_one_line(tmp_path: Path) -> None:
    """Its hooks would run in whatever folder the process stands in, not the project's."""
    (tmp_path / "pyproject.toml").write_text(PROJECT.replace(
        'current_version = "1.2.3"\n', 'current_version = "1.2.3"\nsetup_hooks = ["echo hi"]\n'))
    (tmp_path / "src" / "demo").mkdir(parents=True)
    (tmp_path / "src" / "demo" / "__init__.py").write_text('__version__ = "1.2.3"\n')
    with pytest.raises(version.VersionError, match=r"^\[tool.bumpversion\] setup_hooks: "):
        version.plan(tmp_path, part="patch", pre=None, final=False)
