"""invoke model.*: one branch per model, a release's model; aliases of `torchship model`."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task(help={"name": "the model's name (lower-case letters, digits, _)",
            "commit": "commit the skeleton on the new branch (default on)"})
@edge
def new(c: Context, name: str, commit: bool = True) -> None:
    """Create feature/model-NAME from main with a model skeleton, a unit and an e2e test."""
    from torchship.commands import model as command

    command.new(name=name, commit=commit)


@task(help={"tag": "the release tag (e.g. v1.2.0)",
            "out": "a new folder for its files (default: results/models/TAG)"})
@edge
def pull(c: Context, tag: str, out: str | None = None) -> None:
    """Fetch the model a release tag records, by its digest, after its signature verifies."""
    from torchship.commands import model as command

    command.pull(tag=tag, out=out)


ns = Collection("model", new, pull)
