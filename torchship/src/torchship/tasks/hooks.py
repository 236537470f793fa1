"""invoke hooks.*: the commit template and the git hooks."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task
@edge
def install(c: Context) -> None:
    """Set commit.template to .gitmessage and install the pre-commit and commit-msg hooks."""
    from torchship.workflow import hooks

    for line in hooks.install(Path.cwd()):
        print(line)


ns = Collection("hooks", install)
