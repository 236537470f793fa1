"""invoke ci.*: the CI files, generated from [tool.torchship]; aliases of `torchship ci`."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task(help={"check": "write nothing; fail when a file differs from what the configuration gives"})
@edge
def generate(c: Context, check: bool = False) -> None:
    """Write .github/workflows/{ci,release}.yml and .gitlab-ci.yml from [tool.torchship]."""
    from torchship.commands import ci as command

    command.generate(check=check)


ns = Collection("ci", generate)
