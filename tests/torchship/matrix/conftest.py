"""Fixtures for the matrix tests: hand-made records, and the engine ones from torchship.testing."""

from __future__ import annotations
