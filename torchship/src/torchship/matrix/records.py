"""Typed results: what one suite run produced in one environment, saved as versioned JSON.

A `Record` is everything one environment (an image, or the host as "local") produced: the
outcome of each suite (parsed from its junit XML), benchmark statistics (pytest-benchmark's
JSON), the e2e training run (its metrics file, validated against the metrics contract:
schemas/metrics.schema.json, docs/contract.md), the fingerprint from inside the environment
and the wall times. A `Run` is the records of one matrix run. Both round-trip through JSON with a schema
version; reading a file written by an incompatible version is one clear error.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from torchship.config import EPOCH_KEYS, Metrics
from torchship.errors import TorchshipError

# 2: training is the metrics contract's shape (any metrics), no longer loss/accuracy fields.
SCHEMA = 2
RUN_FILE = "run.json"

Outcome = Literal["passed", "failed", "skipped", "error"]
# ok: the environment ran; the others say why it produced nothing (or not everything).
Status = Literal["ok", "build-failed", "start-failed", "timed-out", "failed"]
SuiteStatus = Literal["passed", "failed", "timed-out", "crashed", "not-run"]
SUITES: tuple[str, ...] = ("unit", "e2e", "benchmark")
LOCAL = "local"


class RecordError(TorchshipError):
    """A results file is missing, malformed, or from an incompatible version."""

    def __init__(self, path: Path | str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {problem}", hint=hint)
        self.path = str(path)


@dataclass(frozen=True)
class TestResult:
    """One test's outcome, keyed by its pytest-style id (`tests/unit/test_x.py::test_y`)."""

    id: str
    outcome: Outcome
    seconds: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class SuiteResult:
    """One suite in one environment: its status, exit code, time and per-test outcomes."""

    suite: str
    status: SuiteStatus
    exit_code: int | None = None
    seconds: float = 0.0
    tests: tuple[TestResult, ...] = ()
    reason: str = ""

    def count(self, outcome: Outcome) -> int:
        return sum(1 for t in self.tests if t.outcome == outcome)

    @property
    def ok(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class BenchCase:
    """One pytest-benchmark case: robust statistics (seconds) and its extra_info."""

    name: str
    device: str
    median: float
    iqr: float
    mean: float
    stddev: float
    min: float
    rounds: int
    group: str | None = None
    extra_info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def case(self) -> str:
        """The name without its device: pairs a CPU case with its CUDA twin."""
        given = self.extra_info.get("case")
        return given if isinstance(given, str) and given else case_key(self.name, self.device)

    @property
    def noise(self) -> float:
        """IQR/median: how spread the timings were (0 is perfectly steady)."""
        return self.iqr / self.median if self.median > 0 else math.inf


@dataclass(frozen=True)
class Epoch:
    """One evaluation of a training run: its index, its metrics, its wall time."""

    epoch: int
    metrics: Mapping[str, float]
    seconds: float | None = None      # recorded, never compared

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, **self.metrics,
                **({"seconds": self.seconds} if self.seconds is not None else {})}


@dataclass(frozen=True)
class Training:
    """A training run, as its metrics file gives it (the contract: docs/contract.md)."""

    seed: int
    device: str
    deterministic: bool
    epochs: tuple[Epoch, ...]
    final: Mapping[str, float]
    # What makes the run an experiment one can repeat (optional in the contract): every
    # argument, the data's identity, the run's own fingerprint and the commit that trained.
    args: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] | None = None
    env: Mapping[str, Any] = field(default_factory=dict)
    commit: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every metric the run wrote: the final ones, then those only per epoch."""
        seen = dict.fromkeys(self.final)
        for e in self.epochs:
            seen.update(dict.fromkeys(e.metrics))
        return tuple(seen)

    def series(self, metric: str) -> tuple[float | None, ...]:
        """One metric per epoch (None where an epoch lacks it)."""
        return tuple(e.metrics.get(metric) for e in self.epochs)

    def first_difference(self, other: Training) -> str | None:
        """Where `other` differs from this run in any per-epoch or final metric (None: nowhere).

        Exact: the determinism check. Wall times are not metrics and are ignored."""
        if len(self.epochs) != len(other.epochs):
            return f"{len(self.epochs)} epochs, then {len(other.epochs)}"
        for a, b in zip(self.epochs, other.epochs, strict=True):
            if a.epoch != b.epoch:
                return f"epoch {a.epoch}, then epoch {b.epoch}"
        pairs = [(f"epoch {a.epoch}", a.metrics, b.metrics)
                 for a, b in zip(self.epochs, other.epochs, strict=True)]
        for where, mine, theirs in [*pairs, ("final", self.final, other.final)]:
            for name in dict.fromkeys([*mine, *theirs]):
                x, y = mine.get(name), theirs.get(name)
                if not _same(x, y):
                    return f"{where} {name} {x!r}, then {y!r}"
        return None

    def to_json(self) -> dict[str, Any]:
        """The metrics-file form (run.json stores it so, and reads it back through the schema)."""
        out: dict[str, Any] = {"seed": self.seed, "device": self.device,
                               "deterministic": self.deterministic,
                               "epochs": [e.to_json() for e in self.epochs], "final": dict(self.final)}
        if self.args:
            out["args"] = dict(self.args)
        if self.data is not None:
            out["data"] = dict(self.data)
        if self.env:
            out["env"] = dict(self.env)
        if self.commit is not None:
            out["commit"] = self.commit
        return out


def _same(x: float | None, y: float | None) -> bool:
    """Bitwise-equal floats, where NaN equals NaN (a run that diverges the same way agrees)."""
    if x is None or y is None:
        return x is y
    return x == y or (math.isnan(x) and math.isnan(y))


@dataclass(frozen=True)
class Record:
    """Everything one environment produced in one run."""

    env: str
    image: str | None            # None: the suites ran on the host, no image was used
    image_digest: str | None = None
    status: Status = "ok"
    reason: str = ""
    suites: tuple[SuiteResult, ...] = ()
    benchmarks: tuple[BenchCase, ...] = ()
    training: Training | None = None
    # A second training run with the same seed in the same environment (determinism check).
    repeat: Training | None = None
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    smoke: SuiteResult | None = None   # the runtime image's smoke test, when one ran
    # The host's 1-minute load average when the suites ended: a busy host makes timings lie.
    host_load: float | None = None

    @property
    def local(self) -> bool:
        return self.image is None

    def suite(self, name: str) -> SuiteResult | None:
        return next((s for s in self.suites if s.suite == name), None)

    @property
    def failures(self) -> list[str]:
        """A line per thing that went wrong in this environment (empty: all good)."""
        if self.status != "ok":
            return [f"{self.env}: {self.status}: {self.reason}"]
        out = [f"{self.env}: suite {s.suite} {s.status}"
               + (f" ({s.reason})" if s.reason else "")
               for s in self.suites if not s.ok]
        if self.smoke is not None and not self.smoke.ok:
            out.append(f"{self.env}: runtime smoke test {self.smoke.status}"
                       + (f" ({self.smoke.reason})" if self.smoke.reason else ""))
        return out


@dataclass(frozen=True)
class Run:
    """The records of one matrix run, with where and how it ran."""

    run_id: str
    created: str
    mode: Literal["local", "containers"]
    records: tuple[Record, ...]
    host: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""             # why the suites ran where they did (e.g. no engine)
    schema: int = SCHEMA

    def record(self, env: str) -> Record | None:
        return next((r for r in self.records if r.env == env), None)


# ---------------------------------------------------------------- parsing suite outputs

_PARAM = re.compile(r"^(?P<base>[^\[]*)\[(?P<params>.*)\]$")


def case_key(name: str, device: str) -> str:
    """`test_matmul[cuda-512]` -> `test_matmul[512]`; `test_step[cpu]` -> `test_step`."""
    m = _PARAM.match(name)
    if not m:
        return name
    parts = [p for p in m["params"].split("-")
             if p != device and not (device != "cpu" and p.startswith(device.split(":")[0]))]
    return f"{m['base']}[{'-'.join(parts)}]" if parts else m["base"]


def _device_of(bench: Mapping[str, Any]) -> str:
    extra = bench.get("extra_info") or {}
    if isinstance(extra.get("device"), str):
        return "cuda" if extra["device"].startswith("cuda") else str(extra["device"])
    params = bench.get("params") or {}
    for value in params.values():
        if isinstance(value, str) and value.startswith(("cuda", "cpu")):
            return "cuda" if value.startswith("cuda") else "cpu"
    return "cuda" if "cuda" in str(bench.get("name", "")) else "cpu"


def parse_junit(path: Path, *, suite: str) -> tuple[TestResult, ...]:
    """Per-test outcomes from a junit XML report (pytest's --junitxml)."""
    import xml.etree.ElementTree as ET  # only a matrix run reads junit (a release does not)

    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError as exc:
        raise RecordError(path, "no junit report", hint=f"the {suite} suite wrote none") from exc
    except ET.ParseError as exc:
        raise RecordError(path, f"not valid junit XML: {exc}") from exc
    results: list[TestResult] = []
    for case in root.iter("testcase"):
        classname = case.get("classname", "")
        name = case.get("name", "")
        # pytest's classname is dotted (tests.unit.test_x[.Class]); ids use the file path.
        mod, _, cls = classname.partition(".Test") if ".Test" in classname else (classname, "", "")
        file = mod.replace(".", "/") + ".py" if mod else ""
        test_id = f"{file}::{'Test' + cls + '::' if cls else ''}{name}" if file else name
        outcome: Outcome = "passed"
        message = ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "error"
                lines = (child.get("message") or "").splitlines()
                message = lines[0][:200] if lines else ""
                break
            if child.tag == "skipped":
                outcome = "skipped"
                message = (child.get("message") or "")[:200]
        results.append(TestResult(test_id, outcome, float(case.get("time") or 0.0), message))
    return tuple(results)


def parse_benchmarks(path: Path) -> tuple[BenchCase, ...]:
    """Cases from pytest-benchmark's --benchmark-json output."""
    data = _read_json(path)
    cases: list[BenchCase] = []
    try:
        for b in data.get("benchmarks", []):
            s = b["stats"]
            cases.append(BenchCase(
                name=str(b["name"]), device=_device_of(b), median=float(s["median"]),
                iqr=float(s["iqr"]), mean=float(s["mean"]), stddev=float(s["stddev"]),
                min=float(s["min"]), rounds=int(s["rounds"]), group=b.get("group"),
                extra_info=dict(b.get("extra_info") or {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(path, f"not pytest-benchmark JSON ({exc!r} missing or wrong)") from exc
    return tuple(cases)


METRICS_SCHEMA = "metrics.schema.json"
CONTRACT_HINT = "see the metrics contract: torchship's docs/contract.md"


def metrics_schema() -> dict[str, Any]:
    """The JSON Schema a metrics file must satisfy (shipped in torchship/schemas/)."""
    from importlib.resources import files

    schema: dict[str, Any] = json.loads((files("torchship") / "schemas" / METRICS_SCHEMA).read_text())
    return schema


@functools.cache
def _validator() -> Any:
    import jsonschema  # here, not at the top: importing records must stay cheap

    schema = metrics_schema()
    validator = jsonschema.validators.validator_for(schema)
    return validator(schema)


def field_path(path: Sequence[str | int]) -> str:
    """['epochs', 2, 'loss'] -> 'epochs[2].loss'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_metrics(data: Any, where: Path | str) -> None:
    """Raise one RecordError naming the file and the first field that breaks the schema."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is not None:
        at = field_path(list(error.absolute_path))
        raise RecordError(where, f"{at}: {error.message}" if at else error.message,
                          hint=CONTRACT_HINT)


def parse_training(path: Path) -> Training:
    """A training run's metrics file, validated against the metrics contract."""
    return training_from_json(_read_json(path), path)


def training_from_json(d: Mapping[str, Any], where: Path | str) -> Training:
    validate_metrics(d, where)
    return Training(
        seed=int(d["seed"]), device=str(d["device"]), deterministic=bool(d["deterministic"]),
        epochs=tuple(Epoch(int(e["epoch"]),
                           {k: float(v) for k, v in e.items() if k not in EPOCH_KEYS},
                           float(e["seconds"]) if "seconds" in e else None)
                     for e in d["epochs"]),
        final={k: float(v) for k, v in d["final"].items()},
        args=dict(d.get("args") or {}), data=dict(d["data"]) if d.get("data") else None,
        env=dict(d.get("env") or {}), commit=d.get("commit"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise RecordError(path, "not found") from exc
    except json.JSONDecodeError as exc:
        raise RecordError(path, f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RecordError(path, "expected a JSON object")
    return data


# ---------------------------------------------------------------- JSON round trip


def to_dict(run: Run) -> dict[str, Any]:
    data = asdict(run)
    for record, raw in zip(run.records, data["records"], strict=True):
        for key in ("training", "repeat"):
            training = getattr(record, key)
            raw[key] = training.to_json() if training is not None else None
    return data


def _suite(d: Mapping[str, Any]) -> SuiteResult:
    return SuiteResult(
        suite=d["suite"], status=d["status"], exit_code=d.get("exit_code"),
        seconds=float(d.get("seconds", 0.0)), reason=d.get("reason", ""),
        tests=tuple(TestResult(t["id"], t["outcome"], float(t.get("seconds", 0.0)),
                               t.get("message", "")) for t in d.get("tests", ())))


def _record(d: Mapping[str, Any], where: Path | str) -> Record:
    return Record(
        env=d["env"], image=d.get("image"), image_digest=d.get("image_digest"),
        status=d.get("status", "ok"), reason=d.get("reason", ""),
        suites=tuple(_suite(s) for s in d.get("suites", ())),
        benchmarks=tuple(BenchCase(**{**b, "extra_info": dict(b.get("extra_info") or {})})
                         for b in d.get("benchmarks", ())),
        training=training_from_json(d["training"], f"{where}: {d['env']}: training")
        if d.get("training") else None,
        repeat=training_from_json(d["repeat"], f"{where}: {d['env']}: repeat")
        if d.get("repeat") else None,
        fingerprint=dict(d.get("fingerprint") or {}),
        wall_seconds=float(d.get("wall_seconds", 0.0)),
        smoke=_suite(d["smoke"]) if d.get("smoke") else None,
        host_load=d.get("host_load"))


def from_dict(data: Mapping[str, Any], *, where: Path | str = "<run>") -> Run:
    """A Run from its JSON form; a different schema version is a clear error."""
    schema = data.get("schema")
    if schema != SCHEMA:
        raise RecordError(where, f"results written with schema {schema!r}; this torchship reads "
                                 f"schema {SCHEMA}",
                          hint="re-run the matrix with this version, or compare with the "
                               "torchship version that wrote them")
    try:
        return Run(run_id=str(data["run_id"]), created=str(data["created"]),
                   mode=cast(Any, data["mode"]),
                   records=tuple(_record(r, where) for r in data["records"]),
                   host=dict(data.get("host") or {}), note=str(data.get("note", "")),
                   schema=SCHEMA)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RecordError):
            raise
        raise RecordError(where, f"malformed results ({exc!r})") from exc


def save(run: Run, folder: Path) -> Path:
    """Write `run` to folder/run.json (and one JSON per record, handy to read alone)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RUN_FILE
    path.write_text(json.dumps(to_dict(run), indent=2, sort_keys=True) + "\n")
    return path


def load(folder_or_file: Path) -> Run:
    """Read a run from its folder (or its run.json)."""
    path = folder_or_file / RUN_FILE if folder_or_file.is_dir() else folder_or_file
    if not path.exists():
        raise RecordError(folder_or_file, "no matrix results here",
                          hint=f"expected {RUN_FILE}, written by `nox -s gpu_tests`")
    return from_dict(_read_json(path), where=path)


def collect_suite_outputs(folder: Path, *, suites: Sequence[str] = SUITES,
                          ) -> tuple[dict[str, tuple[TestResult, ...]], tuple[BenchCase, ...]]:
    """Read what the suites left in a results folder (junit-*.xml, benchmark.json)."""
    tests: dict[str, tuple[TestResult, ...]] = {}
    for suite in suites:
        junit = folder / f"junit-{junit_name(suite)}.xml"
        if junit.exists():
            tests[suite] = parse_junit(junit, suite=suite)
    bench = folder / "benchmark.json"
    benchmarks = parse_benchmarks(bench) if bench.exists() else ()
    return tests, benchmarks


def training_paths(folder: Path, metrics: Metrics) -> tuple[Path, Path | None]:
    """Where the e2e suite leaves its training run's metrics file, and its repeat's."""
    return (folder / metrics.train_dir / metrics.file,
            folder / metrics.repeat_dir / metrics.file if metrics.repeat_dir else None)


def collect_training(folder: Path, metrics: Metrics) -> tuple[Training | None, Training | None]:
    """The training run and its same-seed repeat, when the suites left them (validated)."""
    train, repeat = training_paths(folder, metrics)
    return (parse_training(train) if train.exists() else None,
            parse_training(repeat) if repeat is not None and repeat.exists() else None)


def junit_name(suite: str) -> str:
    """The junit file's suffix: the nox session `benchmark` runs tests/benchmarks."""
    return "benchmarks" if suite == "benchmark" else suite
