"""Hand-made records for the comparison tests (no suite has to run to build them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torchship.config import Metric, Metrics
from torchship.matrix.records import BenchCase, Epoch, Record, Run, SuiteResult, TestResult, Training

# The template's contract: loss within 5% and accuracy within 0.05 of the reference.
TEMPLATE = Metrics()
# A regression project's: one metric, lower is better, no accuracy.
RMSE = Metrics(compare=(Metric("rmse", rtol=0.10, better="lower"),))


def training(final_loss: float = 0.2, accuracy: float = 0.95, *, seed: int = 0) -> Training:
    return trained([{"loss": 0.6, "accuracy": 0.7}, {"loss": final_loss, "accuracy": accuracy}],
                   seed=seed)


def trained(epochs: Sequence[Mapping[str, float]], *, final: Mapping[str, float] | None = None,
            seed: int = 0, deterministic: bool = True) -> Training:
    """A run with these per-epoch metrics; its final metrics are the last epoch's by default."""
    return Training(seed=seed, device="cpu", deterministic=deterministic,
                    epochs=tuple(Epoch(i, dict(m), 1.0) for i, m in enumerate(epochs, 1)),
                    final=dict(final if final is not None else epochs[-1]))


def bench(name: str, median: float, *, iqr: float = 0.0, device: str = "cpu") -> BenchCase:
    return BenchCase(name=name, device=device, median=median, iqr=iqr, mean=median,
                     stddev=iqr, min=median, rounds=10)


def suite(name: str, *outcomes: tuple[str, str]) -> SuiteResult:
    tests = tuple(TestResult(f"tests/{name}/test_a.py::{t}", o) for t, o in outcomes)  # type: ignore[arg-type]
    failed = any(o in ("failed", "error") for _, o in outcomes)
    return SuiteResult(name, "failed" if failed else "passed", 1 if failed else 0, 1.0, tests)


def record(env: str, *, loss: float = 0.2, accuracy: float = 0.95,
           benches: tuple[BenchCase, ...] = (),
           unit: tuple[tuple[str, str], ...] = (("t1", "passed"),),
           digest: str | None = None, repeat: Training | None = None,
           train: Training | None = None) -> Record:
    return Record(env=env, image=f"app:{env}", image_digest=digest,
                  suites=(suite("unit", *unit), suite("e2e", ("train", "passed"))),
                  benchmarks=benches, training=train or training(loss, accuracy), repeat=repeat)


def run(*records: Record, run_id: str = "r1") -> Run:
    return Run(run_id=run_id, created="2026-01-01T00:00:00+00:00", mode="containers",
               records=tuple(records))
