"""Publishing images: push, confirm by pulling the digest back, and the release's image step.

`invoke images.push` pushes this version's images; `invoke release` plans, builds, pushes,
verifies and (on a later failure) removes the images of a release through `release_step`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from torchship.adapters.docker import Docker, require_engine
from torchship.config import Config
from torchship.errors import CommandFailed
from torchship.images import toolwheel
from torchship.images.build import (
    Built,
    build,
    build_args,
    check_base,
    inspect,
    log_name,
    manifest_name,
    remove_images,
)
from torchship.images.locks import requirements_for
from torchship.images.reference import Reference
from torchship.images.registry import resolve_digest
from torchship.images.spec import (
    OCI,
    ImageError,
    Provenance,
    check_image_name,
    plan,
    provenance,
)

if TYPE_CHECKING:
    from torchship.ui.progress import Display


def build_release_images(config: Config, version: str, commit: str, *,
                         results: Path | None = None, quiet: bool = False) -> list[str]:
    """Build every (env, variant) of a release, labelled with its version and commit;
    return the tags. On failure nothing of it is left behind: images, manifests, build logs,
    the staged tool wheel."""
    prov = provenance(config, version=version, revision=commit, release=True)
    try:
        built = build(config, prov=prov, results=results, quiet=quiet)
    except BaseException:
        remove_outputs(config, release_tags(config, version), results=results)
        raise
    return [t for b in built for t in b.spec.tags]


# -- tested images (i23r) -------------------------------------------------------------------

def build_release_image(config: Config, version: str, commit: str, *, env: str, variant: str,
                        display: Display | None = None, logs: Path | None = None) -> Built:
    """One image of a tested release (torchship.release.steps.TestImages), built from the
    work tree as the release wrote it, labelled with its version and `commit` (the commit it
    is cut from): the matrix tests it, the release pushes it. A failure leaves nothing of it
    (build removes what it built; the release's undo removes the rest)."""
    prov = provenance(config, version=version, revision=commit, release=True)
    return build(config, envs=[env], variants=[variant], prov=prov, display=display,
                 logs=logs, quiet=display is not None)[0]


def remove_outputs(config: Config, tags: Sequence[str], *,
                   results: Path | None = None) -> list[str]:
    """Remove what building these (release) tags wrote besides the images: their manifests
    and build logs (results/images/) and the tool's wheel staged for the devel build
    (.torchship/wheels/, which every build stages again). Returns the paths removed, from
    the project."""
    results = results if results is not None else config.root / "results" / "images"
    prov = Provenance("0", "0", None, None, "")
    specs = [s for s in plan(config, prov)
             if any(t.endswith(f"-{s.env}-{s.variant}") for t in tags)]
    paths = [results / manifest_name(t) for t in tags] + [results / log_name(s) for s in specs]
    wheels = config.root / toolwheel.WHEELS
    if specs and wheels.is_dir():
        paths += sorted(wheels.glob("*.whl"))
    gone = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            continue  # left for a person to see; the rollback goes on
        gone.append(path)
    for folder in (wheels, wheels.parent, results, results.parent):
        with suppress(OSError):
            folder.rmdir()  # only when empty: made by this build, or emptied by it
    return [str(p.relative_to(config.root)) if p.is_relative_to(config.root) else str(p)
            for p in gone]


def release_tags(config: Config, version: str) -> list[str]:
    """The tags a release of `version` builds (for plans and --dry-run)."""
    prov = Provenance(version, version, None, None, "")
    return [t for s in plan(config, prov) for t in s.tags]


@dataclass(frozen=True)
class Pushed:
    tag: str
    digest: str


def push(config: Config, tags: Sequence[str] | None = None, *,
         docker: Docker | None = None,
         on_pushed: Callable[[Pushed], None] | None = None,
         on_landed: Callable[[Pushed], None] | None = None) -> list[Pushed]:
    """Push the images (default: the current version's) and confirm each by pulling its
    digest back and comparing the image id. `on_landed` hears of each one the moment the
    registry names its digest, before that check (an undo must find it even when the check
    fails); `on_pushed` once it is confirmed, so a failure at the next one never hides what
    was published."""
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
        local_id = str(inspect(docker, t)["Id"])
        try:
            docker("push", t)
        except CommandFailed as exc:
            raise ImageError(f"pushing {t} failed: {exc.render()}",
                             hint="is the registry up, and are you logged in?") from exc
        digest = resolve_digest(t)
        if on_landed is not None:
            on_landed(Pushed(t, digest))
        pinned = f"{Reference.parse(t).name}@{digest}"
        docker("pull", pinned)
        pulled_id = str(inspect(docker, pinned)["Id"])
        if pulled_id != local_id:
            raise ImageError(f"{pinned} pulled back as {pulled_id[:19]}, "
                             f"not the pushed {local_id[:19]}")
        out.append(Pushed(t, digest))
        if on_pushed is not None:
            on_pushed(out[-1])
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
        check_image_name(self.config.image)  # a name Docker refuses fails now, not mid-release
        docker = require_engine()
        pyproject = self.config.pyproject.data
        prov = Provenance("0", "0", None, None, "")
        for spec in plan(self.config, prov):
            check_base(docker, spec.base_ref, what=spec.name)
            build_args(self.config, spec, pyproject)  # a stale lock fails here, not later
            if spec.variant == "devel":
                lines, _ = requirements_for(self.config, pyproject, spec.env, spec.variant)
                toolwheel.preflight(lines)  # a torchship the project's pin refuses

    def build(self, version: str, commit: str) -> list[str]:
        if not self.config.bases:
            return []
        return build_release_images(self.config, version, commit)

    def push(self, tags: list[str],
             on_pushed: Callable[[str, str], None] | None = None,
             on_landed: Callable[[str, str], None] | None = None) -> None:
        report = (lambda p: on_pushed(p.tag, p.digest)) if on_pushed else None
        landed = (lambda p: on_landed(p.tag, p.digest)) if on_landed else None
        push(self.config, tags, on_pushed=report, on_landed=landed)

    def remove(self, tags: list[str]) -> None:
        remove_images(tags)
        remove_outputs(self.config, tags)

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
