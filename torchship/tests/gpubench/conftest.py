"""Fixtures for the gpubench tests: a real pytest-benchmark JSON from the CPU suite."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from torchship.adapters import proc


@pytest.fixture(scope="session")
def cpu_benchmark_json(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Path:
    """Run two small CPU cases of the real benchmark suite; the JSON it wrote."""
    out = tmp_path_factory.mktemp("bench") / "benchmark.json"
    proc.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
              "tests/benchmarks/test_ops.py", "-k", "cpu-matmul-fp32-256 or cpu-copy-fp32",
              f"--benchmark-json={out}"], cwd=template,
             env={"TORCHSHIP_BENCH_SECONDS": "0.05", "TORCHSHIP_BENCH_WARMUP": "0.01",
                  "TORCHSHIP_BENCH_THREADS": "1"})
    return out


@pytest.fixture
def cpu_doc(cpu_benchmark_json: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(cpu_benchmark_json.read_text())
    return doc
