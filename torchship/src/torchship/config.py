"""[tool.torchship] in pyproject.toml -> frozen, validated dataclasses.

Each fact lives here once: the pinned bases (the image matrix), the image name, the
release policy, the comparison tolerances and the project contract (what the tool runs of
the project, and the training metrics it reads and compares; docs/contract.md). Everything
else reads it from `load()`.

The tables are declared once, below, as pydantic dataclasses: each field's type, default
and rule in its annotation, and the one line a person sees when it is broken. `load`
validates the whole of [tool.torchship] in one pass and turns pydantic's first error into a
ConfigError naming the key (`tool.torchship.release.branch: is empty (e.g. "main")`).

A git-ignored `torchship.local.toml` beside pyproject.toml (or the file named by
$TORCHSHIP_LOCAL_CONFIG) may replace `image` and the `bases` tables: the way to point a
machine at a registry mirror, or at locally built stand-in bases, without editing the
committed configuration; and the `slurm` table: a site's own partition and account.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    Strict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import ArgsKwargs, PydanticCustomError

from torchship import toolsource
from torchship.errors import ConfigError
from torchship.images.reference import Reference
from torchship.toolsource import INDEX, ToolSource

if TYPE_CHECKING:
    from pydantic import ValidatorFunctionWrapHandler

    from torchship.gpubench.peaks import Peak

VARIANTS: tuple[str, ...] = ("runtime", "devel")
LOCAL_CONFIG = "torchship.local.toml"

_ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PATTERN = re.compile(r"^[A-Za-z0-9._/-]*\*?$")
# Where a keyed table's key ([bases.<env>], [metrics.compare.<name>]) travels into its entry.
_KEY = "\0key"
# Every table: no key but its fields (_Table names the allowed ones first); validators built
# on first use, not at import.
_TABLE = ConfigDict(extra="forbid", defer_build=True)


# ---------------------------------------------------------------- the rules, declared once

def _fail(problem: str, hint: str | None = None, *, at: str | tuple[str, ...] = ()) -> PydanticCustomError:
    """A refusal in our words; `at`: the key below the one being validated it is about."""
    return PydanticCustomError("torchship", "{problem}", {"problem": problem, "hint": hint,
                                                          "at": (at,) if isinstance(at, str) else at})


def _lift(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`check` (a function raising ConfigError) as a validator: pydantic names the key."""
    def run(value: Any) -> Any:
        try:
            return check(value)
        except ConfigError as exc:
            raise _fail(exc.problem, exc.hint) from exc
    return run


def _says(problem: str, hint: str | None = None) -> WrapValidator:
    """Whatever is wrong with the value itself is said as `problem` ({!r}: the value)."""
    def wrap(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            if err["type"] == "torchship":  # already in our words
                raise
            raise _fail(problem.format(value), hint) from None
    return WrapValidator(wrap)


def _check(test: Callable[[Any], bool], problem: str, hint: str | None = None) -> AfterValidator:
    """A value of the right type that must also pass `test` ({!r} in problem: the value)."""
    def run(value: Any) -> Any:
        if not test(value):
            raise _fail(problem.format(list(value) if isinstance(value, tuple) else value), hint)
        return value
    return AfterValidator(run)


def _keyed(check: Callable[[str, Any], None], *, as_dict: bool = False) -> BeforeValidator:
    """A table of tables ([bases.<env>]): each entry, after `check(key, entry)`, learns its
    key (as its class's `_named` field); validated as a tuple of entries unless `as_dict`."""
    def entries(table: Any) -> Any:
        if isinstance(table, tuple):  # built in code
            return table
        if not isinstance(table, dict):
            raise _fail("must be a table")
        for key, raw in table.items():
            check(key, raw)
        named = {k: {**v, _KEY: k} if isinstance(v, dict) else v for k, v in table.items()}
        return named if as_dict else list(named.values())
    return BeforeValidator(entries)


def _gpu_kind(says: str, example: str) -> BeforeValidator:
    """[ci.gpus] and [slurm.gres]: GPU kind -> a non-empty string."""
    def check(key: str, value: Any) -> None:
        if not _ENV_NAME.match(key) or not isinstance(value, str) or not value.strip():
            raise _fail(f"a GPU kind (lower-case letters, digits, . _ -) {says}", f"e.g. {example}", at=key)
    def kinds(table: Any) -> Any:
        for key, value in table.items() if isinstance(table, dict) else ():
            check(key, value)
        return table
    return BeforeValidator(kinds)


def inside_project(rel: str, key: str, example: str) -> str:
    """`rel`, a path relative to the project's folder that stays inside it (never empty or
    `.`, absolute, `..` or with backslashes), normalised; else the one-line refusal."""
    path = PurePosixPath(rel)
    if not rel or not path.parts or path.is_absolute() or ".." in path.parts or "\\" in rel:
        raise ConfigError(key, f"{rel!r} is not a path inside the project",
                          hint=f'a path relative to pyproject.toml\'s folder, e.g. "{example}"')
    return str(path)


def _in_project(example: str) -> AfterValidator:
    return AfterValidator(_lift(lambda rel: inside_project(rel, "", example)))


def _command(example: str) -> BeforeValidator:
    """A command as an argument list: a string (split as a shell would) or a list of strings."""
    def argv(value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = shlex.split(value)
            except ValueError as exc:
                raise _fail(f"{value!r} cannot be split into arguments: {exc}") from exc
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _fail("must be a command: a string or a list of strings")
        if not value:
            raise _fail("is empty", f"e.g. {example!r}")
        return tuple(value)
    return BeforeValidator(argv)


def _results_path(value: str) -> str:
    if value and (Path(value).is_absolute() or ".." in Path(value).parts):
        raise _fail(f"{value!r} must be a path relative to the results folder")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise _fail(f"not a regular expression: {exc}") from exc
    return value


def _reference(value: Any) -> Reference:
    if isinstance(value, Reference):
        return value
    if not isinstance(value, str):
        raise _fail(f"must be a string, not {type(value).__name__}")
    ref: Reference = _lift(Reference.parse)(value)
    return ref


_Ref = Annotated[Reference, PlainValidator(_reference)]
_ResultsPath = Annotated[StrictStr, AfterValidator(_results_path)]
_Names = Annotated[tuple[StrictStr, ...], _says("must be a list of names")]
_Tolerance = Annotated[float, Strict(), _check(lambda x: math.isfinite(x) and x >= 0, "must be a number >= 0, "
                                              "not {!r}"), _says("must be a number >= 0, not {!r}")]
_Positive = Annotated[float, Strict(), _check(lambda x: x > 0, "must be a positive number, not {!r}"),
                      _says("must be a positive number, not {!r}")]


@dataclass(frozen=True, config=_TABLE)
class _Table:
    """Every table: a non-table and unknown keys are refused first, the allowed keys named."""

    _named: ClassVar[str | None] = None           # the field its key in a table of tables fills
    _moved: ClassVar[Mapping[str, tuple[str, str]]] = {}   # keys that moved: what to say instead
    _example: ClassVar[str | None] = None         # how a table of it is written

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        if isinstance(data, ArgsKwargs):  # built in code, not read from a file
            return data
        if not isinstance(data, dict):
            raise _fail("must be a table", cls._example)
        for old, new in cls._moved.items():
            if old in data:
                raise _fail(*new, at=old)
        allowed = sorted(f.name for f in dataclasses.fields(cls) if f.name != cls._named)
        unknown = sorted(set(data) - {*allowed, _KEY})
        if unknown:
            raise _fail("unknown key", f"allowed: {', '.join(allowed)}", at=unknown[0])
        if _KEY in data:
            data = {k: v for k, v in data.items() if k != _KEY} | (
                {cls._named: data[_KEY]} if cls._named else {})
        return data


# ---------------------------------------------------------------- the tables

@dataclass(frozen=True, config=_TABLE)
class Base(_Table):
    """One pinned environment: its tag (the table key) and a base image per variant."""

    _named = "env"

    env: str
    runtime: _Ref
    devel: _Ref
    # What the configuration declares the base holds; checked against the built image.
    torch: StrictStr | None = None
    cuda: StrictStr | None = None
    python: StrictStr | None = None
    build_args: Annotated[Mapping[str, str], BeforeValidator(
        lambda t: {str(k): str(v) for k, v in t.items()} if isinstance(t, dict) else t)] = field(
        default_factory=dict)

    def ref(self, variant: str) -> Reference:
        return self.runtime if variant == "runtime" else self.devel


def _env_name(env: str, raw: Any) -> None:
    if not _ENV_NAME.match(env):
        raise _fail("an environment name is lower-case letters, digits, . _ -", at=env)
    if env == "none":
        raise _fail("`none` is not an environment name: an Env trailer of `none` says a commit "
                    "matches no pinned environment", "rename the environment", at=env)


@dataclass(frozen=True, config=_TABLE)
class Compare(_Table):
    """Tolerances for `nox -s compare` (the training metrics' own are in Metrics.compare)."""

    _moved: ClassVar[Mapping[str, tuple[str, str]]] = {
        old: ("training tolerances moved to [tool.torchship.metrics.compare]",
              f"write `{new}` there (docs/contract.md)")
        for old, new in (("loss_rtol", "loss = { rtol = 0.05 }"), ("accuracy_atol", "accuracy = { atol = 0.05 }"))}

    reference: StrictStr | None = None    # env the others are compared with (default: first)
    regression: StrictFloat = 0.10         # benchmark median slower by more than this fails
    noise: StrictFloat = 0.20              # IQR/median above this is flagged as noisy


def _package(name: str) -> str:
    if not name or not all(part.isidentifier() for part in name.split(".")):
        raise _fail(f"{name!r} is not an importable package name", "the name your code is imported by: "
                    "letters, digits and _ (dots for a subpackage)")
    return name


@dataclass(frozen=True, config=_TABLE)
class Project(_Table):
    """What the tool runs of the project ([tool.torchship.project]): argument lists."""

    package: Annotated[StrictStr, AfterValidator(_package)]   # the import name (default: the distribution's, - -> _)
    train: Annotated[tuple[str, ...], _command("python -m yourpackage.train")]  # the training command
    # must exit 0 in the runtime image (the installed package)
    smoke: Annotated[tuple[str, ...], _command("python -m yourpackage.smoke")]
    # Arguments added to `train` for a short run (model.new's e2e test); () runs it in full.
    quick_train: Annotated[tuple[str, ...], _command("--epochs 1")] = ()

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any, info: ValidationInfo) -> Any:
        """The package defaults to the distribution's name; train and smoke run its modules."""
        if not isinstance(data, dict) or not info.context:
            return data
        package = data.get("package", info.context["package"])
        return {"package": package, "train": f"python -m {package}.train",
                "smoke": f"python -m {package}.smoke", **data}


# Keys of an epoch's entry in the metrics file that are not metrics (docs/contract.md).
EPOCH_KEYS: tuple[str, ...] = ("epoch", "seconds")


@dataclass(frozen=True, config=_TABLE)
class Metric(_Table):
    """One final training metric compared across environments, and its tolerance.

    Two values agree when |value - reference| <= atol + rtol * |reference| (numpy.isclose's
    rule): rtol alone is relative, atol alone absolute. `better` only words the report.
    """

    _named = "name"

    name: str
    rtol: _Tolerance = 0.0
    atol: _Tolerance = 0.0
    better: Literal["higher", "lower"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _tolerance(cls, data: Any) -> Any:
        if isinstance(data, dict) and "rtol" not in data and "atol" not in data:
            raise _fail("no tolerance", "give rtol (relative) and/or atol (absolute)")
        return data

    def tolerance(self, reference: float) -> float:
        return self.atol + self.rtol * abs(reference)

    def agrees(self, value: float, reference: float) -> bool:
        return (math.isfinite(value) and math.isfinite(reference)
                and abs(value - reference) <= self.tolerance(reference))

    def describe(self) -> str:
        """`rtol 0.05`, `atol 0.01`, or both joined with `+`."""
        parts = [f"rtol {self.rtol:g}" if self.rtol else "", f"atol {self.atol:g}" if self.atol else ""]
        return " + ".join(p for p in parts if p) or "exact"


def _metric_name(name: str, raw: Any) -> None:
    if not name.strip():
        raise _fail("a metric needs a name", at=name)
    if name in EPOCH_KEYS:
        raise _fail(f"{name!r} is reserved in the metrics file, not a metric", at=name)
    if not isinstance(raw, dict):
        raise _fail("must be a table", f"e.g. {name} = {{ rtol = 0.05 }}", at=name)


# The template's: its training writes a loss (lower is better) and an accuracy.
DEFAULT_COMPARED: tuple[Metric, ...] = (Metric("loss", rtol=0.05, better="lower"),
                                        Metric("accuracy", atol=0.05, better="higher"))


@dataclass(frozen=True, config=_TABLE)
class Metrics(_Table):
    """The training metrics contract ([tool.torchship.metrics]); paths are relative to the
    folder a suite writes into ($TORCHSHIP_RESULTS)."""

    # what a training run writes, in its folder
    file: Annotated[_ResultsPath, _check(bool, "is empty", "the default is 'metrics.json'")] = "metrics.json"
    # where the e2e suite copies its run
    train_dir: Annotated[_ResultsPath, _check(bool, "is empty", "the default is 'train'")] = "train"
    # the same-seed repeat (None, or "" in the file: no determinism check)
    repeat_dir: Annotated[_ResultsPath | None, AfterValidator(lambda d: d or None)] = "train-repeat"
    # empty: training recorded, not compared
    compare: Annotated[tuple[Metric, ...], _keyed(_metric_name)] = DEFAULT_COMPARED

    def __post_init__(self) -> None:
        if self.repeat_dir and Path(self.repeat_dir) == Path(self.train_dir):
            raise _fail(f"{self.repeat_dir!r} is train_dir too", "the repeat needs a folder of its own, "
                        "or \"\" for no repeat", at="repeat_dir")

    def compared(self, name: str) -> Metric | None:
        return next((m for m in self.compare if m.name == name), None)


def _weights(value: str) -> str:
    weights = str(_lift(lambda v: inside_project(v, "", "results/train/checkpoint.pt"))(value))
    if "**" in weights:
        raise _fail(f"{value!r}: a release ships the weights of one run (one folder), and ** spans "
                    "folders", hint='name the run\'s folder, e.g. "results/train/*.pt"')
    return weights


_MetricNames = Annotated[tuple[StrictStr, ...],
                         _check(all, "must be a list of metric names, not {!r}", 'e.g. headline = ["accuracy"]'),
                         _says("must be a list of metric names, not {!r}", 'e.g. headline = ["accuracy"]')]


@dataclass(frozen=True, config=_TABLE)
class Release(_Table):
    branch: Annotated[StrictStr, _check(bool, "is empty", 'e.g. "main"')] = "main"
    tag_prefix: StrictStr = "v"
    sign: StrictBool = True
    sign_commit: StrictBool = False
    changelog: Annotated[StrictStr, _in_project("CHANGELOG.md")] = "CHANGELOG.md"
    # A release needs a passing matrix record of the commit it tags (docs/release.md).
    evidence: StrictBool = True
    # Final metrics the tag message and the model card lead with (default: the compared ones).
    headline: _MetricNames = ()
    model_card: Annotated[StrictStr, _in_project("MODEL_CARD.md")] = "MODEL_CARD.md"
    task: StrictStr = "other"  # the model card's model-index task type (Hugging Face's names)
    # The trained weights a release ships as a ModelPack artifact (release/weights.py): a
    # path or glob from the project, e.g. "results/train/checkpoint.pt"; "" ships none.
    weights: Annotated[StrictStr, AfterValidator(lambda w: w and _weights(w))] = ""


@dataclass(frozen=True, config=_TABLE)
class Signatures(_Table):
    """Image signatures ([tool.torchship.signatures], torchship.images.sign): GPG simple
    signing by skopeo, kept in a lookaside store."""

    # Where signatures are written and read: a folder or file:// URL ("" is containers'
    # default, /var/lib/containers/sigstore for root, else ~/.local/share/containers/sigstore).
    lookaside: StrictStr = ""
    # The team's public key (armored), relative to the project; "" exports the key that
    # signs the tags (git's user.signingkey) from the local keyring.
    public_key: StrictStr = ""
    # The GPG fingerprints whose signature a release tag may carry (release.verify,
    # release.last-good); empty: public_key's keys, else the key git signs with. SSH tags
    # are held to git's gpg.ssh.allowedSignersFile.
    signers: _Names = ()


@dataclass(frozen=True, config=_TABLE)
class Hooks(_Table):
    """The git hooks (`invoke hooks.install`): what a local torch/CUDA mismatch does."""

    env_check: Literal["warn", "refuse", "off"] = "warn"


def _branch_pattern(pattern: str, raw: Any) -> None:
    if not pattern or not _PATTERN.match(pattern):
        raise _fail("a branch pattern is a name, or a prefix ending in `*`", at=pattern)


@dataclass(frozen=True, config=_TABLE)
class BranchRule(_Table):
    """[tool.torchship.ci.branches."<pattern>"]: what CI runs on branches matching pattern
    (a name, or a prefix ending in `*`). `*` in a list: all; `default`: the default env."""

    _named = "pattern"

    pattern: str
    envs: _Names = ("*",)
    gpus: _Names = ()


# Feature branches: the default environment only; main and model branches: everything.
DEFAULT_BRANCHES = (
    BranchRule("main", ("*",), ("*",)),
    BranchRule("feature/model-*", ("*",), ("*",)),
    BranchRule("*", ("default",), ()),
)


@dataclass(frozen=True, config=_TABLE)
class CI(_Table):
    """What `invoke ci.generate` puts in the CI files besides the matrix of bases."""

    runner: StrictStr = "ubuntu-latest"   # hosted runner for lint, unit, e2e and image builds
    gpu_runner: StrictStr = "gpu"         # label(s), comma-separated, of the self-hosted GPU runner
    python: StrictStr = "3.11"
    # CPU-only jobs install torch from here: PyPI's default torch wheel is a multi-GB CUDA build.
    torch_index: StrictStr = "https://download.pytorch.org/whl/cpu"
    schedule: StrictStr = "17 5 * * 1"    # cron of the scheduled `invoke images.pin --check`
    # GPU kind -> runner labels (comma-separated); empty: one kind, `gpu`, on gpu_runner.
    gpus: Annotated[Mapping[str, str], _gpu_kind("names its runner labels, comma-separated",
                                                 'a100 = "self-hosted, linux, a100"')] = field(
        default_factory=dict)
    # Which environments and GPU kinds run on which branches (empty: DEFAULT_BRANCHES).
    branches: Annotated[tuple[BranchRule, ...], _keyed(_branch_pattern)] = ()

    @property
    def gpu_kinds(self) -> dict[str, str]:
        return dict(self.gpus) or {"gpu": self.gpu_runner}

    @property
    def rules(self) -> tuple[BranchRule, ...]:
        return self.branches or DEFAULT_BRANCHES


@dataclass(frozen=True, config=_TABLE)
class Slurm(_Table):
    """Where `torchship matrix --on slurm` submits ([tool.torchship.slurm], docs/slurm.md).

    One job per environment and GPU kind; `gres` maps each GPU kind to the job's `--gres`
    (e.g. a100 = "gpu:a100:1"); empty: one job per environment with no GPU (kind `cpu`)."""

    partition: StrictStr = ""             # "" : the cluster's default partition
    account: StrictStr = ""               # "" : the user's default account
    time: Annotated[StrictInt, _check(lambda n: n >= 1, "must be a whole number >= 1, not {!r}",
                                      "time is in minutes")] = 60   # each job's limit, minutes
    cpus: Annotated[StrictInt, _check(lambda n: n >= 1, "must be a whole number >= 1, not {!r}")] = 2  # per job
    gres: Annotated[Mapping[str, str], _gpu_kind("names the --gres its jobs ask for",
                                                 'a100 = "gpu:a100:1"')] = field(default_factory=dict)
    # A folder every node sees, for the jobs' logs and results ("" : the run's own folder
    # under results/matrix/, which then must be on a shared file system).
    shared: StrictStr = ""
    # how a node runs the image (only docker today)
    runtime: Annotated[Literal["docker"], _says("{!r} is not supported",
                                                "docker (enroot/pyxis and apptainer: docs/slurm.md)")] = "docker"


@dataclass(frozen=True, config=_TABLE)
class _Update(_Table):
    # Paths (files, folders, globs) `torchship update` leaves as the project has them,
    # whatever the template does there (cruft's `skip`).
    skip: Annotated[tuple[Annotated[StrictStr, _in_project("docs/")], ...],
                    _says("must be a list of paths", 'e.g. skip = ["tests/benchmarks/", "docs/*.md"]')] = ()


@dataclass(frozen=True, config=_TABLE)
class _Tool(_Table):
    # Where the project installs torchship from (torchship.toolsource).
    source: Annotated[ToolSource, PlainValidator(_lift(toolsource.parse))] = INDEX


@dataclass(frozen=True, config=_TABLE)
class _Gpu(_Table):
    """[tool.torchship.gpus.<key>]: a GPU's peak figures (torchship.gpubench.peaks)."""

    _example = 'e.g. match = "H100", bf16 = 989.5'

    match: Annotated[StrictStr, _check(bool, "missing", "a regular expression found in torch's device name"),
                     AfterValidator(_regex)]
    fp32: _Positive | None = None
    tf32: _Positive | None = None
    bf16: _Positive | None = None
    fp16: _Positive | None = None
    fp8: _Positive | None = None
    memory_gbps: _Positive | None = None
    source: StrictStr = ""


def _gpus_table(value: Any) -> Any:
    if not isinstance(value, dict):
        raise _fail("must be a table of tables")
    return value


_Gpus = Annotated[Mapping[str, _Gpu], BeforeValidator(_gpus_table)]


@dataclass(frozen=True, config=_TABLE)
class _TorchshipTable(_Table):
    """[tool.torchship] as written (Config is what the tool reads of it)."""

    image: StrictStr | None = None
    dockerfile: StrictStr = "docker/Dockerfile"
    require_digest: StrictBool = True
    default_env: StrictStr | None = None
    bases: Annotated[Mapping[str, Base], _keyed(_env_name, as_dict=True)] = field(
        default_factory=dict)
    update: _Update = field(default_factory=_Update)
    release: Release = field(default_factory=Release)
    compare: Compare = field(default_factory=Compare)
    hooks: Hooks = field(default_factory=Hooks)
    ci: CI = field(default_factory=CI)
    # Extras of the project installed in the devel image (None: the default, Config's).
    devel_extras: Annotated[tuple[StrictStr, ...] | None, _says("must be a list of extra names")] = None
    context_extras: Annotated[tuple[Annotated[StrictStr, _in_project("data/vocab.txt")], ...],
                              _says("must be a list of paths", 'e.g. context_extras = ["data/vocab.txt"]')] = ()
    project: Project | None = None
    metrics: Metrics = field(default_factory=Metrics)
    signatures: Signatures = field(default_factory=Signatures)
    tool: _Tool = field(default_factory=_Tool)
    slurm: Slurm = field(default_factory=Slurm)
    gpus: _Gpus = field(default_factory=dict)  # peak figures of extra GPUs (gpubench.peaks)

    @model_validator(mode="before")
    @classmethod
    def _project_always(cls, data: Any) -> Any:
        """[tool.torchship.project] is validated when absent too: its defaults come from
        the distribution's name."""
        return {"project": {}, **data} if isinstance(data, dict) else data

    def __post_init__(self) -> None:
        for env, base in self.bases.items():
            for variant in VARIANTS:
                ref = base.ref(variant)
                if self.require_digest and not ref.digest:
                    raise _fail(f"{str(ref)!r} is not pinned by digest", "run `invoke images.pin`",
                                at=("bases", env, variant))
        if self.default_env is not None and self.default_env not in self.bases:
            raise _fail(f"{self.default_env!r} is not in bases", at="default_env",
                        hint=f"one of: {', '.join(self.bases) or '(none configured)'}")
        reference = self.compare.reference
        if reference is not None and reference not in self.bases and reference != "local":
            raise _fail(f"{reference!r} is not a configured environment", at=("compare", "reference"))


@dataclass(frozen=True, config=_TABLE)
class _LocalFile(_Table):
    """torchship.local.toml: what a machine may replace (checked by name only here)."""

    image: Any = None
    require_digest: Any = None
    default_env: Any = None
    bases: Any = None
    signatures: Any = None
    slurm: Any = None


@dataclasses.dataclass(frozen=True)
class Config:
    root: Path
    image: str
    dockerfile: str
    require_digest: bool
    default_env: str | None
    bases: Mapping[str, Base]
    release: Release
    compare: Compare
    source: Path  # where the bases came from (pyproject or the local override)
    project: Project
    metrics: Metrics
    hooks: Hooks = field(default_factory=Hooks)
    ci: CI = field(default_factory=CI)
    signatures: Signatures = field(default_factory=Signatures)
    slurm: Slurm = field(default_factory=Slurm)
    # Extras of the project installed in the devel image (torch itself comes from the base).
    devel_extras: tuple[str, ...] = ("test", "notebook")
    # Untracked paths an image build may see besides what git tracks (torchship.images.context).
    context_extras: tuple[str, ...] = ()
    # Where the project installs torchship from ([tool.torchship.tool] source).
    tool_source: ToolSource = INDEX
    # Peak figures of the project's own GPUs ([tool.torchship.gpus], torchship.gpubench.peaks).
    gpus: tuple[Peak, ...] = ()
    # Paths the project owns, never merged by `torchship update` ([tool.torchship.update] skip).
    update_skip: tuple[str, ...] = ()
    # The whole pyproject.toml, read once by load(): the facts other subsystems need.
    pyproject: Pyproject = field(default_factory=lambda: Pyproject({}), compare=False, repr=False)

    @property
    def envs(self) -> list[str]:
        return list(self.bases)


# ---------------------------------------------------------------- pydantic's error, in one line

# Python's names for the scalar types (what the old hand-written checks said, tests hold it).
_TYPES = {"string_type": "str", "float_type": "float", "float_parsing": "float", "int_type": "int",
          "int_parsing": "int", "int_from_float": "int", "bool_type": "bool",
          "tuple_type": "a list", "list_type": "a list", "dict_type": "a table", "mapping_type": "a table"}
_MISSING = {"runtime": "give the base image for this variant", "devel": "give the base image for this variant",
            "match": "a regular expression found in torch's device name"}


def _refusal(exc: ValidationError, raw: Any, key: Callable[[list[str]], str]) -> ConfigError:
    """The first of pydantic's errors as our one line: the key it is about (a table of tables'
    entry by its key, a list's item by the list), what is wrong, how to fix it."""
    err = exc.errors(include_url=False)[0]
    ctx: dict[str, Any] = err.get("ctx") or {}
    path: list[str] = []
    node = raw
    for part in err["loc"]:
        if part == "[key]":
            continue
        if isinstance(part, int):
            if not isinstance(node, dict):  # an item of a list: the list is the key
                node = node[part] if isinstance(node, list) and part < len(node) else None
                continue
            part = list(node)[part]  # a table of tables, validated as a tuple of its entries
        node = node.get(part) if isinstance(node, dict) else None
        path.append(str(part))
    path += ctx.get("at", ())
    value = err.get("input")
    if err["type"] == "torchship":
        problem, hint = ctx["problem"], ctx["hint"]
    elif err["type"] in _TYPES:
        what = _TYPES[err["type"]]
        problem, hint = f"must be {what}" + ("" if what == "a table" else f", not {value!r}"), None
    elif err["type"] == "missing":
        problem, hint = "missing", _MISSING.get(path[-1] if path else "")
    elif err["type"] == "literal_error":
        problem = f"{value!r} is not allowed"
        hint = "one of: " + str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
    else:
        problem, hint = err["msg"][0].lower() + err["msg"][1:], None
    return ConfigError(key(path), problem, hint=hint)


@cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _validate(kind: Any, raw: Any, key: Callable[[list[str]], str],
              context: Mapping[str, Any] | None = None) -> Any:
    try:
        return _adapter(kind).validate_python(raw, context=context)
    except ValidationError as exc:
        raise _refusal(exc, raw, key) from None


def _under(prefix: str) -> Callable[[list[str]], str]:
    return lambda path: ".".join([prefix, *path])


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file, parsed (ConfigError when it is missing or not TOML). The one place the
    tool reads TOML, with parse_toml: every other module asks this one."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc


def parse_toml(text: str, *, where: str) -> dict[str, Any]:
    """TOML text (a file as it is at another commit), parsed; ConfigError naming `where`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"not valid TOML: {exc}") from exc


@dataclasses.dataclass(frozen=True)
class Pyproject:
    """The facts of a pyproject.toml the subsystems need, from one parsed document."""

    data: Mapping[str, Any]

    @classmethod
    def read(cls, root: Path | str) -> Pyproject:
        """`root`/pyproject.toml (any project's: the template's, a clone's)."""
        return cls(read_toml(Path(root) / "pyproject.toml"))

    @classmethod
    def parse(cls, text: str, *, where: str = "pyproject.toml") -> Pyproject:
        return cls(parse_toml(text, where=where))

    @property
    def project(self) -> Mapping[str, Any]:
        """The [project] table."""
        table = self.data.get("project", {})
        return table if isinstance(table, dict) else {}

    @property
    def name(self) -> str:
        return str(self.project.get("name", ""))

    @property
    def version(self) -> str:
        return str(self.project.get("version", ""))

    @property
    def extras(self) -> Mapping[str, list[str]]:
        """[project.optional-dependencies]: each extra's requirement strings."""
        table = self.project.get("optional-dependencies", {})
        return table if isinstance(table, dict) else {}

    @property
    def urls(self) -> Mapping[str, str]:
        table = self.project.get("urls", {})
        return table if isinstance(table, dict) else {}

    @property
    def build_requires(self) -> list[str]:
        return [str(r) for r in self.data.get("build-system", {}).get("requires", [])]

    def tool(self, name: str) -> Mapping[str, Any]:
        """[tool.NAME] ({} when absent): bumpversion, ruff, torchship..."""
        table = self.data.get("tool", {}).get(name, {})
        return table if isinstance(table, dict) else {}

    @property
    def bumpversion(self) -> Mapping[str, Any]:
        return self.tool("bumpversion")


def local_config_path(root: Path) -> Path:
    """The machine's local settings: $TORCHSHIP_LOCAL_CONFIG, else the project's
    torchship.local.toml (which may be absent). A variable naming no file is refused: a
    run that silently ignored it would use the wrong bases."""
    named = os.environ.get("TORCHSHIP_LOCAL_CONFIG")
    if not named:
        return root / LOCAL_CONFIG
    path = Path(named)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ConfigError("TORCHSHIP_LOCAL_CONFIG", f"{named} {problem}",
                          hint="point it at a torchship.local.toml, or unset it")
    return path


def load(root: Path | str = ".", *, use_local: bool = True) -> Config:
    """Read and validate [tool.torchship] (and the local override, when present and `use_local`)."""
    root = Path(root).resolve()
    pyproject = root / "pyproject.toml"
    data = read_toml(pyproject)
    return from_data(root, data, use_local=use_local)


def _context(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"package": re.sub(r"[-.]+", "_", Pyproject(data).name).lower()}


def _torchship(data: Mapping[str, Any]) -> Any:
    """[tool.torchship] as written ({} when absent; what is there when [tool] is no table)."""
    tools = data.get("tool", {})
    return tools.get("torchship", {}) if isinstance(tools, dict) else tools


def from_data(root: Path, data: Mapping[str, Any], *, use_local: bool = True) -> Config:
    """load() of an already parsed pyproject.toml at `root`."""
    pyproject = root / "pyproject.toml"
    tool = _torchship(data)
    source = pyproject
    local = local_config_path(root)
    if use_local and local.is_file():
        override = read_toml(local)
        _validate(_LocalFile, override, _under(local.name))
        tool = {**tool, **override} if isinstance(tool, dict) else tool
        source = local

    def key(path: list[str]) -> str:
        if path[:1] == ["bases"] and source != pyproject:  # the machine's own file
            return f"{local.name}:" + ".".join(path)
        return ".".join(["tool.torchship", *path])

    table: _TorchshipTable = _validate(_TorchshipTable, tool, key, _context(data))
    extras = set(Pyproject(data).extras)
    if table.devel_extras is None:  # the default: whichever of test/notebook the project has
        devel_extras = tuple(e for e in Config.devel_extras if e in extras)
    else:
        devel_extras = table.devel_extras
        missing = [e for e in devel_extras if e not in extras]
        if missing:
            raise ConfigError("tool.torchship.devel_extras", f"{missing[0]!r} is not an extra of the project",
                              hint=f"one of: {', '.join(sorted(extras)) or '(none defined)'}")
    assert table.project is not None  # _TorchshipTable validates it when absent too
    return Config(
        root=root, image=table.image or Pyproject(data).name or "app",
        dockerfile=table.dockerfile or "docker/Dockerfile", require_digest=table.require_digest,
        default_env=table.default_env or next(iter(table.bases), None), bases=dict(table.bases),
        release=table.release, compare=table.compare, source=source, project=table.project,
        metrics=table.metrics, hooks=table.hooks, ci=table.ci, devel_extras=devel_extras,
        context_extras=table.context_extras, signatures=table.signatures,
        tool_source=table.tool.source, gpus=_peaks(table.gpus, "tool.torchship.gpus"),
        update_skip=table.update.skip, pyproject=Pyproject(data), slurm=table.slurm)


def _peaks(gpus: Mapping[str, _Gpu], where: str) -> tuple[Peak, ...]:
    from torchship.gpubench.peaks import MATH, Peak

    return tuple(Peak(key, gpu.match, {m: getattr(gpu, m) for m in MATH if getattr(gpu, m) is not None},
                      gpu.memory_gbps, gpu.source or f"[{where}.{key}]") for key, gpu in gpus.items())


def peaks(table: Any, *, where: str = "tool.torchship.gpus") -> tuple[Peak, ...]:
    """[tool.torchship.gpus.<key>] tables -> Peaks, validated as load() does."""
    return _peaks(_validate(_Gpus, table, _under(where)), where)


def project_contract(data: Mapping[str, Any]) -> tuple[Project, Metrics]:
    """The project contract ([tool.torchship.project] and .metrics) of a parsed pyproject.toml,
    validated as `load` does: for readers of a pyproject at another commit (model.new)."""
    tool = _torchship(data)
    tool = tool if isinstance(tool, dict) else {}
    project: Project = _validate(Project, tool.get("project", {}), _under("tool.torchship.project"),
                                 _context(data))
    metrics: Metrics = _validate(Metrics, tool.get("metrics", {}), _under("tool.torchship.metrics"))
    return project, metrics
