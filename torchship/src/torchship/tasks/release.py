"""`invoke release`, `release.verify`, `release.last-good`: aliases of `torchship release`
(torchship.commands.release)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task(
    default=True,
    help={
        "part": "major, minor or patch",
        "pre": "make a pre-release with this label (a, b, rc); on a pre-release, the next one",
        "final": "finalise the current pre-release (1.2.0rc2 -> 1.2.0)",
        "dry-run": "print the whole plan and change nothing",
        "push": "push images, then the release commit and tag together (git push --atomic)",
        "images": "build the release images (--no-images skips them)",
        "sign": "sign the tag with your git signing config (--no-sign: annotated only)",
        "sign-commit": "sign the release commit too",
        "resume": "finish a release that failed after publishing, or roll back one that stopped",
        "remote": "remote to check and push to (default: the branch's upstream, or origin)",
        "evidence": "require the passing matrix record of this commit (--no-evidence: release "
                    "without one, said in the tag message)",
        "matrix": "run the matrix (torchship matrix) first, to make that record",
    },
)
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
