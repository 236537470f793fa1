"""invoke template.*: new projects from the template (the same as `torchship new`)."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task(help={"dest": "a new or empty directory", "name": "the package name (e.g. my_model)",
            "template": "the template: a folder or a git URL (default: this checkout)",
            "hooks": "install the git hooks and run them on the first commit (default on)"})
@edge
def new(c: Context, dest: str, name: str, template: str = ".", hooks: bool = True) -> None:
    """Create a project at DEST from the template: package NAME, the tool pinned, first commit."""
    from torchship.workflow import template as templatemod

    templatemod.validate_name(name)
    with templatemod.fetched(template) as source:
        print(templatemod.new(source, Path(dest), name=name, hooks=hooks).render())


ns = Collection("template", new)
