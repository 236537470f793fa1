"""CPU-vs-GPU speed-up per case, from pytest-benchmark JSON (pure functions; no torch).

Cases pair by extra_info["case"] (device-independent) and extra_info["device"]. The
speed-up is the CPU median over the GPU median. A case measured on one side only (the
GPU-only sizes) still gets a row, with no speed-up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchship.errors import TorchshipError


@dataclass(frozen=True)
class Side:
    """One case on one device: time per call and what it achieved."""

    median: float          # seconds
    iqr: float             # seconds
    rounds: int
    tflops: float | None
    gbps: float | None
    peak_fraction: float | None
    name: str              # the pytest-benchmark name, to find it in the JSON
    math: str = ""         # fp32/tf32/bf16/fp16, or memory for the bandwidth cases

    @property
    def spread(self) -> float:
        """IQR relative to the median: how noisy the figure is."""
        return self.iqr / self.median if self.median else 0.0


@dataclass(frozen=True)
class Row:
    case: str
    cpu: Side | None
    cuda: Side | None

    @property
    def speedup(self) -> float | None:
        if self.cpu is None or self.cuda is None or self.cuda.median <= 0:
            return None
        return self.cpu.median / self.cuda.median


def _side(bench: Mapping[str, Any]) -> Side:
    stats, extra = bench["stats"], bench.get("extra_info") or {}
    return Side(median=float(stats["median"]), iqr=float(stats.get("iqr", 0.0)),
                rounds=int(stats.get("rounds", 0)), tflops=extra.get("tflops"),
                gbps=extra.get("gbps"), peak_fraction=extra.get("peak_fraction"),
                name=str(bench.get("fullname") or bench.get("name")),
                math=str(extra.get("math") or ""))


def rows(docs: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Rows for every case found in `docs` (pytest-benchmark JSON documents), in the order
    first seen. A case/device seen twice keeps its first measurement."""
    found: dict[str, dict[str, Side]] = {}
    for doc in docs:
        for bench in doc.get("benchmarks", []):
            extra = bench.get("extra_info") or {}
            case, device = extra.get("case"), extra.get("device")
            if not case or device not in {"cpu", "cuda"} or not bench.get("stats"):
                continue  # not one of the suite's cases (or run with --benchmark-disable)
            found.setdefault(str(case), {}).setdefault(str(device), _side(bench))
    return [Row(case, sides.get("cpu"), sides.get("cuda")) for case, sides in found.items()]


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _rate(side: Side | None) -> str:
    if side is None:
        return "-"
    if side.gbps is not None and (side.math == "memory" or side.tflops is None):
        return f"{side.gbps:.3g} GB/s"
    if side.tflops is None:
        return "-"
    return f"{side.tflops:.3g} TFLOP/s" if side.tflops >= 1 else f"{side.tflops * 1e3:.3g} GFLOP/s"


def render(table: Iterable[Row]) -> str:
    """A plain-text table: case, CPU and GPU medians (+- IQR), rates, speed-up, % of peak."""
    header = ("case", "cpu median", "cpu rate", "gpu median", "gpu rate", "% peak", "speed-up")
    lines = [header]
    for r in table:
        def cell(side: Side | None) -> str:
            return f"{_time(side.median)} +-{side.spread:.0%}" if side else "-"

        frac = r.cuda.peak_fraction if r.cuda else None
        lines.append((r.case, cell(r.cpu), _rate(r.cpu), cell(r.cuda), _rate(r.cuda),
                      f"{frac:.1%}" if frac is not None else "-",
                      f"{r.speedup:.1f}x" if r.speedup is not None else "-"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w)
                     in enumerate(zip(line, widths, strict=True))) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def load(path: Path) -> dict[str, Any]:
    """Read a pytest-benchmark JSON file; a clear error when it is not one."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise TorchshipError(f"{path}: not found",
                             hint="`nox -s benchmark` writes results/local/benchmark.json") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TorchshipError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise TorchshipError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)",
                             hint="pass the file written by pytest --benchmark-json")
    return doc
