"""`torchship hooks install` (the commit template and the git hooks; `invoke hooks.install`
calls the same function) and `torchship hook commit-msg FILE | check-env` (what the hooks
run, parsed by torchship.workflow.hooks)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torchship.cli import Parser
from torchship.commands import dispatch


def install() -> int:
    """Set commit.template to .gitmessage and install the pre-commit and commit-msg hooks."""
    from torchship.workflow import hooks

    for line in hooks.install(Path.cwd()):
        print(line)
    return 0


def main(argv: Sequence[str], *, group: str = "hooks") -> int:
    if group == "hook":
        from torchship.workflow.hooks import main as hook_main

        return hook_main(argv)
    p = Parser(prog="torchship hooks", description="The commit template and the git hooks.")
    sub = p.add_subparsers(metavar="COMMAND", required=True)
    c = sub.add_parser("install", help=install.__doc__, description=install.__doc__)
    c.set_defaults(func=install)
    return dispatch(p, argv)
