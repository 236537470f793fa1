"""Peak figures of common GPUs, so each case can report the fraction of the hardware's limit.

Dense (no 2:4 sparsity) tensor-core TFLOP/s per math mode, plain FP32 (CUDA-core) TFLOP/s,
and memory bandwidth in GB/s (10^9 bytes/s), from NVIDIA's datasheets. The datasheets print
tensor-core figures "with sparsity"; the dense figure is half of it, as their footnotes say.

Add or correct a GPU without touching this file, in pyproject.toml:

    [tool.torchship.gpus.rtx-6000-ada]
    match = "RTX 6000 Ada"            # regular expression searched in torch's device name
    fp32 = 91.1                       # TFLOP/s; also tf32, bf16, fp16, fp8 (omit what it lacks)
    tf32 = 182.1
    bf16 = 364.2
    fp16 = 364.2
    memory_gbps = 960
    source = "NVIDIA RTX 6000 Ada datasheet"

Entries from pyproject are matched before the built-in ones, so the same key overrides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MATH = ("fp32", "tf32", "bf16", "fp16", "fp8")


@dataclass(frozen=True)
class Peak:
    """One GPU model's limits: TFLOP/s per math mode and memory GB/s."""

    key: str
    match: str
    tflops: Mapping[str, float] = field(default_factory=dict)
    memory_gbps: float | None = None
    source: str = ""

    def matches(self, device_name: str) -> bool:
        return re.search(self.match, device_name, flags=re.IGNORECASE) is not None

    def limit(self, math: str) -> float | None:
        """The limit a case is measured against: TFLOP/s for a math mode, GB/s for "memory"."""
        if math == "memory":
            return self.memory_gbps
        return self.tflops.get(math)


def _peak(key: str, match: str, *, fp32: float, tf32: float | None, bf16: float | None,
          fp16: float | None, fp8: float | None, memory_gbps: float, source: str) -> Peak:
    rates = {"fp32": fp32, "tf32": tf32, "bf16": bf16, "fp16": fp16, "fp8": fp8}
    return Peak(key, match, {k: v for k, v in rates.items() if v is not None}, memory_gbps, source)


# Order matters: the first match wins, so specific names come before general ones
# (H100 NVL / PCIe before the SXM part, whose torch name is "NVIDIA H100 80GB HBM3").
BUILTIN: tuple[Peak, ...] = (
    # NVIDIA H200 Tensor Core GPU datasheet (H200 NVL column); sparse 835/1671/3341 halved.
    _peak("h200-nvl", r"H200 NVL", fp32=60, tf32=417.5, bf16=835.5, fp16=835.5, fp8=1670.5,
          memory_gbps=4800, source="NVIDIA H200 datasheet (H200 NVL)"),
    # NVIDIA H200 Tensor Core GPU datasheet (H200 SXM column): same math as H100 SXM, 4.8 TB/s.
    _peak("h200-sxm", r"H200", fp32=67, tf32=494.5, bf16=989.5, fp16=989.5, fp8=1979,
          memory_gbps=4800, source="NVIDIA H200 datasheet (H200 SXM)"),
    # NVIDIA H100 Tensor Core GPU datasheet (H100 NVL column): sparse 835/1671/3341 halved.
    _peak("h100-nvl", r"H100 NVL", fp32=60, tf32=417.5, bf16=835.5, fp16=835.5, fp8=1670.5,
          memory_gbps=3900, source="NVIDIA H100 datasheet (H100 NVL)"),
    # NVIDIA H100 datasheet (H100 PCIe column): sparse 756/1513/3026 halved; 2.0 TB/s HBM2e.
    _peak("h100-pcie", r"H100.*PCIe", fp32=51, tf32=378, bf16=756.5, fp16=756.5, fp8=1513,
          memory_gbps=2000, source="NVIDIA H100 datasheet (H100 PCIe)"),
    # NVIDIA H100 datasheet (H100 SXM column): sparse 989/1979/3958 halved; 3.35 TB/s HBM3.
    _peak("h100-sxm", r"H100", fp32=67, tf32=494.5, bf16=989.5, fp16=989.5, fp8=1979,
          memory_gbps=3350, source="NVIDIA H100 datasheet (H100 SXM)"),
    # NVIDIA A100 Tensor Core GPU datasheet: TF32 156, BF16/FP16 312 dense, FP32 19.5; the
    # memory bandwidth differs by form factor and memory size (1,555 / 1,935 / 2,039 GB/s).
    _peak("a100-sxm-80gb", r"A100.*SXM.*80GB", fp32=19.5, tf32=156, bf16=312, fp16=312,
          fp8=None, memory_gbps=2039, source="NVIDIA A100 datasheet (A100 80GB SXM)"),
    _peak("a100-sxm-40gb", r"A100.*SXM", fp32=19.5, tf32=156, bf16=312, fp16=312, fp8=None,
          memory_gbps=1555, source="NVIDIA A100 datasheet (A100 40GB SXM)"),
    _peak("a100-pcie-80gb", r"A100.*80GB", fp32=19.5, tf32=156, bf16=312, fp16=312, fp8=None,
          memory_gbps=1935, source="NVIDIA A100 datasheet (A100 80GB PCIe)"),
    _peak("a100-pcie-40gb", r"A100", fp32=19.5, tf32=156, bf16=312, fp16=312, fp8=None,
          memory_gbps=1555, source="NVIDIA A100 datasheet (A100 40GB PCIe)"),
    # NVIDIA L40S datasheet: FP32 91.6; sparse TF32 366, BF16/FP16 733, FP8 1466 halved; 864 GB/s.
    _peak("l40s", r"L40S", fp32=91.6, tf32=183, bf16=366.5, fp16=366.5, fp8=733,
          memory_gbps=864, source="NVIDIA L40S datasheet"),
    # NVIDIA L4 datasheet: FP32 30.3; sparse TF32 120, BF16/FP16 242, FP8 485 halved; 300 GB/s.
    _peak("l4", r"\bL4\b", fp32=30.3, tf32=60, bf16=121, fp16=121, fp8=242.5,
          memory_gbps=300, source="NVIDIA L4 datasheet"),
    # NVIDIA A10 datasheet: FP32 31.2; dense TF32 62.5, BF16/FP16 125; 600 GB/s.
    _peak("a10", r"\bA10\b", fp32=31.2, tf32=62.5, bf16=125, fp16=125, fp8=None,
          memory_gbps=600, source="NVIDIA A10 datasheet"),
    # NVIDIA T4 datasheet: FP32 8.1, mixed-precision FP16 65 (Turing: no TF32, no BF16
    # tensor cores, so those cases have no peak to compare with); 320 GB/s.
    _peak("t4", r"\bT4\b", fp32=8.1, tf32=None, bf16=None, fp16=65, fp8=None,
          memory_gbps=320, source="NVIDIA T4 datasheet"),
    # NVIDIA V100 datasheet (SXM2): FP32 15.7, tensor FP16 125; 900 GB/s.
    _peak("v100-sxm2", r"V100", fp32=15.7, tf32=None, bf16=None, fp16=125, fp8=None,
          memory_gbps=900, source="NVIDIA V100 datasheet (SXM2)"),
)


def parse(table: Mapping[str, Any], *, where: str = "tool.torchship.gpus") -> list[Peak]:
    """[tool.torchship.gpus.<key>] tables -> Peaks, validated where every table is
    (torchship.config: one clear error per problem)."""
    from torchship.config import peaks

    return list(peaks(table, where=where))


def table(root: Path | None = None) -> list[Peak]:
    """The project's own entries (pyproject [tool.torchship.gpus]) first, then the built-in ones."""
    own: list[Peak] = []
    pyproject = (root or Path.cwd()) / "pyproject.toml"
    if pyproject.is_file():
        from torchship.config import Pyproject

        own = parse(Pyproject.read(pyproject.parent).tool("torchship").get("gpus", {}))
    return [*own, *BUILTIN]


def lookup(device_name: str, peaks: Iterable[Peak] = BUILTIN) -> Peak | None:
    """The first entry whose pattern occurs in `device_name` (torch's name for the GPU)."""
    return next((p for p in peaks if p.matches(device_name)), None)


def fraction(achieved: float | None, peak: Peak | None, math: str) -> float | None:
    """achieved / limit (both in TFLOP/s, or both in GB/s); None when either is unknown."""
    if achieved is None or peak is None:
        return None
    limit = peak.limit(math)
    return achieved / limit if limit else None
