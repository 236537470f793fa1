"""Working inside the pinned image: `invoke dev.shell` and `.devcontainer/devcontainer.json`.

dev.shell starts the project's devel image (built from the pinned devel base, or reused when
every layer is cached) with the source mounted read-write over the image's copy of it, as
the host user (uid:gid, HOME in /tmp), with every GPU when the engine can give them, and
runs a shell or the command given after `--`. The container is removed when it ends.

devcontainer.json gives IDEs (VS Code, Codespaces) the same pinned devel base by digest,
the project installed into it the way the CI image jobs install it (torch held to the
base's own), so editor, CI and `dev.shell` work on one pinned environment.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchship.config import Config
from torchship.errors import ConfigError, TorchshipError

if TYPE_CHECKING:
    from torchship.adapters.docker import Docker

WORKDIR = "/workspace"   # where the devel image holds the source (docker/Dockerfile)
DEVCONTAINER = ".devcontainer/devcontainer.json"


def pick_env(cfg: Config, env: str | None) -> str:
    """The environment asked for, else the default one; one clear error when none fits."""
    if not cfg.bases:
        raise ConfigError("tool.torchship.bases", "no pinned environment to work in",
                          hint="pin a base ([tool.torchship.bases.<env>], or "
                               "torchship.local.toml from scripts/standin_bases.py)")
    chosen = env or cfg.default_env
    if chosen is None or chosen not in cfg.bases:
        raise ConfigError("--env", f"{chosen!r} is not a pinned environment",
                          hint=f"one of: {', '.join(cfg.bases)}")
    return chosen


@dataclass(frozen=True)
class Session:
    """One dev container: what it runs and how it is started."""

    image: str
    root: Path
    env: str
    command: tuple[str, ...]
    gpus: bool
    network: str = "host"
    extra_env: tuple[tuple[str, str], ...] = ()
    interactive: bool = True
    pass_env: tuple[str, ...] = ()      # variables handed over by name (their values unseen)
    name: str | None = None
    user: str | None = None             # default: the host user's uid:gid
    home: str = "/tmp"
    mounts: tuple[tuple[str, str, str], ...] = ()   # (host path, container path, mode)

    def argv(self, exe: str) -> list[str]:
        args = [exe, "run", "--rm", "--init",
                "--user", self.user or f"{os.getuid()}:{os.getgid()}",
                "--network", self.network, "-v", f"{self.root}:{WORKDIR}", "-w", WORKDIR,
                "-e", f"HOME={self.home}", "-e", f"TORCHSHIP_ENV={self.env}",
                "--label", "torchship.dev=1"]
        for source, target, mode in self.mounts:
            args += ["-v", f"{source}:{target}:{mode}"]
        if self.interactive:
            args.append("-i")
            if sys.stdin.isatty() and sys.stdout.isatty():
                args.append("-t")
        for key, value in self.extra_env:
            args += ["-e", f"{key}={value}"]
        for key in self.pass_env:
            args += ["-e", key]
        if self.name:
            args += ["--name", self.name]
        if self.gpus:
            args += ["--gpus", "all"]
        return [*args, self.image, *self.command]


def gpus_available() -> bool:
    """The engine has the NVIDIA runtime and the host lists a GPU."""
    from torchship.matrix import suites
    from torchship.matrix.run import host_gpus

    return bool(host_gpus()) and suites.nvidia_runtime(suites.client())


def devel_image(cfg: Config, env: str, image: str | None) -> str:
    """The image given, else the project's devel image for `env` (built, or cached)."""
    if image:
        return image
    from torchship.images import build

    return build.build(cfg, envs=[env], variants=["devel"])[0].tag


def image_identity(docker: Docker, ref: str) -> tuple[tuple[str, str], ...]:
    """TORCHSHIP_IMAGE and TORCHSHIP_IMAGE_DIGEST for a container of `ref`: a container cannot
    know its own image's digest unless told (`%torchship` in a notebook prints them). The
    digest is the registry's when the image has one, else the engine's content id."""
    out = docker("image", "inspect", "--format", "{{json .RepoDigests}} {{.Id}}", ref,
                 check=False)
    digest = ""
    if out.returncode == 0 and out.stdout.strip():
        repo_digests, _, image_id = out.stdout.strip().rpartition(" ")
        found = json.loads(repo_digests or "[]") or []
        digest = str(found[0]).split("@", 1)[1] if found else image_id
    return (("TORCHSHIP_IMAGE", ref), ("TORCHSHIP_IMAGE_DIGEST", digest))


def run(session: Session, *, docker_exe: str) -> int:
    """Start the container in the foreground; its exit status. It is named (one of its own
    when none is given) and removed when this returns, however: Ctrl-C stops the docker
    client at once, which may not have passed the signal on, and a container left running
    would keep holding its port (Jupyter's, sshd's)."""
    import uuid

    from torchship.adapters import proc

    if session.name is None:
        session = replace(session, name=f"torchship-dev-{uuid.uuid4().hex[:12]}")
    assert session.name is not None
    try:
        return proc.run(session.argv(docker_exe), check=False, capture=False).returncode
    finally:
        # Gone already after a normal exit (--rm): then this only says so, unseen.
        proc.run([docker_exe, "rm", "-f", session.name], check=False)


def shell(cfg: Config, *, env: str | None, command: Sequence[str], image: str | None = None,
          network: str = "host") -> int:
    """`invoke dev.shell [-- CMD]`: a shell (or CMD) in the pinned devel image."""
    from torchship.adapters.docker import require_engine

    chosen = pick_env(cfg, env)
    docker = require_engine()
    ref = devel_image(cfg, chosen, image)
    session = Session(image=ref, root=cfg.root.resolve(),
                      env=chosen, command=tuple(command) or ("bash",),
                      gpus=gpus_available(), network=network,
                      extra_env=image_identity(docker, ref))
    return run(session, docker_exe=docker.exe)


TOKEN_VAR = "JUPYTER_TOKEN"   # read by jupyter-server itself; never on a command line


def jupyter(cfg: Config, *, env: str | None, port: int = 8888, image: str | None = None,
            name: str | None = None) -> int:
    """`invoke dev.jupyter`: JupyterLab in the pinned devel image on 127.0.0.1:PORT, the
    token taken from $JUPYTER_TOKEN (refused without one: no open notebook server)."""
    from torchship.adapters.docker import require_engine

    token = os.environ.get(TOKEN_VAR, "")
    if len(token) < 16:
        raise TorchshipError(f"${TOKEN_VAR} is {'unset' if not token else 'too short'}: "
                             "JupyterLab needs a token of 16 characters or more",
                             hint=f'export {TOKEN_VAR}="$(python -c "import secrets; '
                                  'print(secrets.token_hex(24))")"')
    chosen = pick_env(cfg, env)
    docker = require_engine()
    # Host network: the server's 127.0.0.1 is the host's (engines without a bridge have no
    # published ports). The token travels as a variable name only (-e NAME: docker reads it).
    ref = devel_image(cfg, chosen, image)
    session = Session(image=ref, root=cfg.root.resolve(), extra_env=image_identity(docker, ref),
                      env=chosen, gpus=gpus_available(), interactive=False,
                      command=("python", "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}",
                               "--no-browser", "--ServerApp.port_retries=0",
                               f"--ServerApp.root_dir={WORKDIR}",
                               # As the host user: root only when that is who asked.
                               *(("--allow-root",) if os.getuid() == 0 else ())),
                      pass_env=(TOKEN_VAR,), name=name)
    return run(session, docker_exe=docker.exe)


# ---------------------------------------------------------------- devcontainer.json


def devcontainer(cfg: Config, env: str | None = None) -> dict[str, Any]:
    """The devcontainer.json for `env` (default: the default environment)."""
    from torchship.workflow.cigen import in_image_install, installs

    chosen = pick_env(cfg, env)
    return {
        "name": f"{cfg.project.package} ({chosen}, devel)",
        "image": str(cfg.bases[chosen].devel),
        "workspaceMount": f"source=${{localWorkspaceFolder}},target={WORKDIR},type=bind",
        "workspaceFolder": WORKDIR,
        "containerEnv": {"TORCHSHIP_ENV": chosen, "HOME": "/tmp"},
        "hostRequirements": {"gpu": "optional"},
        # The devel image's extras (test and notebook tools), as images.build installs them.
        "postCreateCommand": in_image_install(
            chosen, ",".join(cfg.devel_extras) or installs(cfg).extras,
            cfg.tool_source).replace("\n", " && "),
        "customizations": {"vscode": {"extensions": ["ms-python.python",
                                                     "ms-toolsai.jupyter"]}},
    }


def write_devcontainer(cfg: Config, *, env: str | None, check: bool) -> bool:
    """Write (or with `check`, compare) .devcontainer/devcontainer.json; True if it changed."""
    path = cfg.root / DEVCONTAINER
    text = json.dumps(devcontainer(cfg, env), indent=2) + "\n"
    current = path.read_text() if path.is_file() else None
    if current == text:
        return False
    if check:
        raise TorchshipError(f"{DEVCONTAINER} is out of date with [tool.torchship]",
                             hint="run `invoke dev.devcontainer` and commit")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True
