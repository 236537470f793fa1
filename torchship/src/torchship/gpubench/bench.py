"""The pytest-benchmark glue: time one Work, and record what it achieved in extra_info.

    @pytest.mark.parametrize("spec", bench.params(cases.specs("matmul")))
    def test_matmul(benchmark, spec):
        bench.run(benchmark, cases.build(spec), device=spec.device)

`params` gives every CUDA case the `gpu` marker and pytest-benchmark's timer set to the
CUDA-event clock, and groups each case's CPU and GPU runs together in the terminal table.
`run` pins threads, warms up, picks the rounds, hands the call to `benchmark.pedantic`
(so the samples, median and IQR are pytest-benchmark's own, in its JSON) and then puts
in extra_info: device, case, flops/bytes, TFLOP/s or GB/s, and, on a GPU, the fraction of
the device's peak, its name, clocks and driver.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torchship.errors import TorchshipError
from torchship.gpubench import peaks as peaks_mod
from torchship.gpubench.cases import Spec, Work, math_mode
from torchship.gpubench.timing import (
    CUDA_CLOCK,
    CudaEventClock,
    Settings,
    pin_threads,
    prepare,
    rounds_for,
    warm_up,
)


def marks(device: str, case: str) -> list[Any]:
    """The pytest marks a case on `device` needs (gpu + CUDA-event timer on CUDA)."""
    import pytest

    if device.startswith("cuda"):
        return [pytest.mark.gpu, pytest.mark.benchmark(group=case, timer=CUDA_CLOCK)]
    return [pytest.mark.benchmark(group=case)]


def params(specs: Iterable[Spec]) -> list[Any]:
    """pytest.param per spec, id `<device>-<case>`, with `marks`."""
    import pytest

    return [pytest.param(s, id=s.id, marks=marks(s.device, s.case)) for s in specs]


def rates(work: Work, median: float) -> dict[str, float | None]:
    """TFLOP/s and GB/s achieved at `median` seconds per call."""
    ok = median > 0
    return {"tflops": work.flops / median / 1e12 if work.flops and ok else None,
            "gbps": work.nbytes / median / 1e9 if work.nbytes and ok else None}


def record(work: Work, *, device: str, median: float, rounds: int, threads: int, flush: bool,
           facts: Mapping[str, Any], peak: peaks_mod.Peak | None) -> dict[str, Any]:
    """extra_info for one case (pure: the facts about the device are passed in)."""
    achieved = rates(work, median)
    info: dict[str, Any] = {
        "device": "cuda" if device.startswith("cuda") else "cpu",
        "case": work.case, "math": work.math, "flops": work.flops, "bytes": work.nbytes,
        **achieved, "threads": threads, "l2_flush": flush, "rounds": rounds,
        **dict(work.info), **dict(facts),
    }
    if info["device"] == "cuda":
        rate = achieved["gbps"] if work.math == "memory" else achieved["tflops"]
        info["peak"] = peak.limit(work.math) if peak else None
        info["peak_unit"] = "GB/s" if work.math == "memory" else "TFLOP/s"
        info["peak_fraction"] = peaks_mod.fraction(rate, peak, work.math)
        info["peak_source"] = peak.source if peak else None
    return info


def _cpu_facts() -> dict[str, Any]:
    import torch

    from torchship.envinfo import _cpu

    return {"cpu": _cpu().get("model") or platform.processor(), "torch": str(torch.__version__)}


def _gpu_facts(device: str) -> dict[str, Any]:
    import torch

    from torchship.gpubench.device import describe

    index = torch.device(device).index
    return {**describe(index if index is not None else torch.cuda.current_device()),
            "torch": str(torch.__version__)}


def _check_clock(benchmark: Any, device: str) -> None:
    # pytest-benchmark keeps the timer it was given in `_timer` (no public accessor); a
    # CUDA case timed with perf_counter would measure kernel launches, so refuse it.
    if device.startswith("cuda") and not isinstance(getattr(benchmark, "_timer", None),
                                                    CudaEventClock):
        raise TorchshipError(f"{benchmark.name}: a CUDA case without the CUDA-event timer",
                             hint="parametrize with torchship.gpubench.bench.params(...)")


def run(benchmark: Any, work: Work, *, device: str, settings: Settings | None = None,
        peaks: Sequence[peaks_mod.Peak] = peaks_mod.BUILTIN) -> dict[str, Any]:
    """Time `work` with pytest-benchmark's `benchmark` fixture; return the extra_info."""
    import torch

    settings = settings or Settings.from_env(device)
    _check_clock(benchmark, device)
    threads = pin_threads(settings.threads)
    flush = settings.flush_l2 and work.flush
    timed = prepare(work.fn, device=device, flush=flush)
    with math_mode(work.math):
        estimate = warm_up(timed, seconds=settings.warmup_seconds)
        rounds = rounds_for(estimate, settings)
        benchmark.pedantic(work.fn, setup=timed.setup, rounds=rounds, warmup_rounds=1)
    stats = getattr(benchmark, "stats", None)  # None under --benchmark-disable
    median = float(stats.stats.median) if stats is not None else estimate
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
    facts = _gpu_facts(device) if cuda else _cpu_facts()
    peak = peaks_mod.lookup(str(facts.get("gpu", "")), peaks) if cuda else None
    info = record(work, device=device, median=median, rounds=rounds, threads=threads,
                  flush=flush, facts=facts, peak=peak)
    benchmark.extra_info.update(info)
    return info
