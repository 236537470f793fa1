"""The comparison on hand-made records: what passes, what fails, and how it is named."""

from __future__ import annotations

import json

import pytest
from records_factory import TEMPLATE, bench, record, run, training

from torchship.config import Compare
from torchship.matrix import records
from torchship.matrix.compare import Comparison
from torchship.matrix.compare import compare as _compare
from torchship.matrix.records import Run

TOL = Compare(regression=0.10, noise=0.20)


def compare(r: Run, *, tolerances: Compare, baseline: Run | None = None) -> Comparison:
    """The template's contract (loss rtol 0.05, accuracy atol 0.05)."""
    return _compare(r, tolerances=tolerances, metrics=TEMPLATE, baseline=baseline)


def test_identical_environments_are_ok() -> None:
    cmp = compare(run(record("a"), record("b")), tolerances=TOL)
    assert cmp.ok, cmp.problems
    assert cmp.reference == "a"
    rows = [(r.env, r.suite, r.passed) for r in cmp.suites][:2]
    assert rows == [("a", "unit", 1), ("a", "e2e", 1)]


def test_configured_reference_is_used() -> None:
    cmp = compare(run(record("a"), record("b")), tolerances=Compare(reference="b"))
    assert cmp.reference == "b"


def test_test_passing_in_one_env_and_failing_in_another_is_named() -> None:
    cmp = compare(run(record("a"), record("b", unit=(("t1", "failed"),))), tolerances=TOL)
    assert [f.test for f in cmp.flips] == ["tests/unit/test_a.py::t1"]
    assert cmp.flips[0].passed_in == ("a",)
    assert cmp.flips[0].failed_in == ("b",)
    kinds = {(p.kind, p.env) for p in cmp.problems}
    assert ("suite", "b") in kinds
    assert ("flip", "b") in kinds


def test_training_within_tolerance_passes_and_beyond_fails() -> None:
    ok = compare(run(record("a", loss=0.200), record("b", loss=0.205)), tolerances=TOL)
    assert ok.ok
    bad = compare(run(record("a", loss=0.2), record("b", loss=0.3)), tolerances=TOL)
    [p] = bad.problems
    assert p.kind == "divergence"
    assert p.env == "b"
    assert "50.0%" in p.detail
    acc = compare(run(record("a", accuracy=0.95), record("b", accuracy=0.80)), tolerances=TOL)
    assert [p.kind for p in acc.problems] == ["divergence"]


def test_same_environment_twice_must_be_bitwise_identical() -> None:
    same = compare(run(record("a", repeat=training(0.2))), tolerances=TOL)
    assert same.ok
    assert same.training[0].deterministic is True
    diff = compare(run(record("a", repeat=training(0.2000001))), tolerances=TOL)
    assert [p.kind for p in diff.problems] == ["nondeterminism"]


def test_same_image_digest_in_two_envs_must_agree_bitwise() -> None:
    d = "sha256:" + "a" * 64
    cmp = compare(run(record("a", digest=d), record("b", digest=d, loss=0.2001)), tolerances=TOL)
    assert [p.kind for p in cmp.problems] == ["nondeterminism"]


def test_benchmark_ratios_regression_and_noise() -> None:
    cur = run(record("a", benches=(bench("test_mm[cpu]", 1.0),
                                   bench("test_add[cpu]", 1.0, iqr=0.5))),
              record("b", benches=(bench("test_mm[cpu]", 2.0), bench("test_add[cpu]", 1.0))))
    base = run(record("a", benches=(bench("test_mm[cpu]", 0.5), bench("test_add[cpu]", 0.95))),
               record("b", benches=(bench("test_mm[cpu]", 2.0), bench("test_add[cpu]", 1.0))),
               run_id="v0.1.0")
    cmp = compare(cur, tolerances=TOL, baseline=base)
    rows = {(r.env, r.name): r for r in cmp.benchmarks}
    assert rows[("b", "test_mm[cpu]")].vs_reference == 2.0
    assert rows[("a", "test_mm[cpu]")].vs_baseline == 2.0
    assert rows[("a", "test_mm[cpu]")].regressed
    assert not rows[("a", "test_add[cpu]")].regressed
    assert rows[("a", "test_add[cpu]")].noisy
    [p] = cmp.problems
    assert p.kind == "regression"
    assert p.env == "a"
    assert p.subject == "test_mm[cpu]"
    assert cmp.baseline == "v0.1.0"


def test_cpu_vs_gpu_speedup_pairs_cases_by_name_without_device() -> None:
    r = record("a", benches=(bench("test_mm[cpu-512]", 0.010), bench("test_mm[cuda-512]", 0.001,
                                                                        device="cuda")))
    [s] = compare(run(r), tolerances=TOL).speedups
    assert s.case == "test_mm[512]"
    assert s.speedup == pytest.approx(10.0)


def test_environment_that_failed_to_build_is_a_problem_and_others_still_compare() -> None:
    broken = records.Record(env="b", image="app:b", status="build-failed", reason="no such base")
    cmp = compare(run(record("a"), broken), tolerances=TOL)
    [p] = cmp.problems
    assert (p.kind, p.env, p.subject) == ("environment", "b", "build-failed")
    assert cmp.reference == "a"
    assert cmp.training[0].env == "a"


def test_run_round_trips_through_json(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    original = run(record("a", benches=(bench("x[cpu]", 1.0),), repeat=training()),
                   records.Record(env="b", image=None, status="timed-out", reason="unit > 60s"))
    records.save(original, folder)
    assert records.load(folder) == original


def test_incompatible_schema_is_a_clear_error(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    records.save(run(record("a")), folder)
    data = json.loads((folder / "run.json").read_text())
    data["schema"] = 99
    (folder / "run.json").write_text(json.dumps(data))
    with pytest.raises(records.RecordError, match="schema 99; this torchship reads schema 2"):
        records.load(folder)


def test_missing_results_folder_is_a_clear_error(tmp_path: object) -> None:
    from pathlib import Path

    with pytest.raises(records.RecordError, match="no matrix results here"):
        records.load(Path(str(tmp_path)) / "nope")


def test_a_slower_median_with_an_unchanged_best_round_is_noise_not_a_regression() -> None:
    from dataclasses import replace

    slow_median = replace(bench("test_mm[cpu]", 2.0, iqr=1.5), min=1.0)
    cmp = compare(run(record("a", benches=(slow_median,))), tolerances=TOL,
                  baseline=run(record("a", benches=(bench("test_mm[cpu]", 1.0),))))
    [row] = cmp.benchmarks
    assert row.vs_baseline == 2.0
    assert row.min_vs_baseline == 1.0
    assert not row.regressed
    assert row.noisy
    assert cmp.ok


def test_busy_is_judged_by_the_cores_of_the_machine_that_ran_each_record() -> None:
    """Shards merged from several machines: a load of 6 is busy on 4 cores, not on 32."""
    from dataclasses import replace

    small = replace(record("cpu@laptop"), host_load=6.0, fingerprint={"cpu": {"count": 4}})
    big = replace(record("cpu@server"), host_load=6.0, fingerprint={"cpu": {"count": 32}})
    unknown = replace(record("cpu@old"), host_load=6.0)  # no fingerprint: the run's host
    merged = replace(run(small, big, unknown), host={"cpu": {"count": 2}})
    c = compare(merged, tolerances=Compare())
    assert c.busy == ["cpu@laptop", "cpu@old"]
