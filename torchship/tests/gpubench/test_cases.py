"""Case specs and the work they build, run for real on the CPU at tiny sizes."""

from __future__ import annotations

import pytest
import torch

from torchship.gpubench import cases


def test_case_ids_do_not_name_the_device() -> None:
    cpu = cases.Spec("matmul", "bf16", 8192, "cpu")
    gpu = cases.Spec("matmul", "bf16", 8192, "cuda")
    assert cpu.case == gpu.case == "matmul-bf16-8192"
    assert (cpu.id, gpu.id) == ("cpu-matmul-bf16-8192", "cuda-matmul-bf16-8192")
    assert cases.Spec("conv2d", "fp32", 8, "cpu").case == "conv2d-fp32-b8"
    assert cases.Spec("copy", "fp32", 64, "cpu").case == "copy-fp32-64MiB"


def test_every_case_id_parses_back() -> None:
    for kind in ("matmul", "conv2d", "copy", "add"):
        for spec in cases.specs(kind):
            assert cases.parse(spec.case, spec.device) == spec


@pytest.mark.parametrize("text", ["matmul-bf16", "matmul-bf17-8", "gemm-fp32-8", "x"])
def test_bad_case_ids(text: str) -> None:
    with pytest.raises(ValueError, match="matmul"):
        cases.parse(text, "cpu")


def test_the_gpu_gets_the_large_sizes_and_every_cpu_case_a_partner() -> None:
    gpu_matmul = {s.case for s in cases.specs("matmul", ("cuda",))}
    assert "matmul-bf16-8192" in gpu_matmul
    assert max(s.size for s in cases.specs("matmul", ("cpu",))) <= 1024
    for kind in ("matmul", "conv2d", "copy", "add"):
        cpu = {s.case for s in cases.specs(kind, ("cpu",))}
        gpu = {s.case for s in cases.specs(kind, ("cuda",))}
        assert cpu <= gpu, kind  # a speed-up for every CPU case
        assert {c.split("-")[1] for c in cpu} == {c.split("-")[1] for c in gpu}, kind


@pytest.mark.parametrize(("spec", "check"), [
    (cases.Spec("matmul", "fp32", 32, "cpu"), lambda w: w.flops == 2 * 32**3),
    (cases.Spec("matmul", "bf16", 16, "cpu"), lambda w: w.math == "bf16"),
    (cases.Spec("conv2d", "fp32", 1, "cpu"), lambda w: w.flops == 2 * 64 * 56 * 56 * 64 * 9),
    (cases.Spec("copy", "fp32", 1, "cpu"), lambda w: w.nbytes == 2 * 2**20 and w.math == "memory"),
    (cases.Spec("add", "fp32", 1, "cpu"), lambda w: w.nbytes == 3 * 2**20),
])
def test_build_gives_real_work(spec: cases.Spec, check: object) -> None:
    work = cases.build(spec)
    out = work.fn()
    assert isinstance(out, torch.Tensor)
    assert torch.isfinite(out.float()).all()
    assert work.case == spec.case
    assert check(work)


def test_math_mode_sets_and_restores_tf32() -> None:
    matmul = torch.backends.cuda.matmul
    before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    with cases.math_mode("tf32"):
        assert matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32
        if hasattr(matmul, "fp32_precision"):  # torch >= 2.9: the new switches agree
            assert matmul.fp32_precision == "tf32"
    with cases.math_mode("fp32"):
        assert not matmul.allow_tf32  # reading it raises if the two APIs disagree
        assert not torch.backends.cudnn.allow_tf32
        if hasattr(matmul, "fp32_precision"):
            assert matmul.fp32_precision == "ieee"
    assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == before
