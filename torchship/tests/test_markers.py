"""Markers select: an engine test is marked `docker` by the fixture that needs the engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1]


def _collected(path: str, marks: str) -> list[str]:
    res = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-m", marks, path], cwd=TOOL, capture_output=True, text=True, check=False,
                         timeout=120)
    assert res.returncode in (0, 5), res.stdout + res.stderr  # 5: nothing collected
    return [line.split("::", 1)[1] for line in res.stdout.splitlines() if "::" in line]


def test_a_test_using_the_engine_through_a_fixture_is_marked_docker() -> None:
    """tests/matrix/test_containers.py asks for the engine through its fixtures only (no
    module mark): the fast session keeps its one test that needs no engine, the engine
    session takes the others."""
    path = "tests/matrix/test_containers.py"
    assert "pytest.mark.docker" not in (TOOL / path).read_text()
    assert _collected(path, "not docker") == ["test_gpu_device_requests"]
    engine = _collected(path, "docker")
    assert "test_good_images_run_every_suite_and_agree" in engine
    assert "test_gpu_device_requests" not in engine
