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


@task(help={"env": "the pinned environment", "commit": "the commit being built; must be HEAD",
            "image": "the image name to push to (default: [tool.torchship] image)",
            "output": "also append devel=REF@DIGEST and runtime=... to this file"})
@edge
def build(c: Context, env: str, commit: str | None = None, image: str | None = None,
          output: str | None = None) -> None:
    """Build ENV's devel and runtime images of this commit once; push them by commit tag."""
    from torchship.commands import ci as command

    command.build(env=env, commit=commit, image=image, output=output)


ns = Collection("ci", generate, build)
