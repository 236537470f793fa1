from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "health_check.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_json_is_valid_and_healthy() -> None:
    out = _run("--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"] is True
    assert result["problems"] == []
    assert result["cuda_available"] == torch.cuda.is_available()
    assert result["forward"] == {"shape": [8, 4], "finite": True}
    assert result["matmul"]["max_abs_error"] < 1.0
    assert result["env"]["torch"] == torch.__version__


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cpu_only_passes_with_a_note() -> None:
    out = _run()
    assert out.returncode == 0
    assert "note: no CUDA device: running on the CPU" in out.stdout
    assert out.stdout.rstrip().endswith("healthy")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_require_cuda_without_a_gpu_fails_naming_the_causes() -> None:
    out = _run("--require-cuda")
    assert out.returncode == 1
    assert "--gpus all" in out.stderr
    assert "NVIDIA Container Toolkit" in out.stderr
    assert "driver" in out.stderr
    assert out.stdout.rstrip().endswith("UNHEALTHY")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_require_cuda_with_a_gpu_passes() -> None:
    result = json.loads(_run("--json", "--require-cuda").stdout)
    assert result["ok"] is True
    assert result["device"].startswith("cuda")
    assert result["gpu_count"] >= 1
