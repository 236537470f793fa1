"""The mechanism GPU cases rely on, checked through real pytest-benchmark on the CPU.

CudaEventClock returns readings that are objects (recorded events) whose difference is
seconds. This runs a real pytest session whose only case uses a clock of the same shape
(readings of perf_counter wrapped in objects) through `benchmark.pedantic` with a setup,
exactly as bench.run does, and checks that the samples land in the JSON as seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from torchship.adapters import proc

CASE = '''
import time

import pytest


class Stamp:
    def __init__(self, t):
        self.t = t

    def __sub__(self, earlier):
        return self.t - earlier.t


class StampClock:
    __name__ = "StampClock"

    def __call__(self):
        return Stamp(time.perf_counter())


calls = []


@pytest.mark.benchmark(timer=StampClock(), group="g")
def test_case(benchmark):
    benchmark.pedantic(lambda: time.sleep(0.002), setup=lambda: calls.append("setup"),
                       rounds=7, warmup_rounds=1)
    assert calls == ["setup"] * 8
'''


def test_object_readings_work_through_pedantic(tmp_path: Path) -> None:
    (tmp_path / "test_case.py").write_text(CASE)
    out = tmp_path / "bench.json"
    proc.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_case.py",
              f"--benchmark-json={out}", f"--rootdir={tmp_path}"], cwd=tmp_path)
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["stats"]["rounds"] == 7
    assert 0.002 <= bench["stats"]["median"] < 1.0  # seconds, not a reading object
    assert bench["options"]["timer"].endswith("StampClock")
