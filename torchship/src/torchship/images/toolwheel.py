"""The torchship that drives a build, as a wheel for the devel image.

The devel image runs the project's suites, and they use torchship (the matrix runs
`python -m torchship.envinfo` there, the benchmark suite imports `torchship.gpubench`), so
the project's devel dependencies name it (`torchship~=X.Y`). It must be the same torchship
that builds the image, wherever that came from. `importlib.metadata` and the
`direct_url.json` pip records (PEP 610) say where:

- a directory (this repository's editable `./torchship`, or any local checkout): a wheel
  is built from it, in a clean copy, with a fixed SOURCE_DATE_EPOCH, and cached by the
  content of the source;
- a wheel file (a project that installed the tool from one): that file, checked against the
  hash pip recorded;
- a local source archive: a wheel built from it, cached by its hash;
- a git repository (a project whose [tool.torchship.tool] source is a git URL at the tool's
  tag): the commit pip recorded, cloned on this machine (which reached it to install the
  tool) and built as a directory, cached by URL, commit and subdirectory;
- metadata left in a source tree (`src/torchship.egg-info`, first on the path when `src`
  is): that source tree, as a directory;
- an index or a find-links folder (no direct_url.json): the wheel in a find-links folder of
  this machine (PIP_FIND_LINKS, UV_FIND_LINKS, pip's configuration) whose files are exactly
  the installed ones (their RECORD hashes agree), when there is one: a local folder is out
  of the build's reach; else, for a project whose tool source is the team's index URL, the
  wheel of that version fetched from it by this machine's pip (its credentials stay here);
  else nothing to do, the build's pip reaches the same index (a private one through the
  `pipconf` BuildKit secret, docs/images.md).

The wheel goes into `WHEELS` inside the build context, which the Dockerfile's devel
dependency step bind-mounts; install_deps.sh installs it as that very file. The folder is
created empty when there is nothing to stage, because a bind mount's source must exist. A
wheel is written only when its bytes differ from the one already there, and the same tool
gives the same bytes, so BuildKit keeps its cached dependency layer across builds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from torchship.adapters import proc
from torchship.errors import CommandFailed
from torchship.images import cache_dir
from torchship.images.requirements import requirement_name
from torchship.images.spec import ImageError
from torchship.toolsource import ToolSource

DIST = "torchship"
# Inside the build context; docker/Dockerfile's devel dependency step bind-mounts it.
WHEELS = ".torchship/wheels"
# Zip timestamps (1980-01-01, the earliest a zip can hold): the same source, the same bytes.
EPOCH = "315532800"
# What a source tree holds besides its source: never part of the wheel or of its key.
_NOT_SOURCE = frozenset({".git", ".hg", ".svn", "build", "dist", "__pycache__", ".venv", "venv",
                         ".nox", ".tox", ".mypy_cache", ".ruff_cache", ".pytest_cache",
                         ".benchmarks", "node_modules", "results"})

Kind = Literal["directory", "wheel", "archive", "index", "git"]


@dataclass(frozen=True)
class Origin:
    """Where the installed distribution came from."""

    name: str
    version: str
    kind: Kind
    path: Path | None = None      # the directory, wheel or archive on this machine
    sha256: str | None = None     # what pip recorded for a wheel or archive
    url: str | None = None        # a git repository: its URL,
    commit: str | None = None     # the commit pip installed,
    subdirectory: str = ""        # and the tool's folder in it

    def describe(self) -> str:
        where = f" {self.path}" if self.path else (f" {self.url}@{self.commit}" if self.url else "")
        return f"{self.name} {self.version} (installed from {self.kind}{where})"


def origin(name: str = DIST, *, dist: metadata.Distribution | None = None) -> Origin:
    """Where the installed `name` (or `dist`) came from, per its direct_url.json (PEP 610)."""
    if dist is None:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise ImageError(f"{name} is not installed in {sys.executable}",
                             hint=f"install it: pip install {name}") from exc
    name, version = dist.metadata["Name"], dist.version
    text = dist.read_text("direct_url.json")
    if not text:
        tree = _source_tree(dist, name)
        if tree:
            return Origin(name, version, "directory", tree)
        found = _in_find_links(dist)
        return Origin(name, version, "wheel", found) if found else Origin(name, version, "index")
    data = json.loads(text)
    vcs = data.get("vcs_info") or {}
    if vcs.get("vcs") == "git" and vcs.get("commit_id"):
        return Origin(name, version, "git", url=str(data["url"]), commit=str(vcs["commit_id"]),
                      subdirectory=str(data.get("subdirectory", "")))
    url = urllib.parse.urlparse(str(data.get("url", "")))
    if url.scheme != "file" or "vcs_info" in data:
        raise ImageError(f"{name} {version} was installed from {data.get('url')}, which an "
                         "image build cannot install",
                         hint=f"install {name} from a local checkout, a wheel file or an index")
    path = Path(urllib.request.url2pathname(url.path))
    if "dir_info" in data:
        return Origin(name, version, "directory", path)
    info = data.get("archive_info") or {}
    sha = (info.get("hashes") or {}).get("sha256")
    if not sha and str(info.get("hash", "")).startswith("sha256="):
        sha = str(info["hash"]).removeprefix("sha256=")
    kind: Kind = "wheel" if path.name.endswith(".whl") else "archive"
    return Origin(name, version, kind, path, sha)


def _source_tree(dist: metadata.Distribution, name: str) -> Path | None:
    """The project folder when `dist` is the metadata a build left in a source tree
    (`src/torchship.egg-info`, found first when `src` is on the path): that source is what
    runs, and no index has it. None for an installed distribution."""
    entry = Path(str(dist.locate_file("")))
    for root in (entry, entry.parent):
        pyproject = root / "pyproject.toml"
        if pyproject.is_file():
            from torchship.config import Pyproject

            declared = Pyproject.read(root).name
            if requirement_name(declared) == requirement_name(name):
                return root
    return None


def find_links() -> list[Path]:
    """The local folders pip and uv take wheels from on this machine (environment first)."""
    values = [os.environ.get("PIP_FIND_LINKS", ""), os.environ.get("UV_FIND_LINKS", "")]
    done = proc.run([sys.executable, "-m", "pip", "config", "list"], check=False)
    for line in (done.stdout or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith(".find-links"):
            values.append(value.strip().strip("'\""))
    folders: list[Path] = []
    for value in values:
        for item in value.replace(",", " ").split():
            parsed = urllib.parse.urlparse(item)
            path = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else (
                Path(item) if not parsed.scheme else None)
            if path is not None and path.is_dir() and path not in folders:
                folders.append(path)
    return folders


def _record(lines: Iterable[str]) -> set[tuple[str, str]]:
    """(path, hash) of a RECORD's files that carry a hash (the code, not the metadata)."""
    out: set[tuple[str, str]] = set()
    for line in lines:
        path, _, rest = line.partition(",")
        digest = rest.partition(",")[0]
        if digest and ".dist-info/" not in path and not path.startswith(".."):  # scripts: made at install
            out.add((path, digest))
    return out


def _in_find_links(dist: metadata.Distribution) -> Path | None:
    """The wheel in a find-links folder whose files are exactly `dist`'s installed files."""
    import zipfile

    installed = _record((dist.read_text("RECORD") or "").splitlines())
    if not installed:
        return None
    stem = f"{re.sub(r'[-_.]+', '_', dist.metadata['Name']).lower()}-{dist.version}-"
    for where in find_links():
        for wheel in sorted(where.glob("*.whl")):
            if not wheel.name.lower().startswith(stem.lower()):
                continue
            with zipfile.ZipFile(wheel) as zf:
                record = next((n for n in zf.namelist() if n.endswith(".dist-info/RECORD")), None)
                if record and _record(zf.read(record).decode().splitlines()) == installed:
                    return wheel
    return None


def _source_files(root: Path) -> Iterator[Path]:
    """The files of a source tree (relative, sorted), without build output and caches."""
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_SOURCE and not d.endswith(".egg-info"))
        for name in sorted(files):
            if not name.endswith((".pyc", ".pyo")):
                yield (Path(here) / name).relative_to(root)


def _tree_key(root: Path) -> str:
    digest = hashlib.sha256()
    for rel in _source_files(root):
        path = root / rel
        digest.update(f"{rel}\0{os.access(path, os.X_OK)}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _has_pip() -> bool:
    import importlib.util

    return importlib.util.find_spec("pip") is not None


def wheel_command(source: Path, out: Path) -> list[str]:
    """The PEP 517 build of `source` into `out`, in build isolation: this interpreter's pip,
    else uv's (an environment made by uv, as nox's `uv|virtualenv` makes, has no pip)."""
    if _has_pip():
        return [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                "--wheel-dir", str(out), str(source)]
    uv = shutil.which(os.environ.get("UV") or "uv")  # $UV: the uv nox itself would use
    if uv is None:
        raise ImageError(f"cannot build a wheel of {source}: {sys.executable} has no pip and "
                         "no uv is on PATH", hint=f"{sys.executable} -m ensurepip, or install uv")
    return [uv, "build", "--quiet", "--wheel", "--out-dir", str(out), str(source)]


def build_wheel(source: Path, out: Path) -> Path:
    """The wheel of `source`, built reproducibly (a fixed SOURCE_DATE_EPOCH) into `out`."""
    try:
        proc.run(wheel_command(source, out), env={"SOURCE_DATE_EPOCH": EPOCH})
    except CommandFailed as exc:
        raise ImageError(f"building a wheel of {source} failed: {exc.render()}") from exc
    [wheel] = out.glob("*.whl")
    return wheel


def _built(org: Origin) -> Path:
    """The wheel of a directory or source archive: from the cache, else built."""
    assert org.path is not None  # a directory or archive origin always has one
    if not org.path.exists():
        raise ImageError(f"{org.describe()}: it is gone",
                         hint=f"reinstall {org.name}, or install it from an index")
    key = _tree_key(org.path) if org.kind == "directory" else _file_sha256(org.path)
    cached = cache_dir("tool-wheels") / key[:32]
    found = sorted(cached.glob("*.whl"))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory(prefix="torchship-wheel-") as tmp:
        source = org.path
        if org.kind == "directory":
            # A clean copy: an in-tree build would reuse a stale build/ (with modules since
            # deleted) and leave build output in the user's checkout.
            source = Path(tmp) / "src"
            for rel in _source_files(org.path):
                (source / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(org.path / rel, source / rel)
        wheel = build_wheel(source, Path(tmp) / "out")
        cached.mkdir(parents=True, exist_ok=True)
        partial = cached / (wheel.name + ".partial")
        shutil.copyfile(wheel, partial)
        os.replace(partial, cached / wheel.name)  # whole or not at all: builds may race
    return cached / wheel.name


def _cached(key: str, make: Callable[[Path], Path]) -> Path:
    """The wheel cached under `key`, else `make(tmp)`'s, cached (whole or not at all)."""
    cached = cache_dir("tool-wheels") / hashlib.sha256(key.encode()).hexdigest()[:32]
    found = sorted(cached.glob("*.whl"))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory(prefix="torchship-wheel-") as tmp:
        wheel = make(Path(tmp))
        cached.mkdir(parents=True, exist_ok=True)
        partial = cached / (wheel.name + ".partial")
        shutil.copyfile(wheel, partial)
        os.replace(partial, cached / wheel.name)
    return cached / wheel.name


def _from_git(org: Origin) -> Path:
    """The wheel of the commit pip installed from git: cloned here, built as a directory."""
    url, commit = org.url or "", org.commit or ""  # a git origin always has both

    def make(tmp: Path) -> Path:
        clone = tmp / "clone"
        from torchship.adapters.git import Git, GitError

        try:
            Git.clone(url, clone, "--no-checkout").run("checkout", "--quiet", commit)
        except GitError as exc:
            raise ImageError(f"{org.describe()}: cannot get that commit again: {exc.render()}",
                             hint=f"reinstall {org.name} from its source, or from an index") from exc
        return build_wheel(clone / org.subdirectory, tmp / "out")

    return _cached(f"git\0{url}\0{commit}\0{org.subdirectory}", make)


def _from_index(org: Origin, source: ToolSource) -> Path:
    """The wheel of `org`'s version from the team's index, fetched by this machine's pip
    (its configuration and credentials, which never enter the build)."""
    def make(tmp: Path) -> Path:
        try:
            proc.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                      "--wheel-dir", str(tmp), *source.pip_args(), f"{org.name}=={org.version}"],
                     env={"SOURCE_DATE_EPOCH": EPOCH})
        except CommandFailed as exc:
            raise ImageError(f"{org.describe()}: not on {source.text}: {exc.render()}",
                             hint="publish that version there, or install the tool from "
                                  "where [tool.torchship.tool] says") from exc
        [wheel] = tmp.glob("*.whl")
        return wheel

    return _cached(f"index\0{source.text}\0{org.name}=={org.version}", make)


def wheel_of(org: Origin, source: ToolSource | None = None) -> Path | None:
    """The wheel that is `org`'s distribution; None when the index the build's pip reaches
    serves it (`source`: the project's tool source; the team's index is fetched from here)."""
    if org.kind == "git":
        return _from_git(org)
    if org.kind == "index":
        return _from_index(org, source) if source is not None and source.kind == "url" else None
    if org.kind in ("directory", "archive"):
        return _built(org)
    assert org.path is not None  # a wheel origin always has one
    if not org.path.is_file():
        raise ImageError(f"{org.describe()}: the wheel is gone",
                         hint=f"reinstall {org.name} from a wheel that exists, or from an index")
    if org.sha256 and _file_sha256(org.path) != org.sha256:
        raise ImageError(f"{org.describe()}: the wheel changed since it was installed",
                         hint=f"reinstall {org.name} from it")
    return org.path


def check_pins(org: Origin, lines: Iterable[str]) -> None:
    """Refuse a tool the project's own requirement lines do not admit (`torchship~=0.2`
    while 0.3.0 drives the build), before pip fails on it deep inside the build."""
    from packaging.requirements import InvalidRequirement, Requirement

    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue  # pip reads it in the build; not ours to judge
        if requirement_name(req.name) == requirement_name(org.name) and \
                not req.specifier.contains(org.version, prereleases=True):
            raise ImageError(f"the project requires {line.strip()}, but the {org.name} "
                             f"building it is {org.version}",
                             hint=f"raise the pin in pyproject.toml, or build with a "
                                  f"{org.name} it admits")


def names_tool(lines: Iterable[str], name: str = DIST) -> bool:
    """Do these requirement lines install the tool?"""
    want = requirement_name(name)
    return any(requirement_name(line) == want for line in lines)


def preflight(lines: Sequence[str]) -> None:
    """What `stage` would refuse, found without building anything."""
    if names_tool(lines):
        org = origin()
        check_pins(org, lines)
        if org.path is not None and not org.path.exists():
            raise ImageError(f"{org.describe()}: it is gone",
                             hint=f"reinstall {org.name}, or install it from an index")


def folder(context: Path) -> Path:
    """`context`/WHEELS, made when missing (a bind mount's source must exist)."""
    where = context / WHEELS
    where.mkdir(parents=True, exist_ok=True)
    return where


def wheel_for(lines: Sequence[str], *, org: Origin | None = None,
              source: ToolSource | None = None) -> Path | None:
    """The tool's wheel (`org`: the installed torchship's) when `lines` (a dependency step's
    requirements) name the tool and an index cannot be assumed to serve it; None otherwise.
    Refuses a tool they do not admit. `source`: the project's [tool.torchship.tool]."""
    if not names_tool(lines, org.name if org else DIST):
        return None
    org = org or origin()
    check_pins(org, lines)
    return wheel_of(org, source)


def stage(context: Path, lines: Sequence[str], *, org: Origin | None = None,
          source: ToolSource | None = None) -> list[Path]:
    """Put `wheel_for(lines)` into `context`/WHEELS, alone; leave the folder empty when
    there is none. Returns the wheels now there."""
    where = folder(context)
    wanted = wheel_for(lines, org=org, source=source)
    for old in where.iterdir():
        if wanted is None or old.name != wanted.name:
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
    if wanted is None:
        return []
    target = where / wanted.name
    data = wanted.read_bytes()
    # Only when the bytes differ: the same tool leaves the build context as it was.
    if not target.is_file() or target.read_bytes() != data:
        partial = where / (wanted.name + ".partial")
        partial.write_bytes(data)
        os.replace(partial, target)
    return [target]
