"""Test helpers shared by the tooling's tests (and by projects made from the template)."""

from __future__ import annotations

import os


def in_ci() -> bool:
    """True under CI (CI=true), where a missing engine or key is a failure, never a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    """Skip the test when `condition` is false, or fail it under CI: CI cannot skip it."""
    if condition:
        return
    # Imported here: scripts (scripts/standin_bases.py) use torchship.testing on a bare
    # python3 that has no pytest.
    import pytest

    if in_ci():
        pytest.fail(f"CI requires this, but: {reason}", pytrace=False)
    pytest.skip(reason)


def one_error(res: object) -> str:
    """The one `error:` line a refused command printed (a CompletedProcess): it failed, said
    exactly one line on stderr, and no traceback."""
    stderr = getattr(res, "stderr", "")
    lines = stderr.strip().splitlines()
    assert getattr(res, "returncode", 0) != 0
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return str(lines[0])
