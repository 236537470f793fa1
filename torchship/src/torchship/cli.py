"""The CLI edge: the `torchship` command (its groups are torchship.commands), and `edge`
for invoke tasks.

Expected failures become one `error:` line on stderr and an exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from torchship.errors import TorchshipError

F = TypeVar("F", bound=Callable[..., Any])

class Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line, as every expected failure, and exit 2."""

    def error(self, message: str) -> Any:
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def after_dashes(remainder: str = "") -> list[str]:
    """The words after `--` on an invoke task's command line, as the shell gave them.
    invoke's `c.remainder` is those words joined into one string, which loses their quoting
    (`-- python -c "print('a b')"`), so they are read from sys.argv; the remainder is the
    fallback for a task called from Python."""
    import shlex

    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1:]
    try:
        return shlex.split(remainder or "")
    except ValueError as exc:  # an unbalanced quote
        raise TorchshipError(f"the command after `--`: {exc}") from exc


def guarded(body: Callable[[], int], *, interrupted: str = "interrupted",
            signal_status: bool = False) -> int:
    """Run a command's body and return its exit status: an expected failure (TorchshipError)
    becomes its one `error:` line on stderr and its exit code, Ctrl-C (or SIGTERM/SIGHUP turned
    into it, see adapters.proc.signals) `error: <interrupted>` and 130; never a traceback.
    With `signal_status`, a signal turned into Ctrl-C is named on that line and the status is
    128 + its number, as a shell reports it (143 for SIGTERM)."""
    try:
        return body()
    except TorchshipError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        import signal

        name = str(exc.args[0]) if exc.args else ""
        if signal_status and name in signal.Signals.__members__:
            print(f"error: {interrupted} ({name})", file=sys.stderr)
            return 128 + signal.Signals[name].value
        print(f"error: {interrupted}", file=sys.stderr)
        return 130


def edge(func: F) -> F:
    """Wrap an invoke task body: what `guarded` does, the status raised as SystemExit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result: Any = None

        def body() -> int:
            nonlocal result
            result = func(*args, **kwargs)
            return 0

        code = guarded(body)
        if code:
            raise SystemExit(code)
        return result

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


def stoppable(interrupted: str) -> Callable[[F], F]:
    """`edge` for a long task a CI job's cancel (SIGTERM) or a closed terminal (SIGHUP) may
    stop: they clean up as Ctrl-C does, then one `error: <interrupted> (SIGTERM)` line and
    128 + the signal's number."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from torchship.adapters.proc import raise_interrupt, signals

            result: Any = None

            def body() -> int:
                nonlocal result
                with signals(raise_interrupt):
                    result = func(*args, **kwargs)
                return 0

            code = guarded(body, interrupted=interrupted, signal_status=True)
            if code:
                raise SystemExit(code)
            return result

        return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature

    return decorate


def main(argv: Sequence[str] | None = None) -> int:
    """`torchship GROUP ...`: one command line (torchship.commands); the invoke tasks and the
    nox sessions are aliases of its commands."""
    from torchship.commands import main as commands_main

    return commands_main(argv)


if __name__ == "__main__":
    sys.exit(main())
