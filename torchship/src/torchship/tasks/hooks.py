"""invoke hooks.*: the commit template and the git hooks; aliases of `torchship hooks`."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task
@edge
def install(c: Context) -> None:
    """Set commit.template to .gitmessage and install the pre-commit and commit-msg hooks."""
    from torchship.commands import hooks as command

    command.install()


ns = Collection("hooks", install)
