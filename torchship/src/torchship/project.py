"""One Project per command: the validated configuration, the pyproject facts, one Git handle.

A command builds it once (`load`) and passes it down; no subsystem reads a TOML file or
opens its own repository handle. The configuration is `torchship.config.Config` (all of
[tool.torchship], validated once); the pyproject facts (name, version, extras, the
bumpversion table) are `torchship.config.Pyproject`, read by the same load. Git is opened on
first use, so a command that never asks git pays nothing for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from torchship import config as configmod
from torchship.config import Config, Pyproject
from torchship.errors import TorchshipError

if TYPE_CHECKING:
    from types import TracebackType

    from torchship.adapters.git import Git

__all__ = ["Project", "Pyproject", "find", "load", "root_in"]


class Project:
    """A project as one command sees it: configuration, pyproject facts, repository."""

    def __init__(self, config: Config, *, git: Git | None = None) -> None:
        self.config = config
        self._git = git

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def pyproject(self) -> Pyproject:
        return self.config.pyproject

    @property
    def git(self) -> Git:
        """The repository holding the project (GitError outside one), opened once."""
        if self._git is None:
            from torchship.adapters.git import Git

            self._git = Git.discover(self.root)
        return self._git

    def close(self) -> None:
        if self._git is not None:
            self._git.close()
            self._git = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def load(root: Path | str = ".", *, use_local: bool = True) -> Project:
    """Read and validate the project at `root` (pyproject.toml and the local override)."""
    return Project(configmod.load(root, use_local=use_local))


def root_in(git: Git, start: Path | str) -> Path:
    """The project `start` is in: the nearest folder holding a pyproject.toml, up to the top
    of `git`'s work tree (a repository may hold several projects)."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
        if folder == git.top:
            break
    raise TorchshipError(f"no pyproject.toml in {here} or above it in the repository",
                       hint="run it from your project's folder")


def find(start: Path | str = ".", *, use_local: bool = True) -> Project:
    """The project `start` is in, inside a git repository (GitError outside one), with that
    repository's handle: what a command that works on the repository builds once."""
    from torchship.adapters.git import Git

    git = Git.discover(start)
    try:
        return Project(configmod.load(root_in(git, start), use_local=use_local), git=git)
    except BaseException:
        git.close()
        raise
