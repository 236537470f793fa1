"""`torchship model new NAME`: one branch per model; `torchship model pull TAG`: a release's
model, by digest, its signature checked. `invoke model.new` / `model.pull` call the same
functions."""

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


def pull(*, tag: str, out: str | None = None) -> int:
    """Fetch the model a release tag records, by its digest, after its signature verifies."""
    from torchship import project
    from torchship.release import weights

    with project.find(Path.cwd()) as proj:
        dest = weights.pull_release(proj.git, proj.config, tag, Path(out) if out else None)
    for line in dest:
        print(line)
    return 0


def main(argv: Sequence[str], *, group: str = "model") -> int:
    p = Parser(prog="torchship model", description="One branch per model.")
    sub = p.add_subparsers(metavar="COMMAND", required=True)
    c = sub.add_parser("new", help=new.__doc__, description=new.__doc__)
    c.add_argument("name", help="the model's name (lower-case letters, digits, _)")
    c.add_argument("--no-commit", dest="commit", action="store_false",
                   help="leave the skeleton uncommitted on the new branch")
    c.set_defaults(func=new)
    c = sub.add_parser("pull", help=pull.__doc__, description=pull.__doc__)
    c.add_argument("tag", help="the release tag (e.g. v1.2.0)")
    c.add_argument("--out", help="a new folder for its files (default: results/models/TAG)")
    c.set_defaults(func=pull)
    return dispatch(p, argv)
