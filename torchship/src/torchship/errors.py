"""One root exception for every expected failure; rendered once, at the CLI edge."""

from __future__ import annotations

from collections.abc import Sequence


class TorchshipError(Exception):
    """An expected failure: a message for a person and, optionally, how to fix it."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """One line: what is wrong, then how to fix it."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(TorchshipError):
    """[tool.torchship] or another project file is invalid."""

    def __init__(self, key: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{key}: {problem}", hint=hint)
        self.key = key
        self.problem = problem


class CommandFailed(TorchshipError):
    """A process started through torchship.adapters.proc.run exited non-zero."""

    def __init__(self, args: Sequence[str], returncode: int, output: str = "") -> None:
        from shlex import join

        last = output.strip().splitlines()[-1] if output.strip() else ""
        detail = f": {last}" if last else ""
        super().__init__(f"`{join(args)}` exited with {returncode}{detail}")
        self.args_ = list(args)
        self.returncode = returncode
        self.output = output
