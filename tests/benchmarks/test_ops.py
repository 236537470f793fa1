"""Tensor operations on CPU and CUDA: matrix products, a convolution, copy and add."""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from torchship.gpubench import bench, cases, peaks


@pytest.mark.parametrize("spec", bench.params(cases.specs("matmul")))
def test_matmul(benchmark: BenchmarkFixture, spec: cases.Spec,
                peak_table: list[peaks.Peak]) -> None:
    info = bench.run(benchmark, cases.build(spec), device=spec.device, peaks=peak_table)
    assert info["tflops"] > 0


@pytest.mark.parametrize("spec", bench.params(cases.specs("conv2d")))
def test_conv2d(benchmark: BenchmarkFixture, spec: cases.Spec,
                peak_table: list[peaks.Peak]) -> None:
    info = bench.run(benchmark, cases.build(spec), device=spec.device, peaks=peak_table)
    assert info["tflops"] > 0


@pytest.mark.parametrize("spec", bench.params([*cases.specs("copy"), *cases.specs("add")]))
def test_memory(benchmark: BenchmarkFixture, spec: cases.Spec,
                peak_table: list[peaks.Peak]) -> None:
    info = bench.run(benchmark, cases.build(spec), device=spec.device, peaks=peak_table)
    assert info["gbps"] > 0
