"""invoke env.*: which pinned environment a commit names, and which one we are in; aliases
of `torchship env`."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task(help={"commit": "a sha, branch or tag"})
@edge
def which(c: Context, commit: str) -> None:
    """Print the environment COMMIT names (its Env trailer) and the base image digests pinned for it."""
    from torchship.commands import env as command

    command.which(commit=commit)


@task
@edge
def detect(c: Context) -> None:
    """Print the environment a commit made here now would name, and why."""
    from torchship.commands import env as command

    command.detect()


ns = Collection("env", which, detect)
