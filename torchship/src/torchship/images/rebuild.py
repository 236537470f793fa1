"""`invoke images.rebuild TAG`: rebuild a release's images and say how they differ from its record.

The release's tag is checked out in a clean worktree of its own (`git worktree add --detach`,
removed afterwards, on a failure or Ctrl-C too), so nothing of the working copy reaches the
build. Its images are built there by the ordinary build (torchship.images.build: the same
probe, labels and manifest) on the bases the tag's environment manifest records, under a
scratch name (`<image>-rebuild`) so the release's own images keep their tags, then compared
with the manifests the release wrote (results/images/, beside the project): packages (pip
freeze in the image), labels, size. The labels that say when and by which clone an image was
built are not compared. Size is reported, not judged: layer bytes move with file times.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torchship import config as tsconfig
from torchship.adapters.docker import Docker, require_engine
from torchship.adapters.git import Git
from torchship.images.build import Built, build, human_size, remove_images
from torchship.images.owner import BUILDER
from torchship.images.reference import Reference
from torchship.images.spec import OCI, ImageError, provenance

Out = Callable[[str], None]

# Per build by nature: when, and which clone.
NOT_COMPARED = (f"{OCI}.created", BUILDER)
_ENV_LINE = re.compile(r"^- (\S+) (runtime|devel): (\S+)$")


def recorded_bases(message: str) -> dict[str, dict[str, str]]:
    """{env: {variant: base ref}} from the `Environment:` lines of a release tag's message."""
    lines = message.splitlines()
    if "Environment:" not in lines:
        return {}
    out: dict[str, dict[str, str]] = {}
    for line in lines[lines.index("Environment:") + 1:]:
        m = _ENV_LINE.match(line)
        if not m:
            break
        out.setdefault(m.group(1), {})[m.group(2)] = m.group(3)
    return out


def manifest_path(results: Path, tag: str) -> Path:
    """Where the build wrote the manifest of the image tagged `tag` (build.write_manifest)."""
    return results / (re.sub(r"[^A-Za-z0-9_.-]+", "_", tag) + ".json")


# The worktree's folder is named by the rebuilding process's id: what a rebuild that was
# killed (SIGKILL: no clean-up runs) left is found, and pruned, by the next one.
PREFIX = "torchship-rebuild-"
_OWNED = re.compile(rf"/{PREFIX}(\d+)-[^/]+/tree$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def prune(git: Git, cfg: tsconfig.Config, out: Out, docker: Docker | None = None) -> list[str]:
    """Remove what killed rebuilds of this repository left: their worktrees (git's entries and
    their folders) and their `<image>-rebuild-<pid>` images. Only a rebuild whose process is
    gone. Returns what was removed."""
    dead: list[tuple[Path, int]] = []
    listed = git.run("worktree", "list", "--porcelain", check=False).stdout
    for line in listed.splitlines():
        path = line.removeprefix("worktree ")
        m = _OWNED.search(path) if line.startswith("worktree ") else None
        if m and not _alive(int(m.group(1))):
            dead.append((Path(path), int(m.group(1))))
    said = []
    if dead:
        docker = docker or require_engine()
        for tree, pid in dead:
            removed = remove_scratch(docker, f"{cfg.image}-rebuild-{pid}")
            git.run("worktree", "remove", "--force", str(tree), check=False)
            shutil.rmtree(tree.parent, ignore_errors=True)
            said.append(f"removed the worktree {tree} that a killed rebuild left"
                        + (f", and its images {', '.join(removed)}" if removed else ""))
    git.run("worktree", "prune", check=False)
    for line in said:
        out(line)
    return said


def remove_scratch(docker: Docker, scratch: str) -> list[str]:
    """Remove every image of the repository `scratch`, the name one rebuild gives its images
    (`<image>-rebuild-<pid>`, so all of them are that rebuild's, whatever tags they reached,
    recorded or not: a build stopped midway has tagged images it never returned)."""
    pairs = [ln.split(" ", 1) for ln in docker(
        "image", "ls", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}", scratch,
        check=False).stdout.splitlines() if " " in ln]
    for image in sorted({i for i, _ in pairs}):
        # A killed rebuild's probe (`docker run --rm` in the image) may still be running:
        # the image cannot go while a container of it is there.
        boxes = docker("ps", "-aq", "--filter", f"ancestor={image}", check=False).stdout.split()
        if boxes:
            docker("rm", "-f", *boxes, check=False)
    return remove_images([t for _, t in pairs], docker=docker)


@contextmanager
def worktree(git: Git, tag: str) -> Iterator[Path]:
    """A clean, detached worktree of `tag` in a temporary folder, gone afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    where = tmp / "tree"
    try:
        git.run("worktree", "add", "--detach", str(where), f"refs/tags/{tag}^{{commit}}")
        yield where
    finally:
        git.run("worktree", "remove", "--force", str(where), check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        git.run("worktree", "prune", check=False)


def differences(recorded: Mapping[str, Any], built: Built) -> tuple[list[str], list[str]]:
    """(package and label differences, size difference) of a rebuilt image from its record."""
    said: list[str] = []
    old = {p.split("==")[0]: p for p in recorded.get("pip_freeze", [])}
    new = {p.split("==")[0]: p for p in built.found.packages}
    for name in sorted(old.keys() | new.keys()):
        if name not in new:
            said.append(f"package {old[name]} recorded, not in the rebuild")
        elif name not in old:
            said.append(f"package {new[name]} in the rebuild, not recorded")
        elif old[name] != new[name]:
            said.append(f"package {old[name]} recorded, {new[name]} rebuilt")
    labels_old = {k: v for k, v in recorded.get("labels", {}).items() if k not in NOT_COMPARED}
    labels_new = {k: v for k, v in built.labels.items() if k not in NOT_COMPARED}
    for key in sorted(labels_old.keys() | labels_new.keys()):
        a, b = labels_old.get(key), labels_new.get(key)
        if a != b:
            said.append(f"label {key}: recorded {a!r}, rebuilt {b!r}")
    size: list[str] = []
    if recorded.get("size") != built.size:
        delta = built.size - int(recorded.get("size") or 0)
        size.append(f"size {human_size(int(recorded.get('size') or 0))} recorded, "
                    f"{human_size(built.size)} rebuilt ({'+' if delta >= 0 else '-'}"
                    f"{human_size(abs(delta))}; reported, not failed)")
    return said, size


@dataclass(frozen=True)
class Outcome:
    tag: str
    images: int
    differing: tuple[str, ...]  # the recorded tags whose packages or labels differ


def rebuild(start: Path | str, tag: str, *, out: Out = print, quiet: bool = False,
            verbose: bool = False, no_cache: bool = False) -> Outcome:
    """Rebuild the images of release `tag` in a clean worktree on its recorded bases and
    report, per image, how they differ from the manifests the release wrote. `no_cache`:
    every step run again, none taken from the engine's layer cache."""
    from torchship import project as projectmod
    from torchship.release.plan import ReleaseError, prefix_of
    from torchship.release.verify import images_in

    with projectmod.find(start) as project:
        git, cfg = project.git, project.config
        if git.ref(f"refs/tags/{tag}") is None:
            raise ReleaseError(f"tag {tag} does not exist",
                               hint="git fetch --tags, or check `git tag -l`")
        body = git.tag_body(tag) if git.object_type(f"refs/tags/{tag}") == "tag" else ""
        listed = [i.split("@", 1)[0] for i in images_in(body)]
        bases = recorded_bases(body)
        if not listed or not bases:
            raise ImageError(f"{tag} records no images or environment: it was made before "
                             "torchship recorded a release's images (or without images)",
                             hint="rebuild a release made by `invoke release` with images")
        results = cfg.root / "results" / "images"
        manifests = {}
        for t in listed:
            path = manifest_path(results, t)
            if path.is_file():
                manifests[t] = json.loads(path.read_text())
        if not manifests:
            raise ImageError(f"{tag}: no manifest of its images in {results}: it was built "
                             "by another clone or before torchship recorded image manifests",
                             hint="rebuild it in the clone that released it")
        commit = git.commit_of(f"refs/tags/{tag}")
        assert commit is not None
        docker = require_engine()
        prune(git, cfg, out, docker)
        prefix = prefix_of(git, cfg.root)
        ver = tag.removeprefix(cfg.release.tag_prefix)
        with worktree(git, tag) as tree:
            root = tree / prefix if prefix else tree
            local = tsconfig.local_config_path(cfg.root)
            if local.is_file():  # this machine's settings (engine, registry), not the tag's
                shutil.copy2(local, tsconfig.local_config_path(root))
            wt = projectmod.load(root).config
            missing = sorted(set(bases) - set(wt.bases))
            if missing:
                raise ImageError(f"{tag} records environment {missing[0]}, which its "
                                 "configuration does not define")
            pinned = {}
            for env, refs in bases.items():
                ref = {v: Reference.parse(r, key=f"{tag}'s {env} {v} base")
                       for v, r in refs.items()}
                base = wt.bases[env]
                pinned[env] = replace(base, runtime=ref.get("runtime", base.runtime),
                                      devel=ref.get("devel", base.devel))
            # A scratch name: the release's own images keep their tags.
            image = wt.image
            wt = replace(wt, bases=pinned, image=f"{image}-rebuild-{os.getpid()}")
            prov = provenance(wt, version=ver, revision=commit, release=True)
            try:
                # The build logs outlive the worktree: a failure's "full log" path must exist.
                built = build(wt, prov=prov, results=Path(tree.parent) / "results",
                              logs=cfg.root / "results" / "rebuild" / tag,
                              quiet=quiet, verbose=verbose, no_cache=no_cache,
                              docker=docker)
            except BaseException:
                # Stopped (Ctrl-C, SIGTERM) or failed: an image tagged before its build
                # returned is not among those build() knows to remove.
                remove_scratch(docker, wt.image)
                raise
        try:
            return _report(tag, wt.image, image, built, manifests, out)
        finally:
            remove_images([t for b in built for t in b.spec.tags], docker=docker)


def _report(tag: str, scratch: str, image: str, built: list[Built],
            manifests: Mapping[str, Mapping[str, Any]], out: Out) -> Outcome:
    differing = []
    compared = 0
    for b in built:
        released = image + b.tag.removeprefix(scratch)
        recorded = manifests.get(released)
        if recorded is None:
            out(f"{released}: no recorded manifest, not compared")
            continue
        compared += 1
        said, size = differences(recorded, b)
        if said:
            differing.append(released)
        out(f"{released}:")
        out(f"  packages and labels {'differ' if said else 'identical'} "
            f"({len(b.found.packages)} packages, revision {b.labels.get(f'{OCI}.revision', 'none')[:12]})")
        for line in [*said, *size]:
            out(f"  {line}")
        if not size:
            out(f"  size identical ({human_size(b.size)})")
    if differing:
        raise ImageError(f"the rebuild of {tag} differs from its record in packages or labels: "
                         f"{', '.join(differing)}")
    out(f"{tag}: {compared} image(s) rebuilt in a clean worktree, packages and labels "
        f"identical to the record (the {' and '.join(NOT_COMPARED)} labels are per build; "
        "size is reported, not judged)")
    return Outcome(tag, compared, ())
