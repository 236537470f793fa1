"""Stand-in "PyTorch" bases and a real local registry, for machines that cannot pull images.

No public registry is reachable from the machines this project is tested on, so the tests
and CI make their own pinned bases (see docs/images.md):

1. a Debian bookworm root file system (debootstrap minbase from the machine's own apt
   mirror), imported as an image;
2. a runtime stand-in on it: Debian's python3 in a venv on PATH (as the conda env is in
   pytorch/pytorch), torch 2.13.0 CPU and numpy installed from wheels fetched on the host and
   bind-mounted into the build; a devel stand-in adds compilers and headers, as the real
   devel images do;
3. a `docker-registry serve` on 127.0.0.1, the stand-ins pushed to it and pinned by digest.

Images are cached by tag and recipe (a label holds the recipe's hash), so a second run on
the same machine only checks. Run it: `python scripts/standin_bases.py` (writes
torchship.local.toml), or use the session fixtures in torchship.testing.engine.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from torchship import config as tsconfig
from torchship.adapters import proc
from torchship.adapters.docker import Docker, require_engine
from torchship.errors import TorchshipError

ENV = "cpu"                      # the environment tag the stand-ins are pinned under
TORCH = "2.13.0"
PYTHON = "3.11"                  # Debian 12's python3
REPO = "torchship-standin"       # prefix of every stand-in image: easy to find and remove
DEBIAN = f"{REPO}/debian:bookworm-minbase"
RECIPE_LABEL = "io.torchship.standin.recipe"
STATE_DIR = Path(os.environ.get("TORCHSHIP_STATE_DIR", "/var/tmp/torchship"))
LOCK = STATE_DIR / "standins.lock"


def tag(variant: str) -> str:
    """The local tag of the runtime or devel stand-in."""
    return f"{REPO}/pytorch:{TORCH}-{ENV}-{variant}"


_RUNTIME = f"""\
FROM {DEBIAN}
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
# Like the conda env of pytorch/pytorch: a python on PATH that pip may install into.
RUN python3 -m venv /opt/pytorch
ENV PATH=/opt/pytorch/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN --mount=type=bind,source=wheels,target=/tmp/wheels \\
    pip install --no-cache-dir --no-index --find-links /tmp/wheels torch=={TORCH} numpy
"""

_DEVEL = f"""\
FROM {tag("runtime")}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends build-essential python3-dev \\
 && rm -rf /var/lib/apt/lists/*
"""


def _recipe(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class StandinError(TorchshipError):
    """The stand-in bases or the local registry could not be made."""


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses ($TORCHSHIP_DEBIAN_MIRROR overrides)."""
    given = os.environ.get("TORCHSHIP_DEBIAN_MIRROR")
    if given:
        return given
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.is_file():
        for stanza in re.split(r"\n\s*\n", deb822.read_text()):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, flags=re.M))
            if "bookworm" in fields.get("Suites", "").split() and fields.get("URIs"):
                return str(fields["URIs"].split()[0])
    classic = Path("/etc/apt/sources.list")
    if classic.is_file():
        for line in classic.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == "bookworm":
                return parts[1]
    raise StandinError("no Debian bookworm mirror in /etc/apt/sources.list(.d)",
                       hint="set TORCHSHIP_DEBIAN_MIRROR to a mirror URL")


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One builder at a time on this machine (several test sessions may start together)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _say(msg: str) -> None:
    print(f"standins: {msg}", file=sys.stderr, flush=True)


def _fresh(docker: Docker, ref: str, recipe: str) -> bool:
    return docker.label(ref, RECIPE_LABEL) == recipe


def _debian(docker: Docker) -> None:
    recipe = _recipe("debootstrap --variant=minbase bookworm")
    if _fresh(docker, DEBIAN, recipe):
        return
    if not shutil.which("debootstrap") and not Path("/usr/sbin/debootstrap").exists():
        raise StandinError("debootstrap is not installed", hint="run scripts/ci_services.sh")
    mirror = apt_mirror()
    _say(f"debootstrap bookworm from {mirror} (about 30 s)")
    with tempfile.TemporaryDirectory(prefix="tsimg-debootstrap-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        proc.run(["debootstrap", "--variant=minbase", "bookworm", rootfs, mirror])
        tarball = Path(tmp) / "rootfs.tar"
        proc.run(["tar", "-C", rootfs, "-cf", tarball, "."])
        docker("import",
               "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "--change", 'CMD ["bash"]',
               "--change", f"LABEL {RECIPE_LABEL}={recipe}",
               tarball, DEBIAN)


def _wheels(dest: Path) -> None:
    """torch and numpy (with torch's own dependencies) for the stand-ins' python."""
    proc.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
              "--python-version", PYTHON, "-d", dest, f"torch=={TORCH}", "numpy"])


def _build(docker: Docker, ref: str, dockerfile: str, context: Path) -> None:
    recipe = _recipe(dockerfile)
    if _fresh(docker, ref, recipe):
        return
    _say(f"building {ref}")
    (context / "Dockerfile").write_text(dockerfile)
    proc.run([*docker.build_argv, "--network", "host", "--progress", "plain",
              "--label", f"{RECIPE_LABEL}={recipe}", "--tag", ref, context],
             env={"DOCKER_BUILDKIT": "1"})


def ensure_images(docker: Docker | None = None) -> dict[str, str]:
    """Build whatever stand-in is missing or stale; return {variant: local tag}."""
    docker = docker or require_engine()
    with _locked():
        _debian(docker)
        runtime_stale = not _fresh(docker, tag("runtime"), _recipe(_RUNTIME))
        with tempfile.TemporaryDirectory(prefix="tsimg-standin-", dir="/var/tmp") as tmp:
            ctx = Path(tmp)
            if runtime_stale:
                _say(f"fetching torch=={TORCH} and numpy wheels")
                _wheels(ctx / "wheels")
            else:
                (ctx / "wheels").mkdir()
            _build(docker, tag("runtime"), _RUNTIME, ctx)
            _build(docker, tag("devel"), _DEVEL, ctx)
    return {v: tag(v) for v in ("runtime", "devel")}


# --- the registry -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def registry_answers(host: str, *, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=timeout) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass(frozen=True)
class Registry:
    """A `docker-registry serve` on 127.0.0.1 (plain HTTP: the engine trusts 127.0.0.1)."""

    host: str        # 127.0.0.1:PORT
    storage: Path
    log: Path


def _registry_config(root: Path, port: int) -> Path:
    storage = root / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    return config


def _wait_registry(host: str, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(100):
        if registry_answers(host, timeout=1):
            return
        if server.poll() is not None:
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    raise StandinError(f"docker-registry on {host} did not answer",
                       hint=tail[0] if tail else f"see {log}")


MACHINE_REGISTRY = STATE_DIR / "registry"


def _seed(storage: Path, source: Path) -> None:
    """Start `storage` as a copy of another registry's, so pushing the stand-ins again
    moves no layer. Blobs are write-once and content-addressed (a new upload is renamed
    into place), so they are hard-linked; the small link files are copied."""
    blobs = source / "docker" / "registry" / "v2" / "blobs"
    repos = source / "docker" / "registry" / "v2" / "repositories"
    if not blobs.is_dir() or not repos.is_dir():
        return
    target = storage / "docker" / "registry" / "v2"
    target.mkdir(parents=True, exist_ok=True)
    try:
        proc.run(["cp", "-al", blobs, target / "blobs"])
    except TorchshipError:  # another file system: a copy would cost what a push costs
        shutil.rmtree(target / "blobs", ignore_errors=True)
        return
    shutil.copytree(repos, target / "repositories")


@contextlib.contextmanager
def registry(root: Path, *, seed: Path | None = None) -> Iterator[Registry]:
    """A registry of the caller's own, stopped (and its storage left in `root`) on exit;
    `seed`: another registry's storage to start from (see `_seed`)."""
    port = free_port()
    config = _registry_config(root, port)
    if seed is not None:
        _seed(root / "storage", seed)
    log = root / "registry.log"
    server = proc.spawn(["docker-registry", "serve", config], log_file=log)
    try:
        _wait_registry(f"127.0.0.1:{port}", server, log)
        yield Registry(f"127.0.0.1:{port}", root / "storage", log)
    finally:
        proc.stop(server)


def machine_registry(root: Path = MACHINE_REGISTRY) -> Registry:
    """The machine's long-lived stand-in registry: reused when it answers, else (re)started
    detached, on its previous port when that is free, with the same storage."""
    root.mkdir(parents=True, exist_ok=True)
    state = root / "state.json"
    log = root / "registry.log"
    port = json.loads(state.read_text())["port"] if state.is_file() else None
    if port and registry_answers(f"127.0.0.1:{port}"):
        return Registry(f"127.0.0.1:{port}", root / "storage", log)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port or 0))
        except OSError:
            s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = _registry_config(root, port)
    server = proc.spawn(["docker-registry", "serve", config], log_file=log, detach=True)
    _wait_registry(f"127.0.0.1:{port}", server, log)
    state.write_text(json.dumps({"port": port, "pid": server.pid}))
    _say(f"registry on 127.0.0.1:{port} (pid {server.pid}, storage {root / 'storage'})")
    return Registry(f"127.0.0.1:{port}", root / "storage", log)


def push(docker: Docker, local: str, reg: Registry) -> str:
    """Push a local stand-in to `reg`; return its reference pinned by digest."""
    from torchship.images.registry import resolve_digest

    remote = f"{reg.host}/{local}"
    docker("tag", local, remote)
    try:
        docker("push", remote)
    finally:
        # The registry copy is what builds use; the extra local tag is only clutter.
        docker("rmi", remote, check=False)
    return f"{remote}@{resolve_digest(remote)}"


@dataclass(frozen=True)
class PinnedBases:
    """The stand-ins as a [bases.<env>] table pins them."""

    env: str
    runtime: str
    devel: str
    torch: str = TORCH
    python: str = PYTHON
    cuda: str = "none"

    def table(self) -> dict[str, str]:
        return {"runtime": self.runtime, "devel": self.devel, "torch": self.torch,
                "python": self.python, "cuda": self.cuda}


def publish(reg: Registry, docker: Docker | None = None) -> PinnedBases:
    """Make sure the stand-ins exist, push them to `reg`, return them pinned by digest."""
    docker = docker or require_engine()
    local = ensure_images(docker)
    return PinnedBases(ENV, push(docker, local["runtime"], reg), push(docker, local["devel"], reg))


_HEADER = ("# Machine-local torchship settings (git-ignored): docs/images.md.\n"
           "# scripts/standin_bases.py wrote the stand-in bases below.\n")


def write_local_config(path: Path, bases: PinnedBases, *, image: str | None) -> None:
    """Point a checkout at the stand-ins: set [bases.<env>] (and `image`) in `path`,
    keeping whatever else the file holds (with tomlkit; without it, a file this function
    wrote is rewritten whole, so the script also runs on a bare python3)."""
    try:
        import tomlkit
    except ImportError:
        if path.is_file() and not path.read_text().startswith(_HEADER):
            raise StandinError(f"{path} has settings of yours and tomlkit is missing",
                               hint="run this with the project's venv python") from None
        table = "".join(f'{k} = "{v}"\n' for k, v in bases.table().items())
        top = f'image = "{image}"\n' if image else ""
        path.write_text(f"{_HEADER}{top}\n[bases.{bases.env}]\n{table}")
        return
    doc = tomlkit.parse(path.read_text()) if path.is_file() else tomlkit.parse(_HEADER)
    if image:
        doc["image"] = image
    if "bases" not in doc:
        doc["bases"] = tomlkit.table(is_super_table=True)
    new = tomlkit.table()
    for key, value in bases.table().items():
        new[key] = value
    doc["bases"][bases.env] = new
    path.write_text(tomlkit.dumps(doc))


def main(argv: list[str] | None = None) -> int:
    """CLI: build the stand-ins, push them to the machine's registry, write the local config."""
    import argparse

    from torchship.cli import edge

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="project whose torchship.local.toml is written (default: .)")
    parser.add_argument("--images-only", action="store_true",
                        help="only build the cached stand-in images; no registry, no config")
    opts = parser.parse_args(argv)

    @edge
    def go() -> None:
        docker = require_engine()
        if opts.images_only:
            ensure_images(docker)
            return
        reg = machine_registry()
        pinned = publish(reg, docker)
        target = opts.root / "torchship.local.toml"
        name = tsconfig.Pyproject.read(opts.root).name or "app"
        write_local_config(target, pinned, image=f"{reg.host}/{name}")
        print(f"{target}: [bases.{pinned.env}] runtime = {pinned.runtime}")
        print(f"{target}: [bases.{pinned.env}] devel   = {pinned.devel}")

    go()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
