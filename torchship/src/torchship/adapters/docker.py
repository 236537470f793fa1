"""The one door to Docker: the CLI for builds, the SDK for containers, on the same engine.

Builds go through the CLI because the docker SDK cannot drive BuildKit (docker-py #2230).
Not every client can: a 23+ client refuses `DOCKER_BUILDKIT=1` without the buildx plugin,
while Debian's 20.10 client has BuildKit built in. So the executable is configurable
($TORCHSHIP_DOCKER) and, when it is not given, the first client that can build is taken.

Containers, registry lookups and the matrix use the docker SDK. Its client is made for the
endpoint the CLI itself talks to (`docker context inspect`: the current context, which
$DOCKER_CONTEXT or $DOCKER_HOST may choose), with that context's TLS material, so builds and
containers always meet the same engine. Whether that engine answers is checked in one place
(`require_engine`), with one error that names the endpoint.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from torchship.adapters import proc
from torchship.errors import TorchshipError

if TYPE_CHECKING:
    from docker import DockerClient

ENV_VAR = "TORCHSHIP_DOCKER"
BUILDKIT_ENV = {"DOCKER_BUILDKIT": "1"}
# What decides which client and which engine: a change of any of them is another door.
_CHOICE_VARS = (ENV_VAR, "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY",
                "DOCKER_CERT_PATH", "PATH")
DEFAULT_HOST = "unix:///var/run/docker.sock"


class EngineError(TorchshipError):
    """No usable docker client, or the engine does not answer."""


@dataclass(frozen=True)
class Endpoint:
    """Where the CLI's current context sends its requests."""

    host: str                     # unix:///var/run/docker.sock, tcp://…, ssh://…
    context: str = "default"
    skip_tls_verify: bool = False
    tls_dir: Path | None = None   # the context's ca.pem/cert.pem/key.pem, when it has them

    def describe(self) -> str:
        return f"{self.host} (docker context {self.context!r})"


@dataclass(frozen=True)
class Docker:
    """A docker client that can build with BuildKit, and the engine endpoint it uses."""

    exe: str
    version: str
    buildx: bool  # `docker buildx build` rather than the built-in BuildKit of `docker build`
    endpoint: Endpoint = Endpoint(DEFAULT_HOST)

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

    def answers(self) -> bool:
        """True when the engine answers `docker info`."""
        return self("info", "--format", "{{.ServerVersion}}", check=False,
                    timeout=30).returncode == 0

    def client(self, *, timeout: int = 30) -> DockerClient:
        """A docker SDK client for this CLI's endpoint; EngineError when it does not answer."""
        import docker

        ep = self.endpoint
        try:
            c = docker.DockerClient(base_url=ep.host, tls=_tls(ep), timeout=timeout,
                                    use_ssh_client=ep.host.startswith("ssh://"))
            c.ping()
        except Exception as exc:  # any failure to reach the engine means: none answers here
            raise unreachable(ep) from exc
        return c


def _tls(ep: Endpoint) -> object:
    """The SDK's TLS settings for `ep`: the context's own files, else DOCKER_TLS_VERIFY and
    DOCKER_CERT_PATH as the CLI reads them; False for a plain endpoint."""
    from docker.tls import TLSConfig
    from docker.utils import kwargs_from_env

    if not ep.host.startswith(("tcp://", "https://")):
        return False
    folder = ep.tls_dir
    if folder is not None and (folder / "cert.pem").is_file():
        ca = folder / "ca.pem"
        return TLSConfig(client_cert=(str(folder / "cert.pem"), str(folder / "key.pem")),
                         ca_cert=str(ca) if ca.is_file() else None,
                         verify=not ep.skip_tls_verify and ca.is_file())
    return kwargs_from_env().get("tls") or False


def unreachable(ep: Endpoint) -> EngineError:
    """The one error for an engine that does not answer."""
    return EngineError(f"the Docker engine at {ep.describe()} does not answer",
                       hint="start it (as root: scripts/ci_services.sh), or choose another "
                            "with `docker context use` or DOCKER_HOST")


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
        return Docker(exe, version, buildx=True, endpoint=endpoint(exe))
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return None
    # Before 23.0 `docker build` runs BuildKit in-process with DOCKER_BUILDKIT=1.
    return Docker(exe, version, buildx=False, endpoint=endpoint(exe)) if major < 23 else None


def endpoint(exe: str) -> Endpoint:
    """The endpoint of the CLI's current context, as `docker context inspect` reports it
    (which honours DOCKER_CONTEXT and DOCKER_HOST); DOCKER_HOST or the default socket for a
    client too old to have contexts."""
    out = proc.run([exe, "context", "inspect"], check=False)
    try:
        ctx = json.loads(out.stdout)[0]
        ep = ctx["Endpoints"]["docker"]
        tls = (ctx.get("Storage") or {}).get("TLSPath") or ""
        folder = Path(tls) / "docker" if tls and Path(tls).is_dir() else None
        return Endpoint(str(ep["Host"]), str(ctx.get("Name") or "default"),
                        bool(ep.get("SkipTLSVerify")), folder)
    except (ValueError, LookupError, TypeError):
        return Endpoint(os.environ.get("DOCKER_HOST") or DEFAULT_HOST)


@functools.cache
def _find(choice: tuple[str | None, ...]) -> Docker:
    del choice  # only the cache key: the variables are read where they are used
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


def find() -> Docker:
    """The docker client to use and its endpoint; EngineError when no client can build with
    BuildKit. Cached while the variables that choose them stay the same."""
    return _find(tuple(os.environ.get(v) for v in _CHOICE_VARS))


def engine_answers(docker: Docker | None = None) -> bool:
    """True when a client is found and its engine answers."""
    try:
        docker = docker or find()
    except EngineError:
        return False
    return docker.answers()


def require_engine() -> Docker:
    """The client, after checking its engine answers; EngineError with a remedy otherwise."""
    docker = find()
    if not docker.answers():
        raise unreachable(docker.endpoint)
    return docker


def client() -> DockerClient:
    """A docker SDK client for the engine the CLI uses; EngineError when none answers."""
    return find().client()
