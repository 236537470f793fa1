"""Fixtures for the display tests: the real engine (a real BuildKit build to watch)."""

from __future__ import annotations

from torchship.testing.engine import engine  # noqa: F401  (fixture)
