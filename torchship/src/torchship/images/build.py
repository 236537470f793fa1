"""The project's images as data: pinned environments x variants -> tags, labels, builds.

Every (env, variant) pair of [tool.torchship.bases] is one `ImageSpec`; tags and labels are
small pure functions of it. Builds go through the docker CLI with BuildKit (the docker SDK
cannot), one multi-stage Dockerfile, `--target runtime|devel`. After a build the image is
asked what it holds (torch, CUDA, cuDNN, Python, its packages, the fingerprint) and the
answer is checked against what the configuration declares, then written into labels and a
manifest beside the results.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from torchship.adapters import proc
from torchship.adapters.docker import Docker, require_engine
from torchship.config import VARIANTS, Base, Config, read_toml
from torchship.errors import CommandFailed, ConfigError, TorchshipError

LABEL_NS = "io.torchship"
OCI = "org.opencontainers.image"
# Where a CA bundle named by the user's environment is taken from, in this order.
CA_VARS = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
TORCH_NAMES = frozenset({"torch"})  # comes from the base image, never reinstalled
# Docker's predefined proxy ARGs: passed on from the environment, kept out of the history.
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


class ImageError(TorchshipError):
    """An image could not be built, checked, pushed or removed."""


# --- data ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageSpec:
    """One image to build: an environment's base for one variant, and its tags."""

    env: str
    variant: str
    base: Base
    tags: tuple[str, ...]

    @property
    def base_ref(self) -> str:
        return self.base.ref(self.variant).pinned

    @property
    def name(self) -> str:
        return f"{self.env}/{self.variant}"


@dataclass(frozen=True)
class Provenance:
    """What the images of one build describe: the project version and git state."""

    version: str          # the project version, e.g. 0.4.0
    tag_version: str      # what goes into tags: the version, or version-g<sha> off a release
    revision: str | None  # the full commit
    source: str | None    # the repository URL
    created: str          # RFC 3339, UTC


@dataclass(frozen=True)
class Found:
    """What a built image holds, read from inside it."""

    python: str
    torch: str | None
    cuda: str | None
    cudnn: str | None
    packages: tuple[str, ...] = ()
    fingerprint: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Built:
    """A finished build."""

    spec: ImageSpec
    image_id: str
    size: int
    seconds: float
    steps: int
    cached: int
    found: Found
    ran: tuple[str, ...] = ()  # the steps not taken from the cache
    locked: bool = False       # dependencies installed from docker/locks/
    labels: Mapping[str, str] = field(default_factory=dict)
    manifest: Path | None = None

    @property
    def tag(self) -> str:
        return self.spec.tags[0]


# --- pure functions --------------------------------------------------------------------------

def image_tags(image: str, tag_version: str, env: str, variant: str, *,
               default_env: str | None) -> tuple[str, ...]:
    """`{image}:{version}-{env}-{variant}`, plus `{image}:{version}-{variant}` for the
    default environment."""
    tags = [f"{image}:{tag_version}-{env}-{variant}"]
    if env == default_env:
        tags.append(f"{image}:{tag_version}-{variant}")
    return tuple(tags)


def tag_version(version: str, *, revision: str | None, at_release: bool) -> str:
    """The version part of tags: the version at a release tag, else version-g<short sha>."""
    if at_release or not revision:
        return version
    return f"{version}-g{revision[:7]}"


def plan(config: Config, prov: Provenance, *, envs: Sequence[str] | None = None,
         variants: Sequence[str] | None = None) -> list[ImageSpec]:
    """The images to build: every (env, variant), or those named."""
    if not config.bases:
        raise ConfigError("tool.torchship.bases", "no pinned environment is configured",
                          hint="add [tool.torchship.bases.<env>] with runtime and devel")
    for env in envs or ():
        if env not in config.bases:
            raise ConfigError("--env", f"{env!r} is not a configured environment",
                              hint=f"one of: {', '.join(config.bases)}")
    for variant in variants or ():
        if variant not in VARIANTS:
            raise ConfigError("--variant", f"{variant!r} is not a variant",
                              hint=f"one of: {', '.join(VARIANTS)}")
    return [
        ImageSpec(env, variant, base,
                  image_tags(config.image, prov.tag_version, env, variant,
                             default_env=config.default_env))
        for env, base in config.bases.items() if not envs or env in envs
        for variant in VARIANTS if not variants or variant in variants
    ]


def oci_labels(spec: ImageSpec, prov: Provenance) -> dict[str, str]:
    """The labels known before the build: OCI provenance and the base."""
    base = spec.base.ref(spec.variant)
    labels = {
        f"{OCI}.version": prov.version,
        f"{OCI}.created": prov.created,
        f"{OCI}.base.name": f"{base.name}:{base.tag}" if base.tag else base.name,
        f"{OCI}.base.digest": base.digest or "",
        f"{LABEL_NS}.env": spec.env,
        f"{LABEL_NS}.variant": spec.variant,
    }
    if prov.revision:
        labels[f"{OCI}.revision"] = prov.revision
    if prov.source:
        labels[f"{OCI}.source"] = prov.source
    return labels


def found_labels(found: Found) -> dict[str, str]:
    """The labels read from inside the built image."""
    return {f"{LABEL_NS}.python": found.python, f"{LABEL_NS}.torch": found.torch or "none",
            f"{LABEL_NS}.cuda": found.cuda or "none", f"{LABEL_NS}.cudnn": found.cudnn or "none"}


def _matches(declared: str, found: str | None) -> bool:
    if declared.lower() in {"none", "cpu", ""}:
        return found is None
    if found is None:
        return False
    # 2.13.0 matches 2.13.0+cpu; 3.11 matches 3.11.2; 12.1 matches 12.1 (not 12.10).
    public = found.split("+")[0]
    return public == declared or public.startswith(declared + ".") or found == declared


def disagreements(base: Base, found: Found) -> list[str]:
    """Where the image contradicts what the configuration declares for its base."""
    out = []
    for key, declared, actual in (("torch", base.torch, found.torch),
                                  ("cuda", base.cuda, found.cuda),
                                  ("python", base.python, found.python)):
        if declared is not None and not _matches(declared, actual):
            out.append(f"{key} {actual or 'none'} (declared {declared})")
    return out


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(pyproject: Mapping[str, Any], *, extras: Iterable[str] = ()) -> list[str]:
    """The project's dependency lines with `extras` expanded, torch left out (the base
    brings it), self-references (`pkg[a,b]`) followed."""
    project = pyproject.get("project", {})
    me = _norm(project.get("name", ""))
    optional: Mapping[str, list[str]] = project.get("optional-dependencies", {})
    out: list[str] = []
    seen: set[str] = set()

    def add(lines: Iterable[str]) -> None:
        for line in lines:
            m = _REQ_NAME.match(line)
            name = _norm(m.group(1)) if m else ""
            if name == me and m:
                expand([e.strip() for e in (m.group(2) or "").split(",") if e.strip()])
            elif name not in TORCH_NAMES and line not in out:
                out.append(line)

    def expand(names: Iterable[str]) -> None:
        for extra in names:
            if extra in seen:
                continue
            seen.add(extra)
            if extra not in optional:
                raise ConfigError(f"project.optional-dependencies.{extra}", "no such extra")
            add(optional[extra])

    add(project.get("dependencies", []))
    expand(extras)
    return out


def build_args(config: Config, spec: ImageSpec, pyproject: Mapping[str, Any]) -> dict[str, str]:
    """The Dockerfile's ARGs for `spec` (the environment's own build_args last, so they win).

    The dependency list of the variant built is its lock (docker/locks/) when there is one.
    """
    from torchship.images.locks import requirements_for, wanted

    own, _ = requirements_for(config, pyproject, spec.env, spec.variant)
    other = "devel" if spec.variant == "runtime" else "runtime"
    lists = {spec.variant: own, other: wanted(config, pyproject, other)}  # other: unused
    return {
        "RUNTIME_BASE": spec.base.runtime.pinned,
        "DEVEL_BASE": spec.base.devel.pinned,
        "REQUIREMENTS": "\n".join(lists["runtime"]),
        "DEVEL_REQUIREMENTS": "\n".join(lists["devel"]),
        "BUILD_REQUIREMENTS": "\n".join(pyproject.get("build-system", {}).get("requires", [])),
        "TORCHSHIP_ENV": spec.env,
        **{var: os.environ[var] for var in PROXY_VARS if os.environ.get(var)},
        **spec.base.build_args,
    }


def secret_args(environ: Mapping[str, str] | None = None) -> list[str]:
    """`--secret` flags: a CA bundle the environment names (a corporate proxy's, or the
    machine's), and a pip.conf given by $TORCHSHIP_PIP_CONF (an index with a token)."""
    environ = os.environ if environ is None else environ
    args: list[str] = []
    for var in CA_VARS:
        path = environ.get(var)
        if path and Path(path).is_file():
            args += ["--secret", f"id=ca,src={path}"]
            break
    pipconf = environ.get("TORCHSHIP_PIP_CONF")
    if pipconf:
        if not Path(pipconf).is_file():
            raise ImageError(f"TORCHSHIP_PIP_CONF names {pipconf}, which does not exist")
        args += ["--secret", f"id=pipconf,src={pipconf}"]
    return args


_STEP = re.compile(r"^#(\d+) \[(?!internal\])([^\]]+)\] (\w+)")
_CACHED = re.compile(r"^#(\d+) CACHED")


def count_steps(output: str) -> tuple[int, int, tuple[str, ...]]:
    """(steps, cached, the steps that ran) among the Dockerfile's steps, FROM aside, in
    BuildKit's plain progress."""
    steps: dict[str, str] = {}
    cached: set[str] = set()
    for line in output.splitlines():
        if m := _STEP.match(line):
            if m.group(3) != "FROM":
                steps.setdefault(m.group(1), line.split(" ", 1)[1])
        elif m := _CACHED.match(line):
            cached.add(m.group(1))
    ran = tuple(text for n, text in steps.items() if n not in cached)
    return len(steps), len(set(steps) & cached), ran


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


# --- provenance -------------------------------------------------------------------------------

def _git_facts(root: Path, tag: str) -> tuple[str | None, bool, str | None]:
    """HEAD, whether `tag` names it, and origin's URL (None, False, None outside a repository)."""
    from torchship.adapters.git import Git

    repo = Git.find(root)
    if repo is None:
        return None, False, None
    with repo:
        head = repo.head()
        at_tag = head is not None and repo.commit_of(f"refs/tags/{tag}") == head
        return head, at_tag, repo.config("remote.origin.url") or None


def provenance(config: Config, *, version: str | None = None, revision: str | None = None,
               release: bool = False) -> Provenance:
    """Version and git state of the project at `config.root` (or as given, for a release)."""
    pyproject = read_toml(config.root / "pyproject.toml")
    version = version or str(pyproject.get("project", {}).get("version", "0.0.0"))
    head, head_at_tag, origin = _git_facts(config.root, f"{config.release.tag_prefix}{version}")
    revision = revision or head
    at_tag = release or (revision is not None and head_at_tag)
    urls = pyproject.get("project", {}).get("urls", {})
    source = origin or urls.get("Source")
    return Provenance(
        version=version,
        tag_version=tag_version(version, revision=revision, at_release=at_tag),
        revision=revision, source=source,
        created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


# --- engine ------------------------------------------------------------------------------------

# Run inside the image. The light form reads versions from package metadata and
# torch/version.py without importing torch (seconds saved per build); the deep form imports
# torch for cuDNN and the full fingerprint.
_PROBE = r"""
import json, platform, sys
from importlib import metadata, util
deep = sys.argv[1] == "deep"
out = {"python": platform.python_version(), "torch": None, "cuda": None, "cudnn": None}
try:
    out["torch"] = metadata.version("torch")
    spec = util.find_spec("torch")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        scope = {}
        exec(open(folder + "/version.py").read(), scope)
        out["cuda"] = scope.get("cuda")
except Exception as exc:
    out["torch_error"] = repr(exc)
out["packages"] = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()})
if deep:
    try:
        import torch
        out["torch"], out["cuda"] = str(torch.__version__), torch.version.cuda
        v = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        out["cudnn"] = None if v is None else str(v)
    except Exception as exc:
        out["torch_error"] = repr(exc)
    try:
        from torchship.envinfo import collect
        out["fingerprint"] = collect()
    except Exception as exc:
        out["fingerprint"] = {"error": repr(exc)}
print("TORCHSHIP-PROBE " + json.dumps(out))
"""


def probe(docker: Docker, image: str, *, deep: bool = True) -> Found:
    """Ask the image what it holds (no network, as its user)."""
    out = docker("run", "--rm", "--network", "none", "--entrypoint", "python", image,
                 "-c", _PROBE, "deep" if deep else "light", check=False)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("TORCHSHIP-PROBE "):
            data = json.loads(line.removeprefix("TORCHSHIP-PROBE "))
            return Found(python=data["python"], torch=data["torch"], cuda=data["cuda"],
                         cudnn=data["cudnn"], packages=tuple(data["packages"]),
                         fingerprint=data.get("fingerprint"))
    last = out.stdout.strip().splitlines()[-1:] or ["no output"]
    raise ImageError(f"{image}: could not read its versions: {last[0]}",
                     hint="the image needs `python` on PATH")


def _probe_cache() -> Path:
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(home) / "torchship" / "probes"


def probe_key(spec: ImageSpec, args: Mapping[str, str], dockerfile: str) -> str:
    """What decides torch, CUDA, cuDNN and the environment of an image: its base, its
    dependency lists and the Dockerfile (the source does not)."""
    import hashlib

    parts = [spec.variant, spec.base_ref, dockerfile,
             *(f"{k}={v}" for k, v in sorted(args.items()) if k != "TORCHSHIP_ENV")]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _cached_probe(key: str) -> Found | None:
    path = _probe_cache() / f"{key}.json"
    try:
        data = json.loads(path.read_text())
        return Found(python=data["python"], torch=data["torch"], cuda=data["cuda"],
                     cudnn=data["cudnn"], fingerprint=data["fingerprint"])
    except (OSError, ValueError, KeyError):
        return None


def _store_probe(key: str, found: Found) -> None:
    folder = _probe_cache()
    folder.mkdir(parents=True, exist_ok=True)
    data = {"python": found.python, "torch": found.torch, "cuda": found.cuda,
            "cudnn": found.cudnn, "fingerprint": found.fingerprint}
    (folder / f"{key}.json").write_text(json.dumps(data))


# The Dockerfile's declaration, per image: how many of its last layers hold the project's
# own package (and source) and nothing else. Absent: 0, every layer counts.
SOURCE_LAYERS = f"{LABEL_NS}.source-layers"


def layer_key(spec: ImageSpec, info: Mapping[str, Any]) -> str:
    """What decides everything a probe reads in a built image except the project's own
    distribution: its layers (content digests) below the source layers, which include the
    base's, and its environment and user. A source-only change leaves all of them as they
    were, so a probe of an image with the same key holds for this one."""
    import hashlib

    config = info.get("Config") or {}
    layers = list(info.get("RootFS", {}).get("Layers") or [])
    try:
        own = int((config.get("Labels") or {}).get(SOURCE_LAYERS, "0"))
    except ValueError:
        own = 0
    own = min(max(own, 0), len(layers))
    parts = [spec.variant, *layers[:len(layers) - own], "", *sorted(config.get("Env") or []),
             str(config.get("User") or "")]
    return "layers-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def own_version(pyproject: Mapping[str, Any]) -> tuple[str, str] | None:
    """The project's (name, version) as pyproject.toml states them; None when the version
    is dynamic (only the built package knows it then)."""
    project = pyproject.get("project", {})
    if "version" not in project or "name" not in project:
        return None
    return str(project["name"]), str(project["version"])


def _split_own(packages: Iterable[str], name: str) -> tuple[list[str], str | None]:
    """(the other packages, the project's own `Name==version`) of a probe's package list."""
    others, own = [], None
    for p in packages:
        if _norm(p.split("==")[0]) == _norm(name):
            own = p
        else:
            others.append(p)
    return others, own


def _probed_layers(key: str, own: tuple[str, str] | None) -> Found | None:
    """The probe of an image with the same layer key, the project's own entry brought up to
    date; None when there is none, or when the project's version changed since."""
    if own is None:
        return None
    try:
        data = json.loads((_probe_cache() / f"{key}.json").read_text())
        if data["declared"] != list(own) or data["own"] is None:
            return None
        packages = tuple(sorted({*data["others"], data["own"]}))
        return Found(python=data["python"], torch=data["torch"], cuda=data["cuda"],
                     cudnn=data["cudnn"], packages=packages, fingerprint=data["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store_layers(key: str, found: Found, own: tuple[str, str] | None) -> None:
    if own is None:
        return
    others, mine = _split_own(found.packages, own[0])
    folder = _probe_cache()
    folder.mkdir(parents=True, exist_ok=True)
    data = {"python": found.python, "torch": found.torch, "cuda": found.cuda,
            "cudnn": found.cudnn, "fingerprint": found.fingerprint,
            "others": others, "own": mine, "declared": list(own)}
    (folder / f"{key}.json").write_text(json.dumps(data))


def check_base(docker: Docker, ref: str, *, what: str) -> None:
    """A missing base fails here, clearly, rather than deep inside BuildKit's output."""
    if docker.image_exists(ref):
        return
    from torchship.images.registry import RegistryError, resolve_digest

    try:
        resolve_digest(ref)
    except RegistryError as exc:
        raise ImageError(f"base of {what} is not available: {exc.render()}",
                         hint="push it, fix the reference, or run `invoke images.pin`") from exc


def _build_error(spec: ImageSpec, exc: CommandFailed) -> ImageError:
    lines = [ln for ln in exc.output.splitlines() if re.search(r"error|ERROR|failed", ln)]
    return ImageError(f"building {spec.name} failed: {(lines or ['see the output above'])[-1]}")


def _image_ids(docker: Docker, refs: Iterable[str]) -> set[str]:
    """The ids of those of `refs` that exist (one call; missing ones are no error)."""
    out = docker("image", "inspect", "--format", "{{.Id}}", *refs, check=False)
    return {line.strip() for line in out.stdout.splitlines() if line.startswith("sha256:")}


def _inspect(docker: Docker, ref: str) -> dict[str, Any]:
    out = docker("image", "inspect", ref)
    data: list[dict[str, Any]] = json.loads(out.stdout)
    return data[0]


def build_one(docker: Docker, config: Config, spec: ImageSpec, prov: Provenance, *,
              pyproject: Mapping[str, Any], on_line: Callable[[str], None],
              no_cache: bool = False, results: Path | None = None) -> Built:
    """Build, ask the image what it holds, refuse on a disagreement, label, write the manifest."""
    check_base(docker, spec.base_ref, what=spec.name)
    dockerfile = config.root / config.dockerfile
    if not dockerfile.is_file():
        raise ConfigError("tool.torchship.dockerfile", f"{dockerfile} does not exist")
    argv = [*docker.build_argv, "--network", "host", "--progress", "plain",
            "--file", str(dockerfile), "--target", spec.variant]
    args = build_args(config, spec, pyproject)
    for key, value in args.items():
        argv += ["--build-arg", f"{key}={value}"]
    argv += secret_args()
    labels = oci_labels(spec, prov)

    def run_build(with_labels: Mapping[str, str], *, fresh: bool = no_cache) -> str:
        full = [*argv, "--no-cache"] if fresh else list(argv)
        for key, value in with_labels.items():
            full += ["--label", f"{key}={value}"]
        for t in spec.tags:
            full += ["--tag", t]
        try:
            return proc.stream([*full, str(config.root)], on_line=on_line,
                               env={"DOCKER_BUILDKIT": "1"}).stdout
        except CommandFailed as exc:
            raise _build_error(spec, exc) from exc

    # An image with the same base, dependencies and Dockerfile was probed before (a source
    # change): its versions label the build at once (the guess). The built image's layers
    # below the source (layer_key) say what it holds: when an image with those very layers
    # was probed, that probe holds for this one and nothing runs in the image; otherwise it
    # is probed. When the labels built were wrong (or missing), it is built again with the
    # right ones (a fully cached pass: only the image config is new).
    key = probe_key(spec, args, dockerfile.read_text())
    known = None if no_cache else _cached_probe(key)
    own = own_version(pyproject)
    # The images these tags name now: replaced by this build, left nameless unless removed.
    previous = _image_ids(docker, spec.tags)
    start = time.monotonic()
    output = run_build({**labels, **found_labels(known)} if known else labels)
    info = _inspect(docker, spec.tags[0])
    first_id = str(info["Id"])
    lkey = layer_key(spec, info)
    # --no-cache: nothing remembered either, the image is probed.
    found = None if no_cache else _probed_layers(lkey, own)
    if found is None:
        found = probe(docker, spec.tags[0])
    wrong = disagreements(spec.base, found)
    if wrong:
        remove_images(spec.tags, docker=docker)
        raise ImageError(f"{spec.name}: the image holds {', '.join(wrong)}",
                         hint=f"fix [bases.{spec.env}] in {config.source.name} or the base")
    if known is None or found_labels(found) != found_labels(known):
        # Never --no-cache here: this pass must give the layers just built and probed, only
        # the image config (the labels) new. It does (BuildKit takes the newest cache
        # records); should another build have raced it, the result is probed again.
        run_build({**labels, **found_labels(found)}, fresh=False)
        relabelled = _inspect(docker, spec.tags[0])
        if relabelled["RootFS"].get("Layers") != info["RootFS"].get("Layers"):
            again = probe(docker, spec.tags[0])
            if found_labels(again) != found_labels(found):
                remove_images(spec.tags, docker=docker)
                raise ImageError(f"{spec.name}: its layers changed while it was labelled",
                                 hint="build it again")
            found, lkey = again, layer_key(spec, relabelled)
        info = relabelled
    _store_probe(key, found)
    _store_layers(lkey, found, own)
    seconds = time.monotonic() - start
    # The unlabelled first image and what the tags named before are nameless now. Without
    # --force, rmi refuses an image another tag or a container still uses: those stay.
    for old in (previous | {first_id}) - {info["Id"]}:
        docker("rmi", str(old), check=False)
    steps, cached, ran = count_steps(output)
    from torchship.images.locks import requirements_for

    _, locked = requirements_for(config, pyproject, spec.env, spec.variant)
    built = Built(spec, str(info["Id"]), int(info["Size"]), seconds, steps, cached, found,
                  ran=ran, locked=locked, labels=dict(info["Config"].get("Labels") or {}))
    if results is not None:
        built = replace(built, manifest=write_manifest(docker, built, results, info=info))
    return built


def write_manifest(docker: Docker, built: Built, folder: Path, *,
                   info: Mapping[str, Any] | None = None) -> Path:
    """One JSON per image: tags, id, size, layers, labels, packages, fingerprint (`info`:
    the image's `docker image inspect`, when the caller has it)."""
    info = info if info is not None else _inspect(docker, built.tag)
    history = docker("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}",
                     built.tag).stdout.splitlines()
    data = {
        "tags": list(built.spec.tags), "id": built.image_id, "env": built.spec.env,
        "variant": built.spec.variant, "base": built.spec.base_ref, "size": built.size,
        "build_seconds": round(built.seconds, 2),
        "steps": built.steps, "steps_cached": built.cached, "steps_run": list(built.ran),
        "dependencies_locked": built.locked,
        "layers": info["RootFS"].get("Layers", []),
        "history": [dict(zip(("size", "created_by"), h.split("\t", 1), strict=False))
                    for h in history],
        "labels": dict(built.labels),
        "versions": {"python": built.found.python, "torch": built.found.torch,
                     "cuda": built.found.cuda, "cudnn": built.found.cudnn},
        "pip_freeze": list(built.found.packages),
        "fingerprint": built.found.fingerprint,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", built.tag) + ".json")
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def remove_images(tags: Iterable[str], *, docker: Docker | None = None) -> list[str]:
    """Remove these tags (missing ones are fine); return those that were there."""
    docker = docker or require_engine()
    removed = []
    for t in tags:
        if docker("rmi", t, check=False).returncode == 0:
            removed.append(t)
    return removed


# --- the operations tasks and the release call --------------------------------------------------

def build(config: Config, *, envs: Sequence[str] | None = None,
          variants: Sequence[str] | None = None, prov: Provenance | None = None,
          results: Path | None = None, no_cache: bool = False, quiet: bool = False,
          docker: Docker | None = None) -> list[Built]:
    """Build the images named (default: all), printing progress and a summary table.

    On a failure the images this call built are removed before the error goes up.
    """
    docker = docker or require_engine()
    prov = prov or provenance(config)
    pyproject = read_toml(config.root / "pyproject.toml")
    specs = plan(config, prov, envs=envs, variants=variants)
    results = results if results is not None else config.root / "results" / "images"
    done: list[Built] = []
    try:
        for spec in specs:
            done.append(build_one(docker, config, spec, prov, pyproject=pyproject,
                                  on_line=_printer(f"[{spec.name}] ", quiet=quiet),
                                  no_cache=no_cache, results=results))
    except BaseException:
        remove_images([t for b in done for t in b.spec.tags], docker=docker)
        raise
    if not quiet:
        print_summary(done)
    return done


def _printer(prefix: str, *, quiet: bool) -> Callable[[str], None]:
    """Where build output goes: the terminal, each line marked with its image."""
    def show(line: str) -> None:
        if not quiet:
            print(prefix + line, flush=True)
    return show


def print_summary(built: Sequence[Built]) -> None:
    """The table a person reads at the end of a build."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="images built")
    table.add_column("tag", no_wrap=True)
    for col in ("size", "build time", "layers reused", "torch", "cuda", "python"):
        table.add_column(col, justify="right" if col != "torch" else "left", no_wrap=True)
    for b in built:
        table.add_row("\n".join(b.spec.tags), human_size(b.size), f"{b.seconds:.1f} s",
                      f"{b.cached}/{b.steps}", b.found.torch or "-", b.found.cuda or "-",
                      b.found.python)
    # Not a terminal (CI logs): wide enough that the tags are never cut.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def build_release_images(config: Config, version: str, commit: str, *,
                         results: Path | None = None, quiet: bool = False) -> list[str]:
    """Build every (env, variant) of a release, labelled with its version and commit;
    return the tags. On failure nothing of it is left behind."""
    prov = provenance(config, version=version, revision=commit, release=True)
    built = build(config, prov=prov, results=results, quiet=quiet)
    return [t for b in built for t in b.spec.tags]


def release_tags(config: Config, version: str) -> list[str]:
    """The tags a release of `version` builds (for plans and --dry-run)."""
    prov = Provenance(version, version, None, None, "")
    return [t for s in plan(config, prov) for t in s.tags]


@dataclass(frozen=True)
class Pushed:
    tag: str
    digest: str


def push(config: Config, tags: Sequence[str] | None = None, *,
         docker: Docker | None = None) -> list[Pushed]:
    """Push the images (default: the current version's) and confirm each by pulling its
    digest back and comparing the image id."""
    from torchship.images.registry import Reference, resolve_digest

    docker = docker or require_engine()
    if tags is None:
        prov = provenance(config)
        tags = [t for s in plan(config, prov) for t in s.tags]
    missing = [t for t in tags if not docker.image_exists(t)]
    if missing:
        raise ImageError(f"{missing[0]} does not exist here",
                         hint="build it first: invoke images.build")
    out = []
    for t in tags:
        local_id = str(_inspect(docker, t)["Id"])
        try:
            docker("push", t)
        except CommandFailed as exc:
            raise ImageError(f"pushing {t} failed: {exc.render()}",
                             hint="is the registry up, and are you logged in?") from exc
        digest = resolve_digest(t)
        pinned = f"{Reference.parse(t).name}@{digest}"
        docker("pull", pinned)
        pulled_id = str(_inspect(docker, pinned)["Id"])
        if pulled_id != local_id:
            raise ImageError(f"{pinned} pulled back as {pulled_id[:19]}, "
                             f"not the pushed {local_id[:19]}")
        out.append(Pushed(t, digest))
    return out


@dataclass(frozen=True)
class ReleaseImages:
    """The release's image step (torchship.release.plan.ImageStep): plan, preflight, build,
    push, undo and verify the images of one release."""

    config: Config

    # A project with no pinned environment releases without images (nothing to build).

    def planned(self, version: str) -> list[str]:
        return release_tags(self.config, version) if self.config.bases else []

    def check(self) -> None:
        """Preflight: the engine answers, every base is there, the configuration builds."""
        if not self.config.bases:
            return
        docker = require_engine()
        pyproject = read_toml(self.config.root / "pyproject.toml")
        prov = Provenance("0", "0", None, None, "")
        for spec in plan(self.config, prov):
            check_base(docker, spec.base_ref, what=spec.name)
            build_args(self.config, spec, pyproject)  # a stale lock fails here, not later

    def build(self, version: str, commit: str) -> list[str]:
        if not self.config.bases:
            return []
        return build_release_images(self.config, version, commit)

    def push(self, tags: list[str]) -> None:
        push(self.config, tags)

    def remove(self, tags: list[str]) -> None:
        remove_images(tags)

    def verify(self, tags: list[str], commit: str) -> None:
        """Each image exists and its labels name `commit`."""
        docker = require_engine()
        for t in tags:
            if not docker.image_exists(t):
                raise ImageError(f"{t} does not exist here",
                                 hint="build it: invoke images.build, or pull it")
            revision = docker.label(t, f"{OCI}.revision")
            if revision != commit:
                raise ImageError(f"{t} is labelled with revision {revision or 'none'}, "
                                 f"not {commit[:12]}")


def release_step(config: Config) -> ReleaseImages:
    """The hook `invoke release` looks up (torchship.release.plan.image_step)."""
    return ReleaseImages(config)
