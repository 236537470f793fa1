"""The pytest-benchmark glue, through the real `benchmark` fixture on the CPU."""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from torchship.errors import TorchshipError
from torchship.gpubench import bench, cases, peaks, timing

QUICK = timing.Settings(threads=1, seconds=0.02, warmup_seconds=0.0, min_rounds=3,
                        max_rounds=20, flush_l2=True)


def test_run_puts_rates_and_facts_in_extra_info(benchmark: BenchmarkFixture) -> None:
    work = cases.build(cases.Spec("matmul", "fp32", 64, "cpu"))
    info = bench.run(benchmark, work, device="cpu", settings=QUICK)
    median = benchmark.stats.stats.median
    assert benchmark.extra_info == info
    assert info["device"] == "cpu"
    assert info["case"] == "matmul-fp32-64"
    assert info["tflops"] == pytest.approx(2 * 64**3 / median / 1e12)
    assert 3 <= info["rounds"] == benchmark.stats.stats.rounds <= 20
    assert info["threads"] == 1
    assert info["l2_flush"] is True
    assert info["cpu"]
    assert info["torch"]
    assert "peak_fraction" not in info  # no peak table for CPUs


def test_a_cuda_case_must_carry_the_event_clock(benchmark: BenchmarkFixture) -> None:
    work = cases.build(cases.Spec("matmul", "fp32", 8, "cpu"))
    with pytest.raises(TorchshipError, match="CUDA-event timer"):
        bench.run(benchmark, work, device="cuda", settings=QUICK)
    benchmark.pedantic(work.fn, rounds=1)  # the fixture must be used once


def test_params_mark_gpu_cases() -> None:
    specs = [cases.Spec("matmul", "fp32", 8, "cpu"), cases.Spec("matmul", "fp32", 8, "cuda")]
    cpu, gpu = bench.params(specs)
    assert cpu.id == "cpu-matmul-fp32-8"
    assert gpu.id == "cuda-matmul-fp32-8"
    assert [m.name for m in cpu.marks] == ["benchmark"]
    assert [m.name for m in gpu.marks] == ["gpu", "benchmark"]
    assert gpu.marks[1].kwargs == {"group": "matmul-fp32-8", "timer": timing.CUDA_CLOCK}


def test_record_for_a_gpu_case() -> None:
    work = cases.Work("matmul-bf16-8192", lambda: None, "bf16", flops=2.0 * 8192**3)
    h100 = peaks.lookup("NVIDIA H100 80GB HBM3")
    info = bench.record(work, device="cuda:0", median=2.2e-3, rounds=100, threads=16,
                        flush=True, facts={"gpu": "NVIDIA H100 80GB HBM3",
                                           "driver": "570.86.15", "clock_sm_mhz": 1980.0},
                        peak=h100)
    assert info["device"] == "cuda"
    assert info["driver"] == "570.86.15"
    assert info["tflops"] == pytest.approx(2 * 8192**3 / 2.2e-3 / 1e12)
    assert info["peak"] == 989.5
    assert info["peak_unit"] == "TFLOP/s"
    assert info["peak_fraction"] == pytest.approx(info["tflops"] / 989.5)
    assert "H100" in info["peak_source"]
    copy = cases.Work("copy-fp32-1024MiB", lambda: None, "memory", nbytes=2.0 * 2**30)
    info = bench.record(copy, device="cuda", median=1e-3, rounds=10, threads=1, flush=True,
                        facts={}, peak=h100)
    assert info["peak_unit"] == "GB/s"
    assert info["peak_fraction"] == pytest.approx(2 * 2**30 / 1e-3 / 1e9 / 3350)
