"""`torchship release` (bump, changelog, signed tag, images, push), `release verify TAG`,
`release last-good`; `invoke release`, `release.verify`, `release.last-good` call the same
functions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torchship.cli import Parser
from torchship.commands import dispatch

HELP = {
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
}


def release(*, part: str | None = None, pre: str | None = None, final: bool = False,
            dry_run: bool = False, push: bool = False, images: bool = True, sign: bool = True,
            sign_commit: bool = False, resume: bool = False, remote: str | None = None,
            evidence: bool = True, matrix: bool = False) -> int:
    """Release: bump the version, promote the changelog, commit, sign a tag, verify."""
    from torchship import project
    from torchship.release.plan import Options
    from torchship.release.run import run

    with project.find(Path.cwd()) as proj:
        run(proj, Options(part=part, pre=pre, final=final, dry_run=dry_run, push=push,
                          images=images, sign=sign, sign_commit=sign_commit, resume=resume,
                          remote=remote, evidence=evidence, matrix=matrix))
    return 0


def verify(*, tag: str) -> int:
    """Check a release tag: signed, versions and changelog agree, images signed in the registry."""
    from torchship import project
    from torchship.release.run import verify_cli

    with project.find(Path.cwd()) as proj:
        verify_cli(proj, tag)
    return 0


def last_good() -> int:
    """Name the newest release that verifies: the rollback target, its digests, how to run it."""
    from torchship.release.lastgood import last_good as find

    find(".")
    return 0


def main(argv: Sequence[str], *, group: str = "release") -> int:
    if argv[:1] == ["verify"]:
        p = Parser(prog="torchship release verify", description=verify.__doc__)
        p.add_argument("tag", help="the release tag (e.g. v1.2.0)")
        p.set_defaults(func=verify)
        return dispatch(p, argv[1:])
    if argv[:1] == ["last-good"]:
        p = Parser(prog="torchship release last-good", description=last_good.__doc__)
        p.set_defaults(func=last_good)
        return dispatch(p, argv[1:])
    p = Parser(prog="torchship release", description=release.__doc__,
               epilog="also: `torchship release verify TAG` (check a release), "
                      "`torchship release last-good` (the newest release that verifies)")
    p.add_argument("--part", metavar="PART", help=HELP["part"])
    p.add_argument("--pre", metavar="LABEL", help=HELP["pre"])
    p.add_argument("--final", action="store_true", help=HELP["final"])
    p.add_argument("--dry-run", action="store_true", help=HELP["dry-run"])
    p.add_argument("--push", action="store_true", help=HELP["push"])
    p.add_argument("--no-images", dest="images", action="store_false", help=HELP["images"])
    p.add_argument("--no-sign", dest="sign", action="store_false", help=HELP["sign"])
    p.add_argument("--sign-commit", action="store_true", help=HELP["sign-commit"])
    p.add_argument("--resume", action="store_true", help=HELP["resume"])
    p.add_argument("--remote", help=HELP["remote"])
    p.add_argument("--no-evidence", dest="evidence", action="store_false",
                   help=HELP["evidence"])
    p.add_argument("--matrix", action="store_true", help=HELP["matrix"])
    p.set_defaults(func=release)
    return dispatch(p, argv)
