"""The `torchship` command line: one entry point, a group per concept.

    torchship release [options] | release verify TAG | release last-good
    torchship images {build,lock,pin,push,run,rebuild} ...
    torchship matrix [options]      the suites in every pinned image (nox -s gpu_tests)
    torchship compare [options]     a saved matrix run compared again (nox -s compare)
    torchship new DEST --name NAME  a new project from the template
    torchship update [--to REF]     a newer template merged into the project
    torchship model new NAME        a branch with a model skeleton
    torchship ci generate [--check] the CI files from [tool.torchship]
    torchship ci build --env ENV    a commit's images built once and pushed (CI's build job)
    torchship dev {shell,jupyter,ssh,devcontainer} ...
    torchship env {which,detect}    the environment a commit names
    torchship hooks install         the commit template and git hooks
    torchship hook {commit-msg FILE,check-env}   what the git hooks run

The invoke tasks (torchship.tasks) and the template's nox sessions are aliases: each calls the
same function as its command here. Each group's module imports only argparse and torchship's
light modules; the work is imported when a command runs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: group -> (its module under torchship.commands, one line for `torchship --help`)
GROUPS: dict[str, tuple[str, str]] = {
    "release": ("release", "bump, changelog, signed tag, images, push; verify; last-good"),
    "images": ("images", "build, lock, pin, push, run and rebuild the project's images"),
    "matrix": ("matrix", "every suite in every pinned image, then compare (nox -s gpu_tests)"),
    "compare": ("matrix", "compare a saved matrix run again (nox -s compare)"),
    "new": ("template", "a new project from the template"),
    "update": ("template", "merge a newer template into the project"),
    "model": ("model", "one branch per model"),
    "ci": ("ci", "the CI files, generated from [tool.torchship]"),
    "dev": ("dev", "a shell, Jupyter, sshd or an IDE container on the pinned devel image"),
    "env": ("env", "the environment a commit names, and the one we are in"),
    "hooks": ("hooks", "install the commit template and the git hooks"),
    "hook": ("hooks", "what the git hooks run: commit-msg FILE, check-env"),
}


def usage() -> str:
    width = max(map(len, GROUPS))
    lines = [f"  {name:<{width}}  {about}" for name, (_, about) in GROUPS.items()]
    return ("usage: torchship <group> [<command>] [options] | torchship --version\n\n"
            "groups:\n" + "\n".join(lines) + "\n\n`torchship <group> --help` for each.")


def split_dashes(argv: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """The words before the first `--`, and those after it (None when there is no `--`)."""
    args = list(argv)
    if "--" not in args:
        return args, None
    at = args.index("--")
    return args[:at], args[at + 1:]


def dispatch(parser: Any, argv: Sequence[str]) -> int:
    """Parse `argv` with a group's parser and call the function its command set (`func`),
    with the parsed options as keywords; `-- CMD` goes to a command that takes `command`."""
    import argparse

    from torchship.cli import guarded

    words, after = split_dashes(argv)
    for action in parser._actions:  # argparse keeps its subparsers there
        if isinstance(action, argparse._SubParsersAction):  # argparse has no public way to list them
            for leaf in action.choices.values():
                leaf.set_defaults(leaf=leaf)
    namespace, extra = parser.parse_known_args(words)
    args = vars(namespace)
    leaf = args.pop("leaf", parser)
    if extra:  # said by the command's own parser, so the line names its --help
        leaf.error(f"unrecognized arguments: {' '.join(extra)}")
    func: Callable[..., int] = args.pop("func")
    stopped: str | None = args.pop("stopped", None)
    if "command" in args:
        args["command"] = after or []
    elif after is not None:
        leaf.error("this command takes no `-- CMD`")
    if stopped is None:
        return guarded(lambda: func(**args))
    return stoppable_run(lambda: func(**args), stopped)


def stoppable_run(body: Callable[[], int], stopped: str) -> int:
    """Run a long command a CI job's cancel (SIGTERM) or a closed terminal (SIGHUP) may stop,
    as `torchship.cli.stoppable` runs its invoke task: it cleans up as on Ctrl-C, then one
    `error: <stopped> (SIGTERM)` line and 128 + the signal's number. A parser names such a
    command's words with `set_defaults(stopped=...)`."""
    from torchship.adapters.proc import raise_interrupt, signals
    from torchship.cli import guarded

    def under_signals() -> int:
        with signals(raise_interrupt):
            return body()

    return guarded(under_signals, interrupted=stopped, signal_status=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`torchship GROUP ...`: the group's module parses the rest and runs the command."""
    args = list(sys.argv[1:] if argv is None else argv)
    group, rest = (args[0], args[1:]) if args else ("", [])
    if group in GROUPS:
        module = importlib.import_module(f"torchship.commands.{GROUPS[group][0]}")
        code: int = module.main(rest, group=group)
        return code
    if group in ("--version", "-V"):
        from torchship import __version__

        print(f"torchship {__version__}")
        return 0
    if group in ("-h", "--help"):
        print(usage())
        return 0
    first = usage().splitlines()[0]
    print(f"error: unknown group {group!r} ({first}; see `torchship --help`)" if group
          else usage(), file=sys.stderr)
    return 2


def cwd() -> Path:
    return Path.cwd()
