"""[tool.torchship] in pyproject.toml -> frozen, validated dataclasses.

Each fact lives here once: the pinned bases (the image matrix), the image name, the
release policy, the comparison tolerances and the project contract (what the tool runs of
the project, and the training metrics it reads and compares; docs/contract.md). Everything
else reads it from `load()`.

A git-ignored `torchship.local.toml` beside pyproject.toml (or the file named by
$TORCHSHIP_LOCAL_CONFIG) may replace `image` and the `bases` tables: the way to point a
machine at a registry mirror, or at locally built stand-in bases, without editing the
committed configuration; and the `slurm` table: a site's own partition and account.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from torchship.errors import ConfigError
from torchship.images.reference import Reference
from torchship.toolsource import INDEX, ToolSource

if TYPE_CHECKING:
    from torchship.gpubench.peaks import Peak

VARIANTS: tuple[str, ...] = ("runtime", "devel")
LOCAL_CONFIG = "torchship.local.toml"

_ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Base:
    """One pinned environment: its tag (the table key) and a base image per variant."""

    env: str
    runtime: Reference
    devel: Reference
    # What the configuration declares the base holds; checked against the built image.
    torch: str | None = None
    cuda: str | None = None
    python: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)

    def ref(self, variant: str) -> Reference:
        return self.runtime if variant == "runtime" else self.devel


@dataclass(frozen=True)
class Compare:
    """Tolerances for `nox -s compare` (the training metrics' own are in Metrics.compare)."""

    reference: str | None = None       # env the others are compared with (default: first)
    regression: float = 0.10           # benchmark median slower by more than this fails
    noise: float = 0.20                # IQR/median above this is flagged as noisy


@dataclass(frozen=True)
class Project:
    """What the tool runs of the project ([tool.torchship.project]): argument lists."""

    package: str                       # the import name (default: the distribution's, - -> _)
    train: tuple[str, ...]             # the training command
    smoke: tuple[str, ...]             # must exit 0 in the runtime image (the installed package)
    # Arguments added to `train` for a short run (model.new's e2e test); () runs it in full.
    quick_train: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metric:
    """One final training metric compared across environments, and its tolerance.

    Two values agree when |value - reference| <= atol + rtol * |reference| (numpy.isclose's
    rule): rtol alone is relative, atol alone absolute. `better` only words the report.
    """

    name: str
    rtol: float = 0.0
    atol: float = 0.0
    better: Literal["higher", "lower"] | None = None

    def tolerance(self, reference: float) -> float:
        return self.atol + self.rtol * abs(reference)

    def agrees(self, value: float, reference: float) -> bool:
        return (math.isfinite(value) and math.isfinite(reference)
                and abs(value - reference) <= self.tolerance(reference))

    def describe(self) -> str:
        """`rtol 0.05`, `atol 0.01`, or both joined with `+`."""
        parts = [f"rtol {self.rtol:g}" if self.rtol else "", f"atol {self.atol:g}" if self.atol else ""]
        return " + ".join(p for p in parts if p) or "exact"


# The template's: its training writes a loss (lower is better) and an accuracy.
DEFAULT_COMPARED: tuple[Metric, ...] = (Metric("loss", rtol=0.05, better="lower"),
                                        Metric("accuracy", atol=0.05, better="higher"))
# Keys of an epoch's entry in the metrics file that are not metrics (docs/contract.md).
EPOCH_KEYS: tuple[str, ...] = ("epoch", "seconds")


@dataclass(frozen=True)
class Metrics:
    """The training metrics contract ([tool.torchship.metrics]); paths are relative to the
    folder a suite writes into ($TORCHSHIP_RESULTS)."""

    file: str = "metrics.json"               # what a training run writes, in its folder
    train_dir: str = "train"                 # where the e2e suite copies its run
    repeat_dir: str | None = "train-repeat"  # the same-seed repeat (None: no determinism check)
    compare: tuple[Metric, ...] = DEFAULT_COMPARED   # empty: training recorded, not compared

    def compared(self, name: str) -> Metric | None:
        return next((m for m in self.compare if m.name == name), None)


@dataclass(frozen=True)
class Release:
    branch: str = "main"
    tag_prefix: str = "v"
    sign: bool = True
    sign_commit: bool = False
    changelog: str = "CHANGELOG.md"
    # A release needs a passing matrix record of the commit it tags (docs/release.md).
    evidence: bool = True
    # Final metrics the tag message and the model card lead with (default: the compared ones).
    headline: tuple[str, ...] = ()
    model_card: str = "MODEL_CARD.md"
    task: str = "other"        # the model card's model-index task type (Hugging Face's names)
    # The trained weights a release ships as a ModelPack artifact (release/weights.py): a
    # path or glob from the project, e.g. "results/train/checkpoint.pt"; "" ships none.
    weights: str = ""


@dataclass(frozen=True)
class Signatures:
    """Image signatures ([tool.torchship.signatures], torchship.images.sign): GPG simple
    signing by skopeo, kept in a lookaside store."""

    # Where signatures are written and read: a folder or file:// URL ("" is containers'
    # default, /var/lib/containers/sigstore for root, else ~/.local/share/containers/sigstore).
    lookaside: str = ""
    # The team's public key (armored), relative to the project; "" exports the key that
    # signs the tags (git's user.signingkey) from the local keyring.
    public_key: str = ""
    # The GPG fingerprints whose signature a release tag may carry (release.verify,
    # release.last-good); empty: public_key's keys, else the key git signs with. SSH tags
    # are held to git's gpg.ssh.allowedSignersFile.
    signers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hooks:
    """The git hooks (`invoke hooks.install`): what a local torch/CUDA mismatch does."""

    env_check: str = "warn"            # warn | refuse | off


@dataclass(frozen=True)
class CI:
    """What `invoke ci.generate` puts in the CI files besides the matrix of bases."""

    runner: str = "ubuntu-latest"      # hosted runner for lint, unit, e2e and image builds
    gpu_runner: str = "gpu"            # label(s), comma-separated, of the self-hosted GPU runner
    python: str = "3.11"
    # CPU-only jobs install torch from here: PyPI's default torch wheel is a multi-GB CUDA build.
    torch_index: str = "https://download.pytorch.org/whl/cpu"
    schedule: str = "17 5 * * 1"       # cron of the scheduled `invoke images.pin --check`
    # GPU kind -> runner labels (comma-separated); empty: one kind, `gpu`, on gpu_runner.
    gpus: Mapping[str, str] = field(default_factory=dict)
    # Which environments and GPU kinds run on which branches (empty: DEFAULT_BRANCHES).
    branches: tuple[BranchRule, ...] = ()

    @property
    def gpu_kinds(self) -> dict[str, str]:
        return dict(self.gpus) or {"gpu": self.gpu_runner}

    @property
    def rules(self) -> tuple[BranchRule, ...]:
        return self.branches or DEFAULT_BRANCHES


@dataclass(frozen=True)
class BranchRule:
    """[tool.torchship.ci.branches."<pattern>"]: what CI runs on branches matching pattern
    (a name, or a prefix ending in `*`). `*` in a list: all; `default`: the default env."""

    pattern: str
    envs: tuple[str, ...] = ("*",)
    gpus: tuple[str, ...] = ()


# Feature branches: the default environment only; main and model branches: everything.
DEFAULT_BRANCHES = (
    BranchRule("main", ("*",), ("*",)),
    BranchRule("feature/model-*", ("*",), ("*",)),
    BranchRule("*", ("default",), ()),
)
_PATTERN = re.compile(r"^[A-Za-z0-9._/-]*\*?$")


def _ci(table: Mapping[str, Any]) -> CI:
    key = "tool.torchship.ci"
    rest = {k: v for k, v in table.items() if k not in ("gpus", "branches")}
    _unknown(table, set(CI.__dataclass_fields__), key)
    gpus: dict[str, str] = {}
    for kind, labels in _table(table.get("gpus", {}), f"{key}.gpus").items():
        if not _ENV_NAME.match(kind) or not isinstance(labels, str) or not labels.strip():
            raise ConfigError(f"{key}.gpus.{kind}", "a GPU kind (lower-case letters, digits, "
                              ". _ -) names its runner labels, comma-separated",
                              hint='e.g. a100 = "self-hosted, linux, a100"')
        gpus[kind] = labels
    rules: list[BranchRule] = []
    for pattern, raw in _table(table.get("branches", {}), f"{key}.branches").items():
        rkey = f"{key}.branches.{pattern}"
        if not pattern or not _PATTERN.match(pattern):
            raise ConfigError(rkey, "a branch pattern is a name, or a prefix ending in `*`")
        raw = _table(raw, rkey)
        _unknown(raw, {"envs", "gpus"}, rkey)
        lists: dict[str, tuple[str, ...]] = {}
        for name in ("envs", "gpus"):
            value = raw.get(name, ["*"] if name == "envs" else [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{rkey}.{name}", "must be a list of names")
            lists[name] = tuple(value)
        rules.append(BranchRule(pattern, lists["envs"], lists["gpus"]))
    ci: CI = _dataclass_from(CI, rest, key)
    return CI(**{**ci.__dict__, "gpus": gpus, "branches": tuple(rules)})


@dataclass(frozen=True)
class Slurm:
    """Where `torchship matrix --on slurm` submits ([tool.torchship.slurm], docs/slurm.md).

    One job per environment and GPU kind; `gres` maps each GPU kind to the job's `--gres`
    (e.g. a100 = "gpu:a100:1"); empty: one job per environment with no GPU (kind `cpu`)."""

    partition: str = ""                # "" : the cluster's default partition
    account: str = ""                  # "" : the user's default account
    time: int = 60                     # each job's time limit, minutes
    cpus: int = 2                      # CPUs per job
    gres: Mapping[str, str] = field(default_factory=dict)
    # A folder every node sees, for the jobs' logs and results ("" : the run's own folder
    # under results/matrix/, which then must be on a shared file system).
    shared: str = ""
    runtime: str = "docker"            # how a node runs the image (only docker today)


def _slurm(tool: Mapping[str, Any]) -> Slurm:
    key = "tool.torchship.slurm"
    table = dict(_table(tool.get("slurm", {}), key))
    gres = _table(table.pop("gres", {}), f"{key}.gres")
    for kind, value in gres.items():
        if not _ENV_NAME.match(kind) or not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key}.gres.{kind}", "a GPU kind (lower-case letters, digits, "
                              ". _ -) names the --gres its jobs ask for",
                              hint='e.g. a100 = "gpu:a100:1"')
    slurm: Slurm = _dataclass_from(Slurm, table, key)
    for name in ("time", "cpus"):
        value = getattr(slurm, name)
        if isinstance(value, bool) or value < 1:
            raise ConfigError(f"{key}.{name}", f"must be a whole number >= 1, not {value!r}",
                              hint="time is in minutes" if name == "time" else "")
    if slurm.runtime != "docker":
        raise ConfigError(f"{key}.runtime", f"{slurm.runtime!r} is not supported",
                          hint="docker (enroot/pyxis and apptainer: docs/slurm.md)")
    return replace(slurm, gres=dict(gres))


@dataclass(frozen=True)
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


_TOP_KEYS = {"image", "dockerfile", "require_digest", "default_env", "bases", "update",
             "release", "compare", "hooks", "ci", "devel_extras", "context_extras",
             "project", "metrics", "signatures", "tool", "slurm",
             "gpus"}  # peak figures of extra GPUs, read by torchship.gpubench.peaks
_BASE_KEYS = {"runtime", "devel", "torch", "cuda", "python", "build_args"}


def _table(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(key, "must be a table")
    return value


def _unknown(table: Mapping[str, Any], allowed: set[str], key: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise ConfigError(f"{key}.{extra[0]}", "unknown key",
                          hint=f"allowed: {', '.join(sorted(allowed))}")


def _str(table: Mapping[str, Any], name: str, key: str, default: str | None = None) -> str | None:
    value = table.get(name, default)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{key}.{name}", f"must be a string, not {type(value).__name__}")
    return value


def _dataclass_from(cls: type[Any], table: Mapping[str, Any], key: str) -> Any:
    fields = cls.__dataclass_fields__
    _unknown(table, set(fields), key)
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        default = fields[name].default
        expected = type(default) if default is not None else str
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is tuple and isinstance(value, list) and all(isinstance(v, str)
                                                                 for v in value):
            value = tuple(value)
        if not isinstance(value, expected):
            raise ConfigError(f"{key}.{name}", f"must be {expected.__name__}, not {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def _bases(table: Mapping[str, Any], key: str, *, require_digest: bool) -> dict[str, Base]:
    bases: dict[str, Base] = {}
    for env, raw in table.items():
        ekey = f"{key}.{env}"
        if not _ENV_NAME.match(env):
            raise ConfigError(ekey, "an environment name is lower-case letters, digits, . _ -")
        if env == "none":
            raise ConfigError(ekey, "`none` is not an environment name: an Env trailer of "
                                    "`none` says a commit matches no pinned environment",
                              hint="rename the environment")
        raw = _table(raw, ekey)
        _unknown(raw, _BASE_KEYS, ekey)
        refs: dict[str, Reference] = {}
        for variant in VARIANTS:
            text = _str(raw, variant, ekey)
            if text is None:
                raise ConfigError(f"{ekey}.{variant}", "missing",
                                  hint="give the base image for this variant")
            ref = Reference.parse(text, key=f"{ekey}.{variant}")
            if require_digest and not ref.digest:
                raise ConfigError(f"{ekey}.{variant}", f"{text!r} is not pinned by digest",
                                  hint="run `invoke images.pin`")
            refs[variant] = ref
        args = _table(raw.get("build_args", {}), f"{ekey}.build_args")
        bases[env] = Base(
            env=env, runtime=refs["runtime"], devel=refs["devel"],
            torch=_str(raw, "torch", ekey), cuda=_str(raw, "cuda", ekey),
            python=_str(raw, "python", ekey),
            build_args={str(k): str(v) for k, v in args.items()},
        )
    return bases


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


@dataclass(frozen=True)
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


def from_data(root: Path, data: Mapping[str, Any], *, use_local: bool = True) -> Config:
    """load() of an already parsed pyproject.toml at `root`."""
    pyproject = root / "pyproject.toml"
    tool = _table(data.get("tool", {}).get("torchship", {}), "tool.torchship")
    _unknown(tool, _TOP_KEYS, "tool.torchship")
    source = pyproject
    local = local_config_path(root)
    if use_local and local.is_file():
        override = read_toml(local)
        _unknown(override, {"image", "require_digest", "default_env", "bases", "signatures",
                            "slurm"},
                 local.name)
        tool = {**tool, **override}
        source = local
    require_digest = tool.get("require_digest", True)
    if not isinstance(require_digest, bool):
        raise ConfigError("tool.torchship.require_digest", "must be true or false")
    bases = _bases(_table(tool.get("bases", {}), "tool.torchship.bases"),
                   "tool.torchship.bases" if source == pyproject else f"{local.name}:bases",
                   require_digest=require_digest)
    default_env = _str(tool, "default_env", "tool.torchship")
    if default_env is not None and default_env not in bases:
        raise ConfigError("tool.torchship.default_env", f"{default_env!r} is not in bases",
                          hint=f"one of: {', '.join(bases) or '(none configured)'}")
    compare = _compare(tool)
    if compare.reference is not None and compare.reference not in bases and compare.reference != "local":
        raise ConfigError("tool.torchship.compare.reference",
                          f"{compare.reference!r} is not a configured environment")
    return Config(
        root=root,
        image=_str(tool, "image", "tool.torchship", default=data.get("project", {}).get("name", "app")) or "app",
        dockerfile=_str(tool, "dockerfile", "tool.torchship", default="docker/Dockerfile") or "docker/Dockerfile",
        require_digest=require_digest,
        default_env=default_env or (next(iter(bases)) if bases else None),
        bases=bases,
        release=_release(tool),
        compare=compare,
        source=source,
        project=_project(tool, data),
        metrics=_metrics(tool),
        hooks=_hooks(tool),
        ci=_ci(_table(tool.get("ci", {}), "tool.torchship.ci")),
        devel_extras=_extras(tool, data),
        context_extras=_context_extras(tool),
        signatures=_dataclass_from(Signatures, _table(tool.get("signatures", {}),
                                                      "tool.torchship.signatures"),
                                   "tool.torchship.signatures"),
        tool_source=_tool_source(tool),
        gpus=_gpus(tool),
        update_skip=_update_skip(tool),
        pyproject=Pyproject(data),
        slurm=_slurm(tool),
    )


def _tool_source(tool: Mapping[str, Any]) -> ToolSource:
    """[tool.torchship.tool]: where the project installs torchship from (torchship.toolsource)."""
    from torchship import toolsource

    table = _table(tool.get("tool", {}), "tool.torchship.tool")
    _unknown(table, {"source"}, "tool.torchship.tool")
    return toolsource.parse(table["source"]) if "source" in table else INDEX


def _update_skip(tool: Mapping[str, Any]) -> tuple[str, ...]:
    """[tool.torchship.update] skip: paths (files, folders, globs) `torchship update` leaves
    as the project has them, whatever the template does there (cruft's `skip`)."""
    table = _table(tool.get("update", {}), "tool.torchship.update")
    _unknown(table, {"skip"}, "tool.torchship.update")
    value = table.get("skip", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError("tool.torchship.update.skip", "must be a list of paths",
                          hint='e.g. skip = ["tests/benchmarks/", "docs/*.md"]')
    return tuple(inside_project(v, "tool.torchship.update.skip", "docs/") for v in value)


def _gpus(tool: Mapping[str, Any]) -> tuple[Peak, ...]:
    from torchship.gpubench import peaks

    return tuple(peaks.parse(peaks.gpus_table(tool)))


def _context_extras(tool: Mapping[str, Any]) -> tuple[str, ...]:
    value = tool.get("context_extras", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("tool.torchship.context_extras", "must be a list of paths",
                          hint='e.g. context_extras = ["data/vocab.txt"]')
    from torchship.images.context import check_extra

    return tuple(check_extra(v) for v in value)


def inside_project(rel: str, key: str, example: str) -> str:
    """`rel`, a path relative to the project's folder that stays inside it (never empty or
    `.`, absolute, `..` or with backslashes), normalised; else the one-line refusal."""
    path = PurePosixPath(rel)
    if not rel or not path.parts or path.is_absolute() or ".." in path.parts or "\\" in rel:
        raise ConfigError(key, f"{rel!r} is not a path inside the project",
                          hint=f'a path relative to pyproject.toml\'s folder, e.g. "{example}"')
    return str(path)


def _release(tool: Mapping[str, Any]) -> Release:
    table = dict(_table(tool.get("release", {}), "tool.torchship.release"))
    headline = table.pop("headline", [])
    if not isinstance(headline, list) or not all(isinstance(m, str) and m for m in headline):
        raise ConfigError("tool.torchship.release.headline",
                          f"must be a list of metric names, not {headline!r}",
                          hint='e.g. headline = ["accuracy"]')
    release: Release = _dataclass_from(Release, table, "tool.torchship.release")
    release = replace(release, headline=tuple(headline))
    inside_project(release.model_card, "tool.torchship.release.model_card", "MODEL_CARD.md")
    inside_project(release.changelog, "tool.torchship.release.changelog", "CHANGELOG.md")
    if release.weights:
        weights = inside_project(release.weights, "tool.torchship.release.weights",
                                 "results/train/checkpoint.pt")
        if "**" in weights:
            raise ConfigError("tool.torchship.release.weights",
                              f"{release.weights!r}: a release ships the weights of one run "
                              "(one folder), and ** spans folders",
                              hint='name the run\'s folder, e.g. "results/train/*.pt"')
        release = replace(release, weights=weights)
    if not release.branch:
        raise ConfigError("tool.torchship.release.branch", "is empty", hint='e.g. "main"')
    return release


def _hooks(tool: Mapping[str, Any]) -> Hooks:
    hooks: Hooks = _dataclass_from(Hooks, _table(tool.get("hooks", {}), "tool.torchship.hooks"),
                                   "tool.torchship.hooks")
    if hooks.env_check not in {"warn", "refuse", "off"}:
        raise ConfigError("tool.torchship.hooks.env_check", f"{hooks.env_check!r} is not allowed",
                          hint="one of: warn, refuse, off")
    return hooks


def _extras(tool: Mapping[str, Any], data: Mapping[str, Any]) -> tuple[str, ...]:
    key = "tool.torchship.devel_extras"
    known = set(data.get("project", {}).get("optional-dependencies", {}))
    if "devel_extras" not in tool:  # the default: whichever of test/notebook the project has
        return tuple(e for e in Config.devel_extras if e in known)
    value = tool["devel_extras"]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(key, "must be a list of extra names")
    missing = [v for v in value if v not in known]
    if missing:
        raise ConfigError(key, f"{missing[0]!r} is not an extra of the project",
                          hint=f"one of: {', '.join(sorted(known)) or '(none defined)'}")
    return tuple(value)


# ---------------------------------------------------------------- the project contract

_MOVED = {"loss_rtol": 'loss = { rtol = 0.05 }', "accuracy_atol": 'accuracy = { atol = 0.05 }'}


def _compare(tool: Mapping[str, Any]) -> Compare:
    key = "tool.torchship.compare"
    table = _table(tool.get("compare", {}), key)
    for old, new in _MOVED.items():
        if old in table:
            raise ConfigError(f"{key}.{old}", "training tolerances moved to "
                              "[tool.torchship.metrics.compare]",
                              hint=f"write `{new}` there (docs/contract.md)")
    compare: Compare = _dataclass_from(Compare, table, key)
    return compare


def _command(table: Mapping[str, Any], name: str, key: str, default: str) -> tuple[str, ...]:
    """A command as an argument list: a string (split as a shell would) or a list of strings."""
    value = table.get(name, default)
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ConfigError(f"{key}.{name}", f"{value!r} cannot be split into arguments: {exc}") from exc
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        argv = list(value)
    else:
        raise ConfigError(f"{key}.{name}", "must be a command: a string or a list of strings")
    if not argv:
        raise ConfigError(f"{key}.{name}", "is empty", hint=f"e.g. {default!r}")
    return tuple(argv)


def project_contract(data: Mapping[str, Any]) -> tuple[Project, Metrics]:
    """The project contract ([tool.torchship.project] and .metrics) of a parsed pyproject.toml,
    validated as `load` does: for readers of a pyproject at another commit (model.new)."""
    tool = _table(data.get("tool", {}).get("torchship", {}), "tool.torchship")
    return _project(tool, data), _metrics(tool)


def _project(tool: Mapping[str, Any], data: Mapping[str, Any]) -> Project:
    key = "tool.torchship.project"
    table = _table(tool.get("project", {}), key)
    _unknown(table, {"package", "train", "smoke", "quick_train"}, key)
    dist = str(data.get("project", {}).get("name", ""))
    package = _str(table, "package", key, default=re.sub(r"[-.]+", "_", dist).lower()) or ""
    if not package or not all(part.isidentifier() for part in package.split(".")):
        raise ConfigError(f"{key}.package", f"{package!r} is not an importable package name",
                          hint="the name your code is imported by: letters, digits and _ (dots for a subpackage)")
    return Project(package=package,
                   train=_command(table, "train", key, f"python -m {package}.train"),
                   smoke=_command(table, "smoke", key, f"python -m {package}.smoke"),
                   quick_train=(_command(table, "quick_train", key, "--epochs 1")
                                if "quick_train" in table else ()))


def _relative(table: Mapping[str, Any], name: str, key: str, default: str) -> str:
    """A relative path inside a results folder: no absolute path, no `..`."""
    value = _str(table, name, key, default=default) or ""
    if value and (Path(value).is_absolute() or ".." in Path(value).parts):
        raise ConfigError(f"{key}.{name}", f"{value!r} must be a path relative to the results folder")
    return value


def _metrics(tool: Mapping[str, Any]) -> Metrics:
    key = "tool.torchship.metrics"
    table = _table(tool.get("metrics", {}), key)
    _unknown(table, {"file", "train_dir", "repeat_dir", "compare"}, key)
    file = _relative(table, "file", key, Metrics.file)
    train_dir = _relative(table, "train_dir", key, Metrics.train_dir)
    repeat_dir = _relative(table, "repeat_dir", key, Metrics.repeat_dir or "")
    for name, value in (("file", file), ("train_dir", train_dir)):
        if not value:
            raise ConfigError(f"{key}.{name}", "is empty", hint=f"the default is {getattr(Metrics, name)!r}")
    if repeat_dir and Path(repeat_dir) == Path(train_dir):
        raise ConfigError(f"{key}.repeat_dir", f"{repeat_dir!r} is train_dir too",
                          hint="the repeat needs a folder of its own, or \"\" for no repeat")
    compare = DEFAULT_COMPARED if "compare" not in table else _compared(
        _table(table["compare"], f"{key}.compare"), f"{key}.compare")
    return Metrics(file=file, train_dir=train_dir, repeat_dir=repeat_dir or None, compare=compare)


def _compared(table: Mapping[str, Any], key: str) -> tuple[Metric, ...]:
    metrics: list[Metric] = []
    for name, raw in table.items():
        mkey = f"{key}.{name}"
        if not name.strip():
            raise ConfigError(mkey, "a metric needs a name")
        if name in EPOCH_KEYS:
            raise ConfigError(mkey, f"{name!r} is reserved in the metrics file, not a metric")
        if not isinstance(raw, dict):
            raise ConfigError(mkey, "must be a table", hint=f"e.g. {name} = {{ rtol = 0.05 }}")
        _unknown(raw, {"rtol", "atol", "better"}, mkey)
        tol: dict[str, float] = {}
        for which in ("rtol", "atol"):
            value = raw.get(which, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    math.isfinite(value) and value >= 0):
                raise ConfigError(f"{mkey}.{which}", f"must be a number >= 0, not {value!r}")
            tol[which] = float(value)
        if "rtol" not in raw and "atol" not in raw:
            raise ConfigError(mkey, "no tolerance", hint="give rtol (relative) and/or atol (absolute)")
        better = raw.get("better")
        if better not in (None, "higher", "lower"):
            raise ConfigError(f"{mkey}.better", f"{better!r} is not allowed", hint="one of: higher, lower")
        metrics.append(Metric(name, rtol=tol["rtol"], atol=tol["atol"], better=better))
    return tuple(metrics)
