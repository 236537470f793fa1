"""The CLI edge: expected failures become one line on stderr and an exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from torchship.errors import TorchshipError

F = TypeVar("F", bound=Callable[..., Any])


def edge(func: F) -> F:
    """Wrap an invoke task body: TorchshipError -> `error: ...` and exit(code), no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TorchshipError as exc:
            print(f"error: {exc.render()}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature
