"""`invoke dev.ssh`: the pinned devel image with sshd, for IDEs that want plain SSH (opt-in).

Keys only, for a non-root user, on 127.0.0.1 unless told otherwise, and no secret in any
layer (the seed's `chpasswd` + `PermitRootLogin yes` is what this replaces):
- a thin image on the devel image adds openssh-server, a user `dev` (the host's uid, or 1000
  when the host user is root) and an sshd configuration: publickey only, no password or
  keyboard-interactive, no root, AllowUsers dev;
- sshd itself runs as that user (not root), so it can log in no one else; its host key is
  made when the container starts, in /tmp, never in a layer;
- the public key is mounted read-only at run time as the only authorized key.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from torchship.config import Config
from torchship.errors import TorchshipError
from torchship.workflow.devcontainer import Session, devel_image, gpus_available, pick_env

if TYPE_CHECKING:
    from torchship.adapters.docker import Docker

USER = "dev"
KEYS = "/etc/torchship-ssh/authorized_keys"
CONFIG = "/etc/torchship-ssh/sshd_config"
_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-", "sk-ssh-ed25519", "sk-ecdsa-sha2-")

DOCKERFILE = f"""\
ARG DEVEL
FROM ${{DEVEL}}
RUN apt-get update && apt-get install -y --no-install-recommends openssh-server \\
    && rm -rf /var/lib/apt/lists/*
ARG UID=1000
ARG GID=1000
# --non-unique: a base may have a user of that uid already (Ubuntu 24.04's `ubuntu`, 1000).
RUN (getent group "$GID" >/dev/null || groupadd -g "$GID" {USER}) \\
    && useradd --create-home --non-unique --uid "$UID" --gid "$GID" --shell /bin/bash {USER} \\
    && mkdir -p /etc/torchship-ssh /run/sshd
COPY sshd_config {CONFIG}
"""

SSHD_CONFIG = f"""\
# torchship dev.ssh: keys only, the one user, no root; host key made at start in /tmp.
HostKey /tmp/ssh/host_ed25519
PidFile /tmp/ssh/sshd.pid
AuthorizedKeysFile {KEYS}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin no
AllowUsers {USER}
UsePAM no
X11Forwarding no
PrintMotd no
Subsystem sftp internal-sftp
"""


class SshKeyError(TorchshipError):
    """The public key for dev.ssh is missing or is not a public key."""


def read_key(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise SshKeyError(f"{path}: no such public key",
                          hint="make one with `ssh-keygen -t ed25519` and pass --key "
                               "~/.ssh/id_ed25519.pub") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SshKeyError(f"{path}: cannot be read ({exc})") from None
    if "PRIVATE KEY" in text:
        raise SshKeyError(f"{path} is a private key", hint="pass the .pub file beside it")
    if not text or not all(line.startswith(_KEY_TYPES) for line in text.splitlines() if line):
        raise SshKeyError(f"{path} is not an OpenSSH public key",
                          hint="pass a file like ~/.ssh/id_ed25519.pub")
    return text


def login_ids() -> tuple[int, int]:
    """The login user's uid:gid: the host user's, unless that is root (then 1000:1000)."""
    uid, gid = os.getuid(), os.getgid()
    return (uid, gid) if uid != 0 else (1000, 1000)


@dataclass(frozen=True)
class SshImage:
    tag: str
    uid: int
    gid: int


def build_image(cfg: Config, env: str, devel: str, *, docker: Docker) -> SshImage:
    """The thin sshd image on `devel` for the login user (cached by the engine)."""
    from torchship.adapters import proc

    uid, gid = login_ids()
    name = cfg.image.rsplit("/", 1)[-1].split(":")[0]
    tag = f"torchship-dev-ssh/{name}:{env}-{uid}"
    with tempfile.TemporaryDirectory(prefix="torchship-ssh-") as tmp:
        (Path(tmp) / "Dockerfile").write_text(DOCKERFILE)
        (Path(tmp) / "sshd_config").write_text(SSHD_CONFIG)
        # The engine's BuildKit as every build starts it (buildx --load where that is the way).
        proc.run([*docker.build_argv, "--network", "host", "--build-arg", f"DEVEL={devel}",
                  "--build-arg", f"UID={uid}", "--build-arg", f"GID={gid}", "-t", tag, tmp],
                 env={"DOCKER_BUILDKIT": "1"})
    return SshImage(tag, uid, gid)


def ssh(cfg: Config, *, key: Path, env: str | None, port: int = 2222,
        address: str = "127.0.0.1", image: str | None = None, name: str | None = None) -> int:
    """`invoke dev.ssh --key KEY.pub`: sshd in the devel image on ADDRESS:PORT (foreground)."""
    import ipaddress

    from torchship.adapters.docker import require_engine
    from torchship.workflow.devcontainer import run

    try:
        ipaddress.ip_address(address)  # it goes into sshd's command line: an address only
    except ValueError:
        raise TorchshipError(f"--address {address!r} is not an IP address",
                             hint="e.g. 127.0.0.1 (the default), or 0.0.0.0 for every interface"
                             ) from None
    key_text = read_key(key)
    chosen = pick_env(cfg, env)
    docker = require_engine()
    built = build_image(cfg, chosen, devel_image(cfg, chosen, image), docker=docker)
    start = ("mkdir -p /tmp/ssh && ssh-keygen -q -t ed25519 -N '' -f /tmp/ssh/host_ed25519 "
             f'&& exec /usr/sbin/sshd -D -e -f {CONFIG} -o "ListenAddress {address}" '
             f'-o "Port {port}" '
             # The image's own PATH (its Python and torch) and environment in every session.
             '-o "SetEnv PATH=$PATH TORCHSHIP_ENV=$TORCHSHIP_ENV"')
    print(f"sshd for {USER}@{address}:{port} (keys only): "
          f"ssh -p {port} -i {key.with_suffix('')} {USER}@{address}", flush=True)
    with tempfile.TemporaryDirectory(prefix="torchship-ssh-keys-") as tmp:
        keys = Path(tmp) / "authorized_keys"
        keys.write_text(key_text + "\n")
        keys.chmod(0o644)
        session = Session(image=built.tag, root=cfg.root.resolve(), env=chosen,
                          command=("sh", "-c", start), gpus=gpus_available(), interactive=False,
                          name=name, user=f"{built.uid}:{built.gid}", home=f"/home/{USER}",
                          mounts=((str(keys), KEYS, "ro"),))
        return run(session, docker_exe=docker.exe)

