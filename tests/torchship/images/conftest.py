"""Fixtures for the image tests: the real engine, a registry of the session's own, the
stand-in bases pinned in it (torchship.testing.engine), and a copy of the template."""

from __future__ import annotations

from torchship.testing.engine import engine, registry, standin_bases

__all__ = ["engine", "registry", "standin_bases"]
