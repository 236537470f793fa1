"""Records -> a Comparison: pure functions, no I/O (report.py renders the result).

What is compared, and against what:
- suites: pass/fail/skip counts per environment, and tests that pass in one environment
  and fail in another;
- training: each final metric that [tool.torchship.metrics.compare] names, per environment
  against the reference environment, within that metric's tolerance (results are not
  bitwise portable across PyTorch or CUDA builds); and bitwise identity of every per-epoch
  and final metric of two same-seed runs in deterministic mode (that one is exact), also
  across environments that ran the very same image. No compared metric: training is
  recorded and checked for determinism, not compared;
- benchmarks: median and IQR per case per environment, the ratio to the reference
  environment and to the baseline (the same environment in an earlier run), a regression
  when both the median and the best round are slower than the baseline's by more than
  `regression` (a busy machine inflates medians, rarely the best round), noise flagged
  when IQR/median is above `noise`;
- the CPU-vs-GPU speed-up per case where both ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from torchship.config import Compare, Metric, Metrics
from torchship.matrix.records import BenchCase, Record, Run, Training
from torchship.matrix.versions import Commit, EnvVersions, commit_of, of_run

ProblemKind = Literal["environment", "suite", "flip", "divergence", "nondeterminism",
                      "regression", "missing"]


@dataclass(frozen=True)
class Problem:
    """One reason the run fails, named so a person can act on it."""

    kind: ProblemKind
    env: str
    subject: str
    detail: str

    def render(self) -> str:
        return f"{self.kind}: {self.env}: {self.subject}: {self.detail}"


@dataclass(frozen=True)
class EnvRow:
    env: str
    image: str | None
    image_digest: str | None
    status: str
    reason: str
    wall_seconds: float
    host_load: float | None = None
    # The cores of the machine that ran it (its own fingerprint; shards of a merge ran on
    # several machines), else None: the run's host decides.
    cores: int | None = None


@dataclass(frozen=True)
class SuiteRow:
    env: str
    suite: str
    status: str
    passed: int
    failed: int
    skipped: int
    errors: int
    seconds: float


@dataclass(frozen=True)
class Flip:
    """A test that passes in some environments and fails in others."""

    test: str
    passed_in: tuple[str, ...]
    failed_in: tuple[str, ...]


@dataclass(frozen=True)
class MetricRow:
    """One compared final metric in one environment, against the reference environment."""

    metric: str
    value: float | None          # None: this run did not write it
    reference: float | None      # None: no reference value to compare with
    diff: float | None           # value - reference
    rdiff: float | None          # diff / |reference| (None when the reference is 0)
    tolerance: str               # as configured: `rtol 0.05`, `atol 0.01`, or both
    direction: Literal["better", "worse"] | None   # by the metric's `better`, when it has one
    within: bool


@dataclass(frozen=True)
class TrainingRow:
    env: str
    device: str
    metrics: tuple[MetricRow, ...]     # one per compared metric, in the configured order
    final: Mapping[str, float]         # every final metric the run wrote (shown when none is compared)
    within: bool
    deterministic: bool | None   # None: no repeat run to check against
    repeat_difference: str = ""  # where the repeat differed, when it did


@dataclass(frozen=True)
class BenchRow:
    env: str
    name: str
    case: str
    device: str
    median: float
    iqr: float
    noisy: bool
    vs_reference: float | None   # median / the reference environment's median (>1: slower)
    vs_baseline: float | None    # median / the baseline's median for the same env and case
    regressed: bool
    min_vs_baseline: float | None = None   # best round / the baseline's best round


@dataclass(frozen=True)
class Speedup:
    env: str
    case: str
    cpu_median: float
    gpu_median: float

    @property
    def speedup(self) -> float:
        return self.cpu_median / self.gpu_median if self.gpu_median > 0 else float("inf")


@dataclass(frozen=True)
class Comparison:
    run_id: str
    mode: str
    reference: str | None
    baseline: str | None          # the baseline run's id, when one was given
    tolerances: Compare
    metrics: Metrics              # the training contract: which final metrics are compared
    envs: tuple[EnvRow, ...]
    suites: tuple[SuiteRow, ...]
    flips: tuple[Flip, ...]
    training: tuple[TrainingRow, ...]
    benchmarks: tuple[BenchRow, ...]
    speedups: tuple[Speedup, ...]
    problems: tuple[Problem, ...]
    cores: int | None = None
    note: str = ""
    # What each environment ran on, and the code it ran (every report names them).
    versions: tuple[EnvVersions, ...] = ()
    commit: Commit | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def busy(self) -> list[str]:
        """Environments whose suites ended with the host's load above its core count."""
        return [e.env for e in self.envs if (cores := e.cores or self.cores)
                and e.host_load is not None and e.host_load > cores]


def pick_reference(run: Run, wanted: str | None) -> str | None:
    """The configured reference when it ran, else the first environment that ran."""
    ran = [r.env for r in run.records if r.status == "ok"]
    if wanted and wanted in ran:
        return wanted
    return ran[0] if ran else None


def compare(run: Run, *, tolerances: Compare, metrics: Metrics, baseline: Run | None = None,
            ) -> Comparison:
    """Put the records of `run` side by side (and against `baseline`)."""
    reference = pick_reference(run, tolerances.reference)
    problems: list[Problem] = []
    envs = tuple(EnvRow(r.env, r.image, r.image_digest, r.status, r.reason, r.wall_seconds,
                        r.host_load, (r.fingerprint.get("cpu") or {}).get("count"))
                 for r in run.records)
    for r in run.records:
        if r.status != "ok":
            problems.append(Problem("environment", r.env, r.status, r.reason or "no reason given"))
    suites, suite_problems = suite_rows(run.records)
    flips = find_flips(run.records)
    training, train_problems = training_rows(run.records, reference=reference, metrics=metrics)
    benches, bench_problems = bench_rows(run.records, reference=reference, tolerances=tolerances,
                                         baseline=baseline)
    problems += suite_problems
    problems += [Problem("flip", ",".join(f.failed_in), f.test,
                         f"passes in {', '.join(f.passed_in)}, fails in {', '.join(f.failed_in)}")
                 for f in flips]
    problems += train_problems + bench_problems
    return Comparison(
        run_id=run.run_id, mode=run.mode, reference=reference,
        baseline=baseline.run_id if baseline else None, tolerances=tolerances,
        metrics=metrics, envs=envs,
        suites=suites, flips=flips, training=training, benchmarks=benches,
        speedups=speedups(run.records), problems=tuple(problems),
        cores=(run.host.get("cpu") or {}).get("count"), note=run.note,
        versions=of_run(run), commit=commit_of(run))


def suite_rows(records: Sequence[Record]) -> tuple[tuple[SuiteRow, ...], list[Problem]]:
    rows: list[SuiteRow] = []
    problems: list[Problem] = []
    for r in records:
        for s in ([*r.suites, r.smoke] if r.smoke is not None else r.suites):
            name = "smoke (runtime)" if s is r.smoke else s.suite
            rows.append(SuiteRow(r.env, name, s.status, s.count("passed"), s.count("failed"),
                                 s.count("skipped"), s.count("error"), s.seconds))
            if not s.ok:
                failing = [t.id for t in s.tests if t.outcome in ("failed", "error")]
                detail = s.status + (f" ({s.reason})" if s.reason else "")
                if failing:
                    detail += f"; failing: {', '.join(failing[:5])}" + (
                        f" and {len(failing) - 5} more" if len(failing) > 5 else "")
                problems.append(Problem("suite", r.env, name, detail))
    return tuple(rows), problems


def find_flips(records: Sequence[Record]) -> tuple[Flip, ...]:
    """Tests that passed in one environment and failed (or errored) in another."""
    passed: dict[str, list[str]] = {}
    failed: dict[str, list[str]] = {}
    for r in records:
        for s in r.suites:
            for t in s.tests:
                if t.outcome == "passed":
                    passed.setdefault(t.id, []).append(r.env)
                elif t.outcome in ("failed", "error"):
                    failed.setdefault(t.id, []).append(r.env)
    return tuple(Flip(test, tuple(passed[test]), tuple(failed[test]))
                 for test in sorted(set(passed) & set(failed)))


def metric_row(m: Metric, value: float | None, reference: float | None) -> MetricRow:
    """One final metric against the reference's value, by the metric's tolerance."""
    if value is None or reference is None:
        # Nothing to compare with: a missing value is named as missing, not as divergence.
        return MetricRow(m.name, value, reference, None, None, m.describe(), None,
                         within=value is None or math.isfinite(value))
    diff = value - reference
    rdiff = diff / abs(reference) if reference else None
    direction: Literal["better", "worse"] | None = None
    if m.better and diff and math.isfinite(diff):
        direction = "better" if (diff > 0) == (m.better == "higher") else "worse"
    return MetricRow(m.name, value, reference, diff, rdiff, m.describe(), direction,
                     m.agrees(value, reference))


def fmt_delta(row: MetricRow, m: Metric | None = None) -> str:
    """The difference as the tolerance reads it: relative for rtol, absolute for atol."""
    if row.diff is None:
        return "-"
    relative = f"{row.rdiff:+.1%}" if row.rdiff is not None else ""
    absolute = f"{row.diff:+.4g}"
    if m is not None and m.rtol and not m.atol and relative:
        return relative
    if m is not None and m.atol and not m.rtol:
        return absolute
    return f"{absolute} ({relative})" if relative else absolute


def _divergence(row: MetricRow, m: Metric, reference_env: str | None) -> str:
    if row.value is not None and not math.isfinite(row.value):
        return f"final {m.name} is {row.value}"
    worded = f", {row.direction}" if row.direction else ""
    return (f"final {m.name} {row.value:.4g} vs {row.reference:.4g} in {reference_env} "
            f"({fmt_delta(row, m)}{worded}; tolerance {m.describe()})")


def training_rows(records: Sequence[Record], *, reference: str | None, metrics: Metrics,
                  ) -> tuple[tuple[TrainingRow, ...], list[Problem]]:
    by_env = {r.env: r for r in records if r.status == "ok"}
    ref = by_env.get(reference) if reference else None
    ref_train = ref.training if ref else None
    where = f"{metrics.train_dir}/{metrics.file}"
    rows: list[TrainingRow] = []
    problems: list[Problem] = []
    for r in by_env.values():
        t = r.training
        if t is None:
            e2e = r.suite("e2e")
            if metrics.compare and e2e is not None and e2e.ok:
                problems.append(Problem("missing", r.env, "training",
                                        f"the e2e suite passed but left no {where} "
                                        "(metrics are compared: [tool.torchship.metrics])"))
            continue
        compared: list[MetricRow] = []
        for m in metrics.compare:
            row = metric_row(m, t.final.get(m.name),
                             ref_train.final.get(m.name) if ref_train is not None else None)
            compared.append(row)
            if row.value is None:
                problems.append(Problem("missing", r.env, "training",
                                        f"{where} has no final {m.name!r} "
                                        f"(written: {', '.join(sorted(t.final)) or 'none'}); "
                                        "[tool.torchship.metrics.compare] compares it"))
        failing = [_divergence(row, m, reference) for row, m in zip(compared, metrics.compare,
                                                                     strict=True)
                   if row.value is not None and not row.within]
        if failing:
            problems.append(Problem("divergence", r.env, "training", "; ".join(failing)))
        deterministic, difference = _repeat(t, r.repeat)
        if deterministic is False:
            problems.append(Problem("nondeterminism", r.env, "training",
                                    f"two deterministic runs with seed {t.seed} differ: "
                                    f"{difference}"))
        rows.append(TrainingRow(r.env, t.device, tuple(compared), dict(t.final),
                                within=not failing, deterministic=deterministic,
                                repeat_difference=difference or ""))
    problems += same_image_problems(list(by_env.values()))
    return tuple(rows), problems


def _repeat(t: Training, repeat: Training | None) -> tuple[bool | None, str | None]:
    """Whether a same-seed repeat agrees bitwise (None: none, or not deterministic mode)."""
    if repeat is None or not (t.deterministic and repeat.deterministic):
        return None, None
    difference = t.first_difference(repeat)
    return difference is None, difference


def same_image_problems(records: Sequence[Record]) -> list[Problem]:
    """Two environments that ran the very same image deterministically on the same kind of
    GPU (or none) must agree bitwise; across GPU kinds (merged shards) they need not."""
    problems: list[Problem] = []
    seen: dict[tuple[str, tuple[str, ...]], Record] = {}
    for r in records:
        if not r.image_digest or r.training is None or not r.training.deterministic:
            continue
        gpus = tuple(str(g.get("name")) for g in r.fingerprint.get("gpus") or ()
                     if isinstance(g, dict))
        first = seen.setdefault((r.image_digest, gpus), r)
        if first is r or first.training is None:
            continue
        difference = first.training.first_difference(r.training)
        if difference is not None:
            problems.append(Problem(
                "nondeterminism", r.env, "training",
                f"same image as {first.env} ({r.image_digest[:19]}) but different metrics: "
                f"{difference}"))
    return problems


def _index(records: Sequence[Record]) -> dict[tuple[str, str], BenchCase]:
    return {(r.env, b.name): b for r in records if r.status == "ok" for b in r.benchmarks}


def bench_rows(records: Sequence[Record], *, reference: str | None, tolerances: Compare,
               baseline: Run | None) -> tuple[tuple[BenchRow, ...], list[Problem]]:
    base = _index(baseline.records) if baseline else {}
    # A local run against a baseline from images (or the reverse) still has one env to use.
    base_envs = {env for env, _ in base}
    rows: list[BenchRow] = []
    problems: list[Problem] = []
    current = _index(records)
    for (env, name), b in current.items():
        ref = current.get((reference, name)) if reference else None
        vs_ref = b.median / ref.median if ref is not None and ref.median > 0 else None
        base_env = env if env in base_envs else (
            next(iter(base_envs)) if len(base_envs) == 1 else None)
        old = base.get((base_env, name)) if base_env else None
        vs_base = b.median / old.median if old is not None and old.median > 0 else None
        min_base = b.min / old.min if old is not None and old.min > 0 else None
        # Slower at the median AND at the best round: noise from a busy machine only adds
        # time, so a true regression moves the best round too, while a noisy run does not.
        regressed = (vs_base is not None and vs_base > 1 + tolerances.regression
                     and min_base is not None and min_base > 1 + tolerances.regression)
        noisy = b.noise > tolerances.noise
        if regressed:
            problems.append(Problem(
                "regression", env, name,
                f"median {_fmt_s(b.median)} vs {_fmt_s(old.median)} in the baseline "  # type: ignore[union-attr]  # regressed implies old
                f"({vs_base - 1:+.0%}, best round {min_base - 1:+.0%}, threshold "  # type: ignore[operator]  # regressed implies both ratios
                f"+{tolerances.regression:.0%})"
                + ("; noisy, re-run to confirm" if noisy else "")))
        rows.append(BenchRow(env, name, b.case, b.device, b.median, b.iqr, noisy, vs_ref,
                             vs_base, regressed, min_base))
    return tuple(rows), problems


def speedups(records: Sequence[Record]) -> tuple[Speedup, ...]:
    """CPU median / GPU median per case, in each environment where both ran."""
    out: list[Speedup] = []
    for r in records:
        cpu = {b.case: b for b in r.benchmarks if b.device == "cpu"}
        for b in r.benchmarks:
            if b.device != "cpu" and b.case in cpu:
                out.append(Speedup(r.env, b.case, cpu[b.case].median, b.median))
    return tuple(out)


def _fmt_s(seconds: float) -> str:
    """A duration with a unit a person reads at a glance."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


fmt_seconds = _fmt_s


def fmt_ratio(value: float | None) -> str:
    """A benchmark ratio as the reports show it (`-` when there is none)."""
    return "-" if value is None else f"{value:.2f}x"
