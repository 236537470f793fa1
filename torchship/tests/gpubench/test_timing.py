"""The timing layer, on the CPU with real (small) tensor operations. No timed assertions."""

from __future__ import annotations

import time

import pytest
import torch
from pytest_benchmark.stats import Stats

from torchship.gpubench import timing


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 100])
def test_summary_quartiles_match_pytest_benchmark(n: int) -> None:
    data = [((i * 7919) % 101) / 10 for i in range(n)]
    ours, theirs = timing.Summary.of(data), Stats()
    for value in data:
        theirs.update(value)
    assert (ours.median, ours.q1, ours.q3, ours.iqr) == pytest.approx(
        (theirs.median, theirs.q1, theirs.q3, theirs.iqr))
    assert ours.rounds == n


def test_summary_needs_samples() -> None:
    with pytest.raises(ValueError, match="no samples"):
        timing.Summary.of([])


def test_cpu_samples_time_a_real_matmul() -> None:
    a = torch.randn(64, 64)
    timed = timing.prepare(lambda: a @ a, device="cpu", flush=False)
    assert timed.clock is time.perf_counter
    assert timed.setup is None
    estimate = timing.warm_up(timed, seconds=0.0, min_calls=3)
    samples = timing.measure(timed, 7)
    assert estimate > 0
    assert len(samples) == 7
    assert all(s > 0 for s in samples)


def test_flush_runs_untimed_before_each_call() -> None:
    order: list[str] = []
    timed = timing.prepare(lambda: order.append("call"), device="cpu", flush=True)
    assert isinstance(timed.setup, timing.CacheFlusher)
    flusher = timed.setup
    flusher.buffer.fill_(7)
    real_setup = timing.Timed(timed.fn, "cpu", lambda: (flusher(), order.append("flush")),
                              timed.clock)
    real_setup.sample()
    assert order == ["flush", "call"]
    assert int(flusher.buffer.max()) == 0  # the buffer really was overwritten


def test_flush_buffer_is_larger_than_the_cpu_cache() -> None:
    llc = timing._cpu_llc_bytes()
    size = timing.flush_bytes("cpu")
    assert size >= 64 * timing.MIB
    if llc:
        assert size >= 2 * llc


def test_cuda_cases_get_the_event_clock() -> None:
    assert isinstance(timing.clock_for("cuda"), timing.CudaEventClock)
    assert isinstance(timing.clock_for("cuda:1"), timing.CudaEventClock)
    assert timing.clock_for("cpu") is time.perf_counter
    assert timing.CUDA_CLOCK.__name__ == "CudaEventClock"


@pytest.mark.parametrize(("estimate", "expected"), [
    (0.001, 400), (1.0, 5), (1e-9, 500), (0.0, 500), (0.1, 5), (0.05, 8)])
def test_rounds_fill_the_budget_within_bounds(estimate: float, expected: int) -> None:
    settings = timing.Settings(threads=1, seconds=0.4, min_rounds=5, max_rounds=500)
    assert timing.rounds_for(estimate, settings) == expected


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("THREADS", "SECONDS", "WARMUP", "FLUSH"):
        monkeypatch.delenv(f"TORCHSHIP_BENCH_{var}", raising=False)
    cpu, gpu = timing.Settings.from_env("cpu"), timing.Settings.from_env("cuda")
    assert not cpu.flush_l2
    assert gpu.flush_l2
    assert cpu.threads == timing.default_threads()
    monkeypatch.setenv("TORCHSHIP_BENCH_THREADS", "1")
    monkeypatch.setenv("TORCHSHIP_BENCH_SECONDS", "2.5")
    monkeypatch.setenv("TORCHSHIP_BENCH_FLUSH", "yes")
    s = timing.Settings.from_env("cpu")
    assert (s.threads, s.seconds, s.flush_l2) == (1, 2.5, True)


def test_pin_threads() -> None:
    before = torch.get_num_threads()
    try:
        assert timing.pin_threads(1) == 1
    finally:
        torch.set_num_threads(before)
