"""One correct sample per call: how the suite times CPU and GPU work.

CUDA launches are asynchronous: `c = a @ b` returns as soon as the kernel is queued, so a
wall-clock timer around it measures the launch, not the product. pytest-benchmark times
`target()` between two readings of its timer and knows nothing of CUDA. So for GPU cases
the suite gives pytest-benchmark a clock whose readings are CUDA events (`CudaEventClock`):
the start event is recorded on the stream before the work, the end event after it, and the
difference of two readings waits for the end event and is the GPU time between them. That
is what triton's do_bench does, and each sample is one call, measured whole.

Around that: a warm-up before timing (cuBLAS heuristics, cuDNN autotuning, allocator,
CPU caches), an optional L2 flush before each call (`CacheFlusher`, zeroing a buffer larger
than the cache, untimed: it runs in pytest-benchmark's `setup`), the torch thread count
pinned, and a number of rounds chosen from a time budget. pytest-benchmark then keeps every
sample and reports median and IQR in its JSON, so compare and baselines keep working.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

MIB = 2**20


class EventStamp:
    """A reading of CudaEventClock: a recorded CUDA event. later - earlier = seconds."""

    __slots__ = ("event",)

    def __init__(self, event: torch.cuda.Event) -> None:
        self.event = event

    def __sub__(self, earlier: EventStamp) -> float:
        self.event.synchronize()  # the work between the two events has finished
        return float(earlier.event.elapsed_time(self.event)) / 1e3  # ms -> s


class CudaEventClock:
    """A timer for pytest-benchmark (`@pytest.mark.benchmark(timer=CudaEventClock())`).

    Each call records an event on the current stream and returns it without waiting, so
    nothing stands between the start event and the work; subtracting waits for the later.
    """

    __name__ = "CudaEventClock"  # pytest-benchmark prints and stores the timer by name

    def __call__(self) -> EventStamp:
        import torch

        event = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]  # untyped in torch
        event.record()
        return EventStamp(event)


CUDA_CLOCK = CudaEventClock()


def clock_for(device: str) -> Callable[[], Any]:
    """The clock a case on `device` is timed with: CUDA events, or perf_counter on the CPU."""
    return CUDA_CLOCK if device.startswith("cuda") else time.perf_counter


def _cpu_llc_bytes() -> int | None:
    """The largest CPU cache, from sysfs (None where it is not readable)."""
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip()
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes) if sizes else None


def flush_bytes(device: str) -> int:
    """How much to overwrite to evict the last-level cache: twice its size, at least 256 MiB
    on a GPU (do_bench's figure) and 64 MiB on a CPU."""
    if device.startswith("cuda"):
        import torch

        l2 = int(getattr(torch.cuda.get_device_properties(torch.device(device)),
                         "L2_cache_size", 0))
        return max(256 * MIB, 2 * l2)
    return max(64 * MIB, 2 * (_cpu_llc_bytes() or 0))


class CacheFlusher:
    """Zeroes a buffer larger than the last-level cache, so the next call starts cold."""

    def __init__(self, device: str) -> None:
        import torch

        self.nbytes = flush_bytes(device)
        self.buffer = torch.empty(self.nbytes, dtype=torch.uint8, device=device)

    def __call__(self) -> None:
        # On CUDA this is queued before the start event: it keeps the GPU busy while the
        # timed call is launched, and is not inside the events.
        self.buffer.zero_()


@dataclass(frozen=True)
class Settings:
    """How long and how carefully to time each case."""

    threads: int                # torch intra-op threads, pinned for the whole run
    seconds: float = 0.4        # measuring budget per case (warm-up not included)
    warmup_seconds: float = 0.1
    min_rounds: int = 5
    max_rounds: int = 500
    flush_l2: bool = True

    @classmethod
    def from_env(cls, device: str) -> Settings:
        """Defaults, overridden by TORCHSHIP_BENCH_{THREADS,SECONDS,WARMUP,FLUSH}."""
        cuda = device.startswith("cuda")
        env = os.environ
        threads = int(env.get("TORCHSHIP_BENCH_THREADS") or default_threads())
        flush = env.get("TORCHSHIP_BENCH_FLUSH")
        return cls(
            threads=threads,
            seconds=float(env.get("TORCHSHIP_BENCH_SECONDS") or (0.5 if cuda else 0.25)),
            warmup_seconds=float(env.get("TORCHSHIP_BENCH_WARMUP") or (0.1 if cuda else 0.05)),
            # The CPU suite skips the flush by default: 64+ MiB of memset per call would
            # dominate the small CPU cases and the run time of a 2-core machine.
            flush_l2=(flush.lower() in {"1", "true", "yes"}) if flush else cuda,
        )


def default_threads() -> int:
    """The CPUs this process may run on (the affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pin_threads(threads: int) -> int:
    """Fix torch's intra-op thread count (so runs compare); return what torch reports."""
    import torch

    torch.set_num_threads(threads)
    return int(torch.get_num_threads())


@dataclass(frozen=True)
class Timed:
    """A call ready to be timed: the work, what runs untimed before it, and the clock."""

    fn: Callable[[], object]
    device: str
    setup: Callable[[], None] | None
    clock: Callable[[], Any]

    def sample(self) -> float:
        """One sample, in the order pytest-benchmark's pedantic runner uses:
        setup (untimed), clock, call, clock, difference."""
        if self.setup is not None:
            self.setup()
        start = self.clock()
        self.fn()
        end = self.clock()
        return float(end - start)  # on CUDA, EventStamp.__sub__ waits for the end event


def prepare(fn: Callable[[], object], *, device: str, flush: bool) -> Timed:
    """Wrap `fn` for timing on `device`, with an L2 flush before each call when `flush`."""
    return Timed(fn, device, CacheFlusher(device) if flush else None, clock_for(device))


def warm_up(timed: Timed, *, seconds: float, min_calls: int = 3) -> float:
    """Call until both `min_calls` and `seconds` are reached; the median sample (seconds)."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < min_calls or time.perf_counter() < deadline:
        samples.append(timed.sample())
        if len(samples) >= 10_000:
            break
    return statistics.median(samples)


def rounds_for(estimate: float, settings: Settings) -> int:
    """Rounds that fit the budget, clamped to [min_rounds, max_rounds]."""
    if estimate <= 0:
        return settings.max_rounds
    return max(settings.min_rounds, min(settings.max_rounds,
                                        math.ceil(settings.seconds / estimate)))


def measure(timed: Timed, rounds: int) -> list[float]:
    """`rounds` samples, as pytest-benchmark's pedantic mode takes them."""
    return [timed.sample() for _ in range(rounds)]


@dataclass(frozen=True)
class Summary:
    """Median and spread of samples, with pytest-benchmark's quartile method."""

    median: float
    q1: float
    q3: float
    rounds: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        # pytest-benchmark's own statistics, so these figures equal those in its JSON.
        from pytest_benchmark.stats import Stats

        if not samples:
            raise ValueError("no samples")
        stats = Stats()  # type: ignore[no-untyped-call]  # pytest-benchmark ships no hints
        for sample in samples:
            stats.update(sample)  # type: ignore[no-untyped-call]  # as above
        return cls(stats.median, stats.q1, stats.q3, len(samples))
