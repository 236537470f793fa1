"""invoke model.*: one branch per model."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task(help={"name": "the model's name (lower-case letters, digits, _)",
            "commit": "commit the skeleton on the new branch (default on)"})
@edge
def new(c: Context, name: str, commit: bool = True) -> None:
    """Create feature/model-NAME from main with a model skeleton, a unit and an e2e test."""
    from torchship.workflow import modelbranch

    print(modelbranch.new(Path.cwd(), name, commit=commit).render())


ns = Collection("model", new)
