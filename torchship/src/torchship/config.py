"""[tool.torchship] in pyproject.toml -> frozen, validated dataclasses.

Each fact lives here once: the pinned bases (the image matrix), the image name, the
release policy and the comparison tolerances. Everything else reads it from `load()`.

A git-ignored `torchship.local.toml` beside pyproject.toml (or the file named by
$TORCHSHIP_LOCAL_CONFIG) may replace `image` and the `bases` tables: the way to point a
machine at a registry mirror, or at locally built stand-in bases, without editing the
committed configuration.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchship.errors import ConfigError
from torchship.images.reference import Reference

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
    """Tolerances for `nox -s compare`."""

    reference: str | None = None       # env the others are compared with (default: first)
    loss_rtol: float = 0.05            # final loss across images, relative
    accuracy_atol: float = 0.05        # final accuracy across images, absolute
    regression: float = 0.10           # benchmark median slower by more than this fails
    noise: float = 0.20                # IQR/median above this is flagged as noisy


@dataclass(frozen=True)
class Release:
    branch: str = "main"
    tag_prefix: str = "v"
    sign: bool = True
    sign_commit: bool = False
    changelog: str = "CHANGELOG.md"


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
    hooks: Hooks = field(default_factory=Hooks)
    ci: CI = field(default_factory=CI)
    # Extras of the project installed in the devel image (torch itself comes from the base).
    devel_extras: tuple[str, ...] = ("test", "notebook")

    @property
    def envs(self) -> list[str]:
        return list(self.bases)


_TOP_KEYS = {"image", "dockerfile", "require_digest", "default_env", "bases",
             "release", "compare", "hooks", "ci", "devel_extras",
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
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc


def local_config_path(root: Path) -> Path:
    return Path(os.environ.get("TORCHSHIP_LOCAL_CONFIG") or root / LOCAL_CONFIG)


def load(root: Path | str = ".", *, use_local: bool = True) -> Config:
    """Read and validate [tool.torchship] (and the local override, when present and `use_local`)."""
    root = Path(root).resolve()
    pyproject = root / "pyproject.toml"
    data = read_toml(pyproject)
    tool = _table(data.get("tool", {}).get("torchship", {}), "tool.torchship")
    _unknown(tool, _TOP_KEYS, "tool.torchship")
    source = pyproject
    local = local_config_path(root)
    if use_local and local.is_file():
        override = read_toml(local)
        _unknown(override, {"image", "require_digest", "default_env", "bases"}, local.name)
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
    compare = _dataclass_from(Compare, _table(tool.get("compare", {}),
                              "tool.torchship.compare"), "tool.torchship.compare")
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
        release=_dataclass_from(Release, _table(tool.get("release", {}), "tool.torchship.release"),
                                "tool.torchship.release"),
        compare=compare,
        source=source,
        hooks=_hooks(tool),
        ci=_dataclass_from(CI, _table(tool.get("ci", {}), "tool.torchship.ci"), "tool.torchship.ci"),
        devel_extras=_extras(tool, data),
    )


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
