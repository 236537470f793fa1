"""The tensor-operation cases as data: a Spec names one, `build` turns it into Work.

A case id (`matmul-bf16-8192`) says what is computed and never which device runs it, so
the same case on the CPU and on the GPU can be paired into a speed-up. The CPU gets the
small sizes (2 shared cores must finish the suite in a couple of minutes; bf16/fp16 matrix
products on a CPU without AMX run at about 1 GFLOP/s), the GPU every size up to 8192.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

DTYPES = ("fp32", "tf32", "bf16", "fp16")
CONV_CHANNELS, CONV_HW = 64, 56  # a ResNet stage-1 3x3 convolution, padding 1


@dataclass(frozen=True)
class Work:
    """A callable to time and what one call computes (FLOPs) or moves (bytes)."""

    case: str
    fn: Callable[[], object]
    math: str                     # the peak it is measured against: fp32/tf32/bf16/fp16/memory
    flops: float | None = None
    nbytes: float | None = None
    flush: bool = True            # False: steady state keeps the data hot (a training step)
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    """One tensor-operation case on one device."""

    kind: str      # matmul | conv2d | copy | add
    dtype: str     # fp32 | tf32 | bf16 | fp16
    size: int      # matmul: n of n x n x n; conv2d: batch; copy/add: MiB per tensor
    device: str    # cpu | cuda

    @property
    def case(self) -> str:
        unit = {"conv2d": "b", "copy": "", "add": ""}.get(self.kind, "")
        suffix = "MiB" if self.kind in {"copy", "add"} else ""
        return f"{self.kind}-{self.dtype}-{unit}{self.size}{suffix}"

    @property
    def id(self) -> str:
        return f"{self.device}-{self.case}"


# (kind, dtype) -> sizes per device.
SIZES: dict[tuple[str, str], dict[str, tuple[int, ...]]] = {
    **{("matmul", d): {"cpu": (256, 1024) if d in {"fp32", "tf32"} else (256,),
                       "cuda": (256, 1024, 4096, 8192)} for d in DTYPES},
    ("conv2d", "fp32"): {"cpu": (8,), "cuda": (8, 256)},
    # bf16 convolution on a CPU without AMX: 0.3 s at batch 1, so the pair is made there.
    ("conv2d", "bf16"): {"cpu": (1,), "cuda": (1, 256)},
    ("copy", "fp32"): {"cpu": (64,), "cuda": (64, 1024)},
    ("add", "fp32"): {"cpu": (64,), "cuda": (64, 1024)},
}


def specs(kind: str, devices: tuple[str, ...] = ("cpu", "cuda")) -> list[Spec]:
    """Every spec of `kind`, CPU ones first."""
    return [Spec(k, d, size, dev) for dev in devices for (k, d), per in SIZES.items()
            if k == kind for size in per.get(dev, ())]


def parse(case: str, device: str) -> Spec:
    """`matmul-bf16-8192` (as printed in a case id) -> Spec, for scripts taking case ids."""
    try:
        kind, dtype, size = case.split("-")
        number = int(size.removeprefix("b").removesuffix("MiB"))
    except ValueError as exc:
        raise ValueError(f"{case!r} is not KIND-DTYPE-SIZE (e.g. matmul-bf16-8192)") from exc
    if kind not in {"matmul", "conv2d", "copy", "add"} or dtype not in DTYPES:
        raise ValueError(f"{case!r}: kind is matmul/conv2d/copy/add, dtype one of {DTYPES}")
    return Spec(kind, dtype, number, device)


def _torch_dtype(name: str) -> Any:
    import torch

    return {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16,
            "fp16": torch.float16}[name]


@contextlib.contextmanager
def math_mode(math: str) -> Iterator[None]:
    """fp32 cases use IEEE fp32 (no TF32) in matmul and cuDNN; tf32 cases allow TF32.

    Through set_float32_matmul_precision and cudnn.allow_tf32: on torch >= 2.9 these also
    set the new per-backend `fp32_precision` switches consistently, while setting only the
    new switches leaves the state torch's own TF32 checks reject as "a mix of the legacy
    and new APIs" (a RuntimeError on the next read), and torch < 2.9 knows only these.
    """
    import torch

    tf32 = math == "tf32"
    try:
        before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    except RuntimeError:  # someone mixed the APIs before us: restore torch's defaults
        before = ("highest", True)
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cudnn.allow_tf32 = before[1]


def build(spec: Spec) -> Work:
    """Allocate the inputs of `spec` on its device; the Work calls the operation once."""
    import torch
    import torch.nn.functional as F

    dev = torch.device(spec.device)
    dtype = _torch_dtype(spec.dtype)
    gen = torch.Generator(device=dev).manual_seed(0)
    elem = torch.empty((), dtype=dtype).element_size()
    math = spec.dtype
    if spec.kind == "matmul":
        n = spec.size
        a = torch.randn(n, n, device=dev, dtype=dtype, generator=gen)
        b = torch.randn(n, n, device=dev, dtype=dtype, generator=gen)
        out = torch.empty(n, n, device=dev, dtype=dtype)
        return Work(spec.case, lambda: torch.matmul(a, b, out=out), math, flops=2.0 * n**3,
                    nbytes=3.0 * n * n * elem, info={"shape": [n, n, n]})
    if spec.kind == "conv2d":
        c, hw, batch = CONV_CHANNELS, CONV_HW, spec.size
        fmt = torch.channels_last if spec.device.startswith("cuda") else torch.contiguous_format
        x = torch.randn(batch, c, hw, hw, device=dev, dtype=dtype, generator=gen)
        w = torch.randn(c, c, 3, 3, device=dev, dtype=dtype, generator=gen)
        x, w = x.to(memory_format=fmt), w.to(memory_format=fmt)
        torch.backends.cudnn.benchmark = True  # pick the fastest algorithm during warm-up
        return Work(spec.case, lambda: F.conv2d(x, w, padding=1), math,
                    flops=2.0 * batch * c * hw * hw * c * 9,
                    info={"shape": [batch, c, hw, hw], "kernel": [c, c, 3, 3],
                          "memory_format": str(fmt).removeprefix("torch.")})
    numel = spec.size * 2**20 // elem
    src = torch.randn(numel, device=dev, dtype=dtype, generator=gen)
    dst = torch.empty_like(src)
    if spec.kind == "copy":
        return Work(spec.case, lambda: dst.copy_(src), "memory", nbytes=2.0 * numel * elem,
                    info={"numel": numel})
    if spec.kind == "add":
        other = torch.randn(numel, device=dev, dtype=dtype, generator=gen)
        return Work(spec.case, lambda: torch.add(src, other, out=dst), "memory",
                    nbytes=3.0 * numel * elem, flops=float(numel), info={"numel": numel})
    raise ValueError(f"unknown kind {spec.kind!r}")
