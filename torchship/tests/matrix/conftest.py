"""Fixtures for the matrix tests: the real engine and stand-in bases, and a matrix config."""

from __future__ import annotations

from torchship.testing.engine import engine, registry, standin_bases  # noqa: F401  (fixtures)
from torchship.testing.slurm import slurm_cluster  # noqa: F401  (fixture)
