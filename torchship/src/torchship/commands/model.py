"""`torchship model new NAME`: one branch per model; `invoke model.new` calls the same
function."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torchship.cli import Parser
from torchship.commands import dispatch


def new(*, name: str, commit: bool = True) -> int:
    """Create feature/model-NAME from main with a model skeleton, a unit and an e2e test."""
    from torchship import project
    from torchship.workflow import modelbranch

    with project.find(Path.cwd()) as proj:
        print(modelbranch.new(proj, name, commit=commit).render())
    return 0


def main(argv: Sequence[str], *, group: str = "model") -> int:
    p = Parser(prog="torchship model", description="One branch per model.")
    sub = p.add_subparsers(metavar="COMMAND", required=True)
    c = sub.add_parser("new", help=new.__doc__, description=new.__doc__)
    c.add_argument("name", help="the model's name (lower-case letters, digits, _)")
    c.add_argument("--no-commit", dest="commit", action="store_false",
                   help="leave the skeleton uncommitted on the new branch")
    c.set_defaults(func=new)
    return dispatch(p, argv)
