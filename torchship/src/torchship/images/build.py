"""Builds: BuildKit through the docker CLI, one multi-stage Dockerfile, `--target runtime|devel`.

The docker SDK cannot drive BuildKit, so builds go through the CLI (torchship.adapters.docker,
which also gives the SDK client for the same engine). Each build passes the Dockerfile's ARGs
(`build_args`) and secrets, stages the tool's wheel for the devel image
(torchship.images.toolwheel), asks the built image what it holds (torchship.images.probe),
refuses it on a disagreement with the configuration, labels it, and writes its manifest.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torchship.adapters import proc
from torchship.adapters.docker import Docker, require_engine
from torchship.config import Config
from torchship.errors import CommandFailed, ConfigError, TorchshipError
from torchship.images import buildkit, context, toolwheel
from torchship.images.context import staged
from torchship.images.locks import requirements_for, wanted
from torchship.images.owner import built_here, owned, record
from torchship.images.probe import (
    Found,
    base_versions,
    cached_probe,
    disagreements,
    found_labels,
    layer_key,
    own_version,
    probe,
    probe_key,
    probed_layers,
    store_layers,
    store_probe,
)
from torchship.images.requirements import secret_args
from torchship.images.spec import ImageError, ImageSpec, Provenance, oci_labels, plan, provenance
from torchship.ui.progress import Display

# Docker's predefined proxy ARGs: passed on from the environment, kept out of the history.
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


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


def build_args(config: Config, spec: ImageSpec, pyproject: Mapping[str, Any]) -> dict[str, str]:
    """The Dockerfile's ARGs for `spec` (the environment's own build_args last, so they win).

    The dependency list of the variant built is its lock (docker/locks/) when there is one.
    """
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


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


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


# A step's own error line in BuildKit's plain progress (`#6 3.088 ERROR: No matching ...`):
# it says why, where BuildKit's last line only says which step failed.
_STEP_ERROR = re.compile(r"^#\d+ [\d.]+ (?:ERROR|error|E):? (.+)$")


def _build_error(spec: ImageSpec, exc: CommandFailed) -> ImageError:
    lines = exc.output.splitlines()
    own = [m.group(1) for ln in lines if (m := _STEP_ERROR.match(ln))]
    failed = [ln for ln in lines if re.search(r"error|ERROR|failed", ln)]
    why = own[0] if own else (failed or ["see its log"])[-1]
    return ImageError(f"building {spec.name} failed: {why}")


def _image_ids(docker: Docker, refs: Iterable[str]) -> set[str]:
    """The ids of those of `refs` that exist (one call; missing ones are no error)."""
    out = docker("image", "inspect", "--format", "{{.Id}}", *refs, check=False)
    return {line.strip() for line in out.stdout.splitlines() if line.startswith("sha256:")}


def inspect(docker: Docker, ref: str) -> dict[str, Any]:
    out = docker("image", "inspect", ref)
    data: list[dict[str, Any]] = json.loads(out.stdout)
    return data[0]


def build_one(docker: Docker, config: Config, spec: ImageSpec, prov: Provenance, *,
              pyproject: Mapping[str, Any], on_line: Callable[[str], None],
              no_cache: bool = False, results: Path | None = None,
              cache: Sequence[str] = ()) -> Built:
    """Build, ask the image what it holds, refuse on a disagreement, label, write the manifest.
    `cache`: BuildKit's cache arguments (a registry cache: torchship.images.commit)."""
    check_base(docker, spec.base_ref, what=spec.name)
    dockerfile = config.root / config.dockerfile
    if not dockerfile.is_file():
        raise ConfigError("tool.torchship.dockerfile", f"{dockerfile} does not exist")
    argv = [*docker.build_argv, "--network", "host", "--progress", "plain",
            "--file", str(dockerfile), "--target", spec.variant, *cache]
    args = build_args(config, spec, pyproject)
    lines, locked = requirements_for(config, pyproject, spec.env, spec.variant)
    start = time.monotonic()
    # The devel image gets the very torchship that drives this build; the runtime image
    # never carries it (a development tool), and its target never mounts the folder.
    if spec.variant == "devel":
        toolwheel.stage(config.root, lines, source=config.tool_source)
    else:
        toolwheel.folder(config.root)
    for key, value in args.items():
        argv += ["--build-arg", f"{key}={value}"]
    argv += secret_args()
    # Nothing of the clone or the host in the image (ownership: torchship.images.owner): the
    # same commit and bases give the same image ID in any clone.
    labels = oci_labels(spec, prov)

    def run_build(with_labels: Mapping[str, str], *, fresh: bool = no_cache) -> str:
        full = [*argv, "--no-cache"] if fresh else list(argv)
        for key, value in with_labels.items():
            full += ["--label", f"{key}={value}"]
        for t in spec.tags:
            full += ["--tag", t]
        # What git tracks and the named extras, never the folder (torchship.images.context).
        try:
            with staged(config.root, [toolwheel.WHEELS, *config.context_extras]) as where:
                return proc.stream([*full, str(where)], on_line=on_line,
                                   env={"DOCKER_BUILDKIT": "1"}).stdout
        except CommandFailed as exc:
            raise _build_error(spec, exc) from exc

    # Each image is built once, its labels set before the build from what it will hold:
    # what an image with the same base, dependencies and Dockerfile held (a source change),
    # else what the base holds (probed once per base, remembered; a base without python
    # cannot say, and its image is labelled after). The built image's layers
    # below the source (layer_key) say what it holds: when an image with those very layers
    # was probed, that probe holds for this one and nothing runs in the image; otherwise it
    # is probed. Only when its dependency steps changed python, torch, CUDA or cuDNN were
    # the labels wrong: then it is built again with the right ones (a fully cached pass:
    # only the image config is new).
    key = probe_key(spec, args, dockerfile.read_text())
    known = None if no_cache else cached_probe(key)
    expected = known or base_versions(docker, spec.base_ref, fresh=no_cache)
    own = own_version(pyproject)
    # The images these tags name now: replaced by this build, left nameless unless removed.
    previous = _image_ids(docker, spec.tags)
    output = run_build({**labels, **found_labels(expected)} if expected else labels)
    info = inspect(docker, spec.tags[0])
    first_id = str(info["Id"])
    lkey = layer_key(spec, info)
    # --no-cache: nothing remembered either, the image is probed.
    found = None if no_cache else probed_layers(lkey, own)
    if found is None:
        found = probe(docker, spec.tags[0])
    wrong = disagreements(spec.base, found)
    if wrong:
        remove_images(spec.tags, docker=docker)
        raise ImageError(f"{spec.name}: the image holds {', '.join(wrong)}",
                         hint=f"fix [bases.{spec.env}] in {config.source.name} or the base")
    if expected is None or found_labels(found) != found_labels(expected):
        # Never --no-cache here: this pass must give the layers just built and probed, only
        # the image config (the labels) new. It does (BuildKit takes the newest cache
        # records); should another build have raced it, the result is probed again.
        run_build({**labels, **found_labels(found)}, fresh=False)
        relabelled = inspect(docker, spec.tags[0])
        if relabelled["RootFS"].get("Layers") != info["RootFS"].get("Layers"):
            again = probe(docker, spec.tags[0])
            if found_labels(again) != found_labels(found):
                remove_images(spec.tags, docker=docker)
                raise ImageError(f"{spec.name}: its layers changed while it was labelled",
                                 hint="build it again")
            found, lkey = again, layer_key(spec, relabelled)
        info = relabelled
    store_probe(key, found)
    store_layers(lkey, found, own)
    seconds = time.monotonic() - start
    # The unlabelled first image, what the tags named before and what this clone built
    # earlier are removed when this clone built them and no tag names them (never another
    # clone's, torchship.images.owner). rmi refuses an image a container uses: it stays.
    record(config.root, str(info["Id"]))
    earlier = previous | {first_id} | built_here(config.root)
    gone = [old for old in owned(docker, earlier - {info["Id"]}, config.root)
            if docker("rmi", old, check=False).returncode == 0]
    if gone:
        record(config.root, str(info["Id"]), dropped=gone)
    reader = buildkit.read(output)
    steps, cached = reader.counts()
    ran = reader.ran()
    built = Built(spec, str(info["Id"]), int(info["Size"]), seconds, steps, cached, found,
                  ran=ran, locked=locked, labels=dict(info["Config"].get("Labels") or {}))
    if results is not None:
        built = replace(built, manifest=write_manifest(docker, built, results, info=info))
    return built


def manifest_name(tag: str) -> str:
    """The file name of an image's manifest (in results/images/)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", tag) + ".json"


def log_name(spec: ImageSpec) -> str:
    """The file name of an image's build log (beside the manifests by default)."""
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', spec.env)}-{spec.variant}.build.log"


def write_manifest(docker: Docker, built: Built, folder: Path, *,
                   info: Mapping[str, Any] | None = None) -> Path:
    """One JSON per image: tags, id, size, layers, labels, packages, fingerprint (`info`:
    the image's `docker image inspect`, when the caller has it)."""
    info = info if info is not None else inspect(docker, built.tag)
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
    path = folder / manifest_name(built.tag)
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


def build(config: Config, *, envs: Sequence[str] | None = None,
          variants: Sequence[str] | None = None, prov: Provenance | None = None,
          results: Path | None = None, no_cache: bool = False, quiet: bool = False,
          docker: Docker | None = None, display: Display | None = None,
          logs: Path | None = None, verbose: bool = False,
          cache: Callable[[ImageSpec], Sequence[str]] | None = None) -> list[Built]:
    """Build the images named (default: all), showing progress and a summary table.
    `cache`: each image's BuildKit cache arguments (a registry cache), none by default.

    Each build's whole output goes to `logs/<env>-<variant>.build.log` (default: beside the
    manifests); `display` (torchship.ui.progress) shows it, by default one of its own.
    On a failure the images this call built are removed before the error goes up.
    """
    docker = docker or require_engine()
    prov = prov or provenance(config)
    pyproject = config.pyproject.data
    specs = plan(config, prov, envs=envs, variants=variants)
    results = results if results is not None else config.root / "results" / "images"
    logs = logs if logs is not None else results
    display = display or Display.auto(quiet=quiet, verbose=verbose)
    done: list[Built] = []
    with display:
        extras = [toolwheel.WHEELS, *config.context_extras]
        missing = context.left_out(config.root, extras) if specs else []
        if missing:
            display.note(context.describe_left_out(missing))
        try:
            for spec in specs:
                done.append(_shown(display, spec, logs, functools.partial(
                    build_one, docker, config, spec, prov, pyproject=pyproject,
                    no_cache=no_cache, results=results,
                    cache=cache(spec) if cache else ())))
        except BaseException:
            remove_images([t for b in done for t in b.spec.tags], docker=docker)
            raise
    if not quiet:
        print_summary(done)
    return done


def _shown(display: Display, spec: ImageSpec, logs: Path, run: Callable[..., Built]) -> Built:
    """One build on the display: its lines to its log, its end (or failure) shown."""
    shown = display.image(spec.name, log=logs / log_name(spec))
    try:
        built = run(on_line=shown.line)
    except BaseException as exc:
        shown.failed(exc.render() if isinstance(exc, TorchshipError) else
                     "interrupted" if isinstance(exc, KeyboardInterrupt) else repr(exc))
        raise
    shown.done(f"{built.cached}/{built.steps} cached, {human_size(built.size)}")
    return built


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


