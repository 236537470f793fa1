"""`torchship ci generate [--check]`: the CI files from [tool.torchship]; `invoke
ci.generate` calls the same function."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torchship.cli import Parser
from torchship.commands import dispatch


def generate(*, check: bool = False) -> int:
    """Write .github/workflows/{ci,release}.yml and .gitlab-ci.yml from [tool.torchship]."""
    from torchship import project
    from torchship.workflow import cigen

    # pyproject only: a machine's torchship.local.toml must not change the committed CI files.
    result = cigen.generate(project.load(Path.cwd(), use_local=False).config, check=check)
    for rel in result.written:
        print(f"wrote {rel}")
    for rel in result.unchanged:
        print(f"up to date: {rel}")
    return 0


def main(argv: Sequence[str], *, group: str = "ci") -> int:
    p = Parser(prog="torchship ci", description="The CI files, generated from [tool.torchship].")
    sub = p.add_subparsers(metavar="COMMAND", required=True)
    c = sub.add_parser("generate", help=generate.__doc__, description=generate.__doc__)
    c.add_argument("--check", action="store_true",
                   help="write nothing; fail when a file differs from what the configuration "
                        "gives")
    c.set_defaults(func=generate)
    return dispatch(p, argv)
