"""invoke template.*: new projects from this template."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task(help={"dest": "an empty or new directory", "name": "the package name (e.g. my_model)",
            "hooks": "install the git hooks before the first commit (default on)"})
@edge
def new(c: Context, dest: str, name: str, hooks: bool = True) -> None:
    """Create a project at DEST: example package renamed to NAME, version 0.1.0, first commit."""
    from torchship.workflow import template

    root = Path(__file__).resolve().parents[3]  # the template this task file belongs to
    print(template.new(root, Path(dest), name=name, hooks=hooks).render())


ns = Collection("template", new)
