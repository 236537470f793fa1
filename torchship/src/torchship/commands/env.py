"""`torchship env {which,detect}`: which pinned environment a commit names, and which one we
are in; the `invoke env.*` tasks call the same functions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torchship.cli import Parser
from torchship.commands import dispatch


def which(*, commit: str) -> int:
    """Print the environment COMMIT names (its Env trailer) and the base digests pinned for it."""
    from torchship import project
    from torchship.workflow import commitenv

    with project.find(Path.cwd()) as proj:
        print(commitenv.which(proj, commit).render())
    return 0


def detect() -> int:
    """Print the environment a commit made here now would name, and why."""
    from torchship import project
    from torchship.workflow import commitenv

    choice = commitenv.choose(project.load(Path.cwd()).config)
    trailer = f"; a commit here gets `{commitenv.TRAILER}: {choice.trailer}`" \
        if choice.env is None and choice.trailer else ""
    print(f"{choice.env or '(none)'}: {choice.reason}{trailer}")
    return 0


def main(argv: Sequence[str], *, group: str = "env") -> int:
    p = Parser(prog="torchship env", description=__doc__.split(";")[0].split(": ", 1)[1])
    sub = p.add_subparsers(metavar="COMMAND", required=True)
    c = sub.add_parser("which", help=which.__doc__, description=which.__doc__)
    c.add_argument("commit", help="a sha, branch or tag")
    c.set_defaults(func=which)
    c = sub.add_parser("detect", help=detect.__doc__, description=detect.__doc__)
    c.set_defaults(func=detect)
    return dispatch(p, argv)
