"""The environment check: real facts from this machine, and every verdict from plain data."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from torchship.gpubench import envcheck

READY = envcheck.Facts(torch_cuda="12.8", cuda_available=True, device_count=1,
                       capability=(9, 0), device_name="NVIDIA H100 80GB HBM3",
                       arch_list=("sm_80", "sm_86", "sm_90", "compute_90"),
                       driver="570.86.15", gpu_present=True)


def test_this_machine() -> None:
    facts = envcheck.gather()
    assert facts.torch_cuda == torch.version.cuda
    verdict = envcheck.assess(facts)
    if facts.torch_cuda is None:  # the CPU wheel these machines use
        assert verdict.skip
        assert not verdict.run
        assert "no CUDA compiled in" in verdict.reason
        assert not envcheck.assess(facts, require=True).skip
    elif not facts.cuda_available:
        assert not verdict.run
    else:
        assert verdict.run, verdict.reason


def test_ready() -> None:
    verdict = envcheck.assess(READY)
    assert verdict.run
    assert "H100" in verdict.reason


@pytest.mark.parametrize(("change", "skip", "words"), [
    ({"torch_cuda": None, "gpu_present": False}, True, "no CUDA compiled in (a CPU-only build);"),
    ({"torch_cuda": None}, True, "although an NVIDIA GPU is present"),
    ({"cuda_available": False, "device_count": 0, "gpu_present": False, "driver": None,
      "host_driver": True}, True, "not passed into the container?"),
    ({"cuda_available": False, "device_count": 0, "gpu_present": False, "driver": None},
     True, "--gpus all"),
    ({"cuda_available": False, "device_count": 0, "driver": "470.57.02"}, False,
     "too old for torch's CUDA 12.8 (needs >= 525.60.13)"),
    ({"cuda_available": False, "device_count": 0, "init_warning": "CUDA unknown error"},
     False, "present but torch cannot use it"),
    ({"driver": "520.1"}, False, "older than CUDA 12.8 supports"),
    ({"capability": (10, 0), "device_name": "NVIDIA B200", "arch_list": ("sm_80", "sm_90")},
     False,
     "compute capability 10.0) is not supported"),
])
def test_verdicts(change: dict[str, object], skip: bool, words: str) -> None:
    verdict = envcheck.assess(dataclasses.replace(READY, **change))  # type: ignore[arg-type]  # test data
    assert not verdict.run
    assert verdict.skip is skip
    assert words in verdict.reason


def test_required_gpu_turns_a_skip_into_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = dataclasses.replace(READY, torch_cuda=None)
    monkeypatch.setenv("TORCHSHIP_REQUIRE_GPU", "1")
    assert envcheck.required()
    verdict = envcheck.assess(facts, require=envcheck.required())
    assert not verdict.skip
    assert "TORCHSHIP_REQUIRE_GPU" in verdict.reason


@pytest.mark.parametrize(("cap", "archs", "ok"), [
    ((9, 0), ("sm_90",), True),
    ((8, 6), ("sm_80",), True),           # same major, lower minor: binary compatible
    ((8, 0), ("sm_86",), False),          # a higher minor does not run on a lower one
    ((8, 9), ("sm_75", "compute_75"), True),  # PTX JIT from an older architecture
    ((9, 0), ("sm_80", "sm_86"), False),  # SASS does not cross majors
    ((9, 0), ("sm_90a",), True),          # arch-specific, exact part
    ((10, 0), ("sm_90a",), False),
    ((12, 0), ("sm_100", "sm_120"), True),
    ((7, 5), (), False),
])
def test_arch_support(cap: tuple[int, int], archs: tuple[str, ...], ok: bool) -> None:
    assert envcheck.arch_supported(cap, archs) is ok
