"""invoke ci.*: the CI files, generated from [tool.torchship]."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task(help={"check": "write nothing; fail when a file differs from what the configuration gives"})
@edge
def generate(c: Context, check: bool = False) -> None:
    """Write .github/workflows/{ci,release}.yml and .gitlab-ci.yml from [tool.torchship]."""
    from torchship import config
    from torchship.workflow import cigen

    # pyproject only: a machine's torchship.local.toml must not change the committed CI files.
    result = cigen.generate(config.load(Path.cwd(), use_local=False), check=check)
    for rel in result.written:
        print(f"wrote {rel}")
    for rel in result.unchanged:
        print(f"up to date: {rel}")


ns = Collection("ci", generate)
