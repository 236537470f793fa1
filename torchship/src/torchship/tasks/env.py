"""invoke env.*: which pinned environment a commit names, and which one we are in."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task(help={"commit": "a sha, branch or tag"})
@edge
def which(c: Context, commit: str) -> None:
    """Print the environment COMMIT names (its Env trailer) and the base image digests pinned for it."""
    from torchship.workflow import commitenv

    print(commitenv.which(Path.cwd(), commit).render())


@task
@edge
def detect(c: Context) -> None:
    """Print the environment a commit made here now would name, and why."""
    from torchship import config
    from torchship.workflow import commitenv

    choice = commitenv.choose(config.load(Path.cwd()))
    trailer = f"; a commit here gets `{commitenv.TRAILER}: {choice.trailer}`" \
        if choice.env is None and choice.trailer else ""
    print(f"{choice.env or '(none)'}: {choice.reason}{trailer}")


ns = Collection("env", which, detect)
