"""Check the suite's timing against torch.utils.benchmark and triton's do_bench, same run.

For each chosen case: the suite's own path (warm-up, rounds from the budget, one CUDA-event
sample per call with the L2 flush, as in `nox -s benchmark`), then torch.utils.benchmark's
Timer.blocked_autorange (synchronises the accelerator around blocks of calls), then
triton.testing.do_bench (CUDA events, L2 flush, median) when triton is importable and the
device is a GPU. Medians are compared; more than `tolerance` apart fails.

The default GPU shapes are large enough that launch overhead and L2 residency cannot
explain a difference (inputs far larger than a 50 MB L2): torch.utils.benchmark does not
flush the cache, the suite and do_bench do.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from torchship.gpubench import cases, peaks
from torchship.gpubench.timing import (
    Settings,
    Summary,
    measure,
    pin_threads,
    prepare,
    rounds_for,
    warm_up,
)

DEFAULT_CASES = {
    "cuda": ("matmul-bf16-8192", "matmul-fp16-8192", "matmul-tf32-8192", "matmul-fp32-4096",
             "conv2d-bf16-b256", "copy-fp32-1024MiB"),
    "cpu": ("matmul-fp32-1024", "conv2d-fp32-b8", "copy-fp32-64MiB"),
}
REFERENCES = ("torch.utils.benchmark", "do_bench")


@dataclass(frozen=True)
class Result:
    """One case timed three ways (seconds per call; None: that timer was not available)."""

    case: str
    suite: float
    references: Mapping[str, float | None]
    rate: str = "-"                     # what the suite's median achieves
    peak_fraction: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def deviations(self) -> dict[str, float]:
        """suite / reference - 1, per reference that ran."""
        return {name: self.suite / ref - 1 for name, ref in self.references.items()
                if ref is not None and ref > 0}

    def agrees(self, tolerance: float) -> bool:
        return all(abs(d) <= tolerance for d in self.deviations().values())


def torch_timer(fn: object, *, threads: int, seconds: float) -> float:
    """Median per call from torch.utils.benchmark.Timer.blocked_autorange."""
    from torch.utils.benchmark import Timer

    m = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads).blocked_autorange(
        min_run_time=seconds)
    return float(m.median)


def triton_do_bench(fn: object) -> float | None:
    """Median per call from triton.testing.do_bench (None where triton is not importable)."""
    import importlib

    try:  # imported by name: triton is optional and ships no type information
        testing = importlib.import_module("triton.testing")
    except ImportError:
        return None
    try:
        ms = testing.do_bench(fn, warmup=25, rep=200, return_mode="median")
    except TypeError:  # triton < 2.2 has no return_mode: ask for the 0.5 quantile
        ms = testing.do_bench(fn, warmup=25, rep=200, quantiles=[0.5])
        ms = ms[0] if isinstance(ms, list | tuple) else ms
    return float(ms) / 1e3


def _rate(work: cases.Work, median: float) -> tuple[str, float | None]:
    if work.math == "memory" and work.nbytes:
        gbps = work.nbytes / median / 1e9
        return f"{gbps:.4g} GB/s", gbps
    if work.flops:
        tflops = work.flops / median / 1e12
        return f"{tflops:.4g} TFLOP/s", tflops
    return "-", None


def run_case(spec: cases.Spec, settings: Settings, peak: peaks.Peak | None, *,
             repeats: int = 3) -> Result:
    """Time `spec` with the suite's layer and the reference timers, alternating them
    `repeats` times and keeping each timer's median, so a drift in clocks or machine load
    hits every timer alike."""
    import statistics

    import torch

    work = cases.build(spec)
    cuda = spec.device.startswith("cuda")
    threads = pin_threads(settings.threads)
    timed = prepare(work.fn, device=spec.device, flush=settings.flush_l2 and work.flush)
    suite: list[float] = []
    ref_torch: list[float] = []
    ref_triton: list[float] = []
    with cases.math_mode(work.math):
        estimate = warm_up(timed, seconds=settings.warmup_seconds)
        for _ in range(max(1, repeats)):
            suite.append(Summary.of(measure(timed, rounds_for(estimate, settings))).median)
            ref_torch.append(torch_timer(work.fn, threads=threads,
                                         seconds=max(0.2, settings.seconds)))
            value = triton_do_bench(work.fn) if cuda else None
            if value is not None:
                ref_triton.append(value)
        if cuda:
            torch.cuda.synchronize()
    notes = [] if not cuda or ref_triton else ["triton not importable"]
    median = statistics.median(suite)
    rate, achieved = _rate(work, median)
    return Result(spec.case, median,
                  {"torch.utils.benchmark": statistics.median(ref_torch),
                   "do_bench": statistics.median(ref_triton) if ref_triton else None},
                  rate, peaks.fraction(achieved, peak, work.math), tuple(notes))


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.4g} ms"


def _ref(result: Result, name: str) -> str:
    value = result.references.get(name)
    return "-" if value is None else f"{_ms(value)} ({result.deviations()[name]:+.1%})"


def render(results: Sequence[Result], tolerance: float) -> str:
    header = ("case", "suite", "torch.utils.benchmark", "do_bench", "suite rate", "% peak",
              "agree")
    lines = [header]
    for r in results:
        lines.append((r.case, _ms(r.suite), _ref(r, "torch.utils.benchmark"), _ref(r, "do_bench"),
                      r.rate, "-" if r.peak_fraction is None else f"{r.peak_fraction:.1%}",
                      "yes" if r.agrees(tolerance) else f"NO (>{tolerance:.0%})"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verify_gpu_timing.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default=None,
                        help="default: cuda when torch sees one, else cpu")
    parser.add_argument("--case", action="append", default=[], metavar="CASE",
                        help="a case id such as matmul-bf16-8192 (repeatable; default: "
                             "a set of large GPU shapes, or small CPU ones)")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="largest allowed |suite/reference - 1| (default 0.05)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternate the timers this many times, keep medians (default 3)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="measuring budget per case and timer (default: the suite's)")
    args = parser.parse_args(argv)

    import torch

    from torchship.gpubench import envcheck

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        verdict = envcheck.check(require=True)
        if not verdict.run:
            print(f"error: cannot time on the GPU: {verdict.reason}", file=sys.stderr)
            return 1
    try:
        specs = [cases.parse(c, device) for c in args.case or DEFAULT_CASES[device]]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = Settings.from_env(device)
    if args.seconds is not None:
        settings = dataclasses.replace(settings, seconds=args.seconds)
    peak = None
    if device == "cuda":
        from torchship.gpubench.device import describe

        facts = describe(0)
        peak = peaks.lookup(str(facts["gpu"]), peaks.table())
        print(f"{facts['gpu']}  driver {facts.get('driver')}  sm clock "
              f"{facts.get('clock_sm_mhz')}/{facts.get('clock_max_sm_mhz')} MHz  "
              f"peak entry: {peak.key if peak else 'none (add it to [tool.torchship.gpus])'}")
    else:
        print(f"cpu, {settings.threads} threads (do_bench needs a GPU: skipped)")
    results = []
    for spec in specs:
        results.append(run_case(spec, settings, peak, repeats=args.repeats))
        print(f"  timed {spec.case}", file=sys.stderr, flush=True)
    print(render(results, args.tolerance))
    bad = [r.case for r in results if not r.agrees(args.tolerance)]
    if bad:
        print(f"\nFAIL: the suite disagrees with a reference timer by more than "
              f"{args.tolerance:.0%} on: {', '.join(bad)}")
        return 1
    print(f"\nOK: the suite agrees with every reference timer within {args.tolerance:.0%}")
    return 0
