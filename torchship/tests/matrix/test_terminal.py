"""The terminal report fits the terminal: at 80 and 120 columns no line is wider, and no
case id is broken over two lines (torchship.matrix.terminal)."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from records_factory import TEMPLATE, bench, record, run
from rich.cells import cell_len
from rich.console import Console

from torchship.config import Compare
from torchship.matrix import report
from torchship.matrix.compare import Comparison, compare
from torchship.matrix.records import Record

# The template's own benchmark ids (tests/benchmarks), on the CPU and on a GPU.
CASES = ("matmul-fp32-1024", "matmul-bf16-4096", "conv2d-fp32-b8", "copy-fp32-64MiB",
         "add-fp32-64MiB", "model-train-fp32-b512", "model-infer-bf16-b2048")


def _benches(scale: float, *, gpu: bool) -> tuple:  # type: ignore[type-arg]  # of BenchCase
    out = []
    for i, case in enumerate(CASES):
        test = case.split("-")[0]
        # As torchship.gpubench records them: the case and device in extra_info.
        out.append(replace(bench(f"test_{test}[cpu-{case}]", 0.01 * (i + 1) * scale,
                                 iqr=0.004), extra_info={"case": case, "device": "cpu"}))
        if gpu:
            out.append(replace(bench(f"test_{test}[cuda-{case}]", 0.0004 * (i + 1) * scale,
                                     iqr=0.00001, device="cuda"),
                               extra_info={"case": case, "device": "cuda"}))
    return tuple(out)


def _with(env: str, scale: float, *, gpu: bool, image: str) -> Record:
    return replace(record(env, benches=_benches(scale, gpu=gpu)), image=image)


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    """Three environments (two with a GPU), a baseline, a regression, noise, one that did not
    build: everything the report can show at once."""
    image = "127.0.0.1:52301/mlproject:0.2.0rc1-g1234567-{}-devel"
    broken = Record(env="cu130-nightly", image=None, status="build-failed",
                    reason="building cu130-nightly/devel failed: ERROR: No matching "
                           "distribution found for torch==2.13.0+cu130 (from versions: none)")
    cur = run(_with("cu126", 1.0, gpu=True, image=image.format("cu126")),
              _with("cu128", 1.3, gpu=True, image=image.format("cu128")),
              _with("cpu", 1.1, gpu=False, image=image.format("cpu")), broken,
              run_id="20261204T213000Z-1234567")
    base = run(_with("cu126", 0.5, gpu=True, image="x"), _with("cu128", 1.3, gpu=True, image="x"),
               run_id="20261201T080000Z-abcdef0")
    return compare(cur, tolerances=Compare(), metrics=TEMPLATE, baseline=base)


def _render(c: Comparison, width: int) -> list[str]:
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True)
    report.terminal(c, console=console)
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [80, 120])
def test_report_fits_the_terminal(comparison: Comparison, width: int) -> None:
    lines = _render(comparison, width)
    wide = [ln for ln in lines if cell_len(ln) > width]
    assert not wide, "\n".join(lines)
    # Every case id whole on a line of its table (one table per environment that ran them).
    for env in ("cu126", "cu128", "cpu"):
        start = next(i for i, ln in enumerate(lines) if ln.startswith(f"benchmarks in {env}"))
        table = lines[start:start + 2 + 4 + 2 * len(CASES)]
        for case in CASES:
            assert any(case in ln.split() for ln in table), "\n".join(table)
    assert any(ln.startswith("benchmarks in cpu (median; device cpu)") for ln in lines)
    # What matters most stays at any width: the median, the baseline's ratio, the flag.
    cu126 = next(i for i, ln in enumerate(lines) if ln.startswith("benchmarks in cu126"))
    header = lines[cu126 + 2].split()
    assert {"case", "device", "median", "vs"} <= set(header)
    row = next(ln for ln in lines[cu126:] if "model-train-fp32-b512" in ln and "cuda" in ln)
    assert "2.00x" in row
    assert "regression" in row
    # The speed-up of each GPU case over its CPU twin.
    assert any(ln.split()[:2] == ["cu126", "matmul-fp32-1024"] and ln.rstrip().endswith("25.0x")
               for ln in lines), "\n".join(lines)
    # The environment that did not build, and its reason, whole (wrapped at words).
    assert any(ln.split()[:3] == ["cu130-nightly", "-", "build-failed"] for ln in lines)
    assert "found for torch==2.13.0+cu130 (from versions: none)" in " ".join(
        " ".join(lines).split())
    assert lines[-1].startswith("FAIL: ")


def test_more_columns_when_the_terminal_is_wider(comparison: Comparison) -> None:
    def header(lines: list[str], env: str) -> str:
        start = next(i for i, ln in enumerate(lines) if ln.startswith(f"benchmarks in {env}"))
        return " ".join(" ".join(lines[start + 2:start + 4]).split())

    narrow, wide = header(_render(comparison, 80), "cu128"), header(_render(comparison, 160),
                                                                   "cu128")
    assert "IQR" in wide
    assert "vs cu126" in wide
    assert len(narrow) < len(wide)
