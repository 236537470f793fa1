"""`torchship dev {shell,jupyter,ssh,devcontainer}`: work inside the pinned devel image; the
`invoke dev.*` tasks call the same functions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torchship.cli import Parser
from torchship.commands import dispatch

ENV = "pinned environment (default: the default one)"
IMAGE = "use this devel image instead of building the environment's"
NAME = "the container's name (to stop it from elsewhere)"


def shell(*, env: str | None = None, image: str | None = None, network: str = "host",
          command: Sequence[str] = ()) -> int:
    """A shell in the pinned devel image (source mounted, your uid, GPUs); `-- CMD` runs CMD."""
    from torchship import project
    from torchship.workflow import devcontainer

    return devcontainer.shell(project.load(Path.cwd()).config, env=env, command=list(command), image=image,
                              network=network)


def jupyter(*, env: str | None = None, port: int = 8888, image: str | None = None,
            name: str | None = None) -> int:
    """JupyterLab in the pinned devel image on 127.0.0.1, token from $JUPYTER_TOKEN."""
    from torchship import project
    from torchship.workflow import devcontainer

    return devcontainer.jupyter(project.load(Path.cwd()).config, env=env, port=port, image=image, name=name)


def ssh(*, key: str, env: str | None = None, port: int = 2222, address: str = "127.0.0.1",
        image: str | None = None, name: str | None = None) -> int:
    """Opt-in sshd in the pinned devel image: keys only, user `dev`, on 127.0.0.1."""
    from torchship import project
    from torchship.workflow import devssh

    return devssh.ssh(project.load(Path.cwd()).config, key=Path(key).expanduser(), env=env, port=port,
                      address=address, image=image, name=name)


def devcontainer(*, env: str | None = None, check: bool = False) -> int:
    """Write .devcontainer/devcontainer.json on the pinned devel base (VS Code, Codespaces)."""
    from torchship import project
    from torchship.workflow import devcontainer as dc

    # pyproject only, as ci generate: a machine's local pins must not change a committed file.
    changed = dc.write_devcontainer(project.load(Path.cwd(), use_local=False).config, env=env,
                                    check=check)
    print(f"{'wrote' if changed else 'up to date:'} {dc.DEVCONTAINER}")
    return 0


def main(argv: Sequence[str], *, group: str = "dev") -> int:
    p = Parser(prog="torchship dev", description="Work inside the pinned devel image.")
    sub = p.add_subparsers(metavar="COMMAND", required=True)
    c = sub.add_parser("shell", help=shell.__doc__, description=shell.__doc__)
    c.add_argument("--env", help=ENV)
    c.add_argument("--image", help=IMAGE)
    c.add_argument("--network", default="host",
                   help="the container's network (default host: 127.0.0.1 ports reach it)")
    c.set_defaults(func=shell, command=[])
    c = sub.add_parser("jupyter", help=jupyter.__doc__, description=jupyter.__doc__)
    c.add_argument("--env", help=ENV)
    c.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1 (default 8888)")
    c.add_argument("--image", help=IMAGE)
    c.add_argument("--name", help=NAME)
    c.set_defaults(func=jupyter)
    c = sub.add_parser("ssh", help=ssh.__doc__, description=ssh.__doc__)
    c.add_argument("--key", required=True,
                   help="the public key allowed to log in (e.g. ~/.ssh/id_ed25519.pub)")
    c.add_argument("--env", help=ENV)
    c.add_argument("--port", type=int, default=2222, help="sshd's port (default 2222)")
    c.add_argument("--address", default="127.0.0.1",
                   help="the address sshd listens on (default 127.0.0.1)")
    c.add_argument("--image", help=IMAGE)
    c.add_argument("--name", help=NAME)
    c.set_defaults(func=ssh)
    c = sub.add_parser("devcontainer", help=devcontainer.__doc__,
                       description=devcontainer.__doc__)
    c.add_argument("--env", help=ENV)
    c.add_argument("--check", action="store_true",
                   help="write nothing; fail when the file differs from what the configuration "
                        "gives")
    c.set_defaults(func=devcontainer)
    return dispatch(p, argv)
