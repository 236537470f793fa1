"""The docker command-line client: which executable, whether it does BuildKit, calling it.

Builds go through the CLI because the docker SDK cannot drive BuildKit (docker-py #2230).
Not every client can: a 23+ client refuses `DOCKER_BUILDKIT=1` without the buildx plugin,
while Debian's 20.10 client has BuildKit built in. So the executable is configurable
($TORCHSHIP_DOCKER) and, when it is not given, the first client that can build is taken.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from torchship.adapters import proc
from torchship.errors import TorchshipError

ENV_VAR = "TORCHSHIP_DOCKER"
BUILDKIT_ENV = {"DOCKER_BUILDKIT": "1"}


class EngineError(TorchshipError):
    """No usable docker client, or the engine does not answer."""


@dataclass(frozen=True)
class Docker:
    """A docker client that can talk to the engine and build with BuildKit."""

    exe: str
    version: str
    buildx: bool  # `docker buildx build` rather than the built-in BuildKit of `docker build`

    def __call__(self, *args: str | os.PathLike[str], check: bool = True,
                 capture: bool = True, timeout: float | None = None,
                 ) -> subprocess.CompletedProcess[str]:
        """`docker ARGS`, with BuildKit switched on."""
        return proc.run([self.exe, *args], env=BUILDKIT_ENV, check=check, capture=capture,
                        timeout=timeout)

    @property
    def build_argv(self) -> list[str]:
        """The command that starts a BuildKit build."""
        return [self.exe, "buildx", "build", "--load"] if self.buildx else [self.exe, "build"]

    def image_exists(self, ref: str) -> bool:
        return self("image", "inspect", ref, check=False).returncode == 0

    def label(self, ref: str, key: str) -> str | None:
        out = self("image", "inspect", "--format",
                   f'{{{{index .Config.Labels "{key}"}}}}', ref, check=False)
        value = out.stdout.strip()
        return value if out.returncode == 0 and value not in ("", "<no value>") else None


def _candidates() -> list[str]:
    given = os.environ.get(ENV_VAR)
    if given:
        return [given]
    found = [str(p) for p in (proc.which("docker"),) if p]
    # Debian's docker.io client, which has BuildKit built in, when another client shadows it.
    return [*found, *(e for e in ("/usr/bin/docker",) if Path(e).is_file() and e not in found)]


def _probe(exe: str) -> Docker | None:
    """The client at `exe` when it answers and can build with BuildKit, else None."""
    out = proc.run([exe, "version", "--format", "{{.Client.Version}}"], check=False)
    if out.returncode != 0 and not out.stdout.strip():
        return None
    version = out.stdout.strip().splitlines()[0] if out.stdout.strip() else "?"
    if proc.run([exe, "buildx", "version"], check=False).returncode == 0:
        return Docker(exe, version, buildx=True)
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return None
    # Before 23.0 `docker build` runs BuildKit in-process with DOCKER_BUILDKIT=1.
    return Docker(exe, version, buildx=False) if major < 23 else None


@functools.cache
def find() -> Docker:
    """The docker client to use; EngineError when none can build with BuildKit."""
    tried = _candidates()
    for exe in tried:
        docker = _probe(exe)
        if docker:
            return docker
    names = ", ".join(tried) or "none on PATH"
    raise EngineError(
        f"no docker client that can build with BuildKit (tried: {names})",
        hint=f"install the buildx plugin, or Debian's docker.io (scripts/ci_services.sh), "
             f"or set ${ENV_VAR} to a client that can",
    )


def engine_answers(docker: Docker | None = None) -> bool:
    """True when the engine answers `docker info`."""
    try:
        docker = docker or find()
    except EngineError:
        return False
    return docker("info", "--format", "{{.ServerVersion}}", check=False,
                  timeout=30).returncode == 0


def require_engine() -> Docker:
    """The client, after checking the engine answers; EngineError with a remedy otherwise."""
    docker = find()
    if not engine_answers(docker):
        raise EngineError("the Docker engine does not answer `docker info`",
                          hint="start it (as root: scripts/ci_services.sh) or set DOCKER_HOST")
    return docker
