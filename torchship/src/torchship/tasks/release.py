"""`invoke release`, `release.verify`, `release.last-good`: aliases of `torchship release`
(torchship.commands.release)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge
from torchship.commands.release import HELP  # one table of the flags, for both surfaces


@task(default=True, help=HELP)
@edge
def release(c: Context, part: str | None = None, pre: str | None = None, final: bool = False,
            dry_run: bool = False, push: bool = False, images: bool = True, sign: bool = True,
            sign_commit: bool = False, resume: bool = False, remote: str | None = None,
            evidence: bool = True, matrix: bool = False) -> None:
    """Release: bump the version, promote the changelog, commit, sign a tag, verify."""
    from torchship.commands import release as command

    command.release(part=part, pre=pre, final=final, dry_run=dry_run, push=push,
                    images=images, sign=sign, sign_commit=sign_commit, resume=resume,
                    remote=remote, evidence=evidence, matrix=matrix)


@task(name="verify")
@edge
def verify(c: Context, tag: str) -> None:
    """Check a release tag: signed, versions and changelog agree, images signed in the registry."""
    from torchship.commands import release as command

    command.verify(tag=tag)


@task(name="last-good")
@edge
def last_good(c: Context) -> None:
    """Name the newest release that verifies: the rollback target, its digests, how to run it."""
    from torchship.commands import release as command

    command.last_good()


ns = Collection("release", release, verify, last_good)
