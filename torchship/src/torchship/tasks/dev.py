"""invoke dev.*: work inside the pinned devel image (a shell, a command, an IDE's container);
aliases of `torchship dev` (torchship.commands.dev)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from torchship.cli import after_dashes, edge


@task(help={"env": "pinned environment (default: the default one)",
            "image": "use this devel image instead of building the environment's",
            "network": "the container's network (default host: 127.0.0.1 ports reach it)"})
@edge
def shell(c: Context, env: str | None = None, image: str | None = None,
          network: str = "host") -> None:
    """A shell in the pinned devel image (source mounted, your uid, GPUs); `-- CMD` runs CMD."""
    from torchship.commands import dev as command

    code = command.shell(env=env, image=image, network=network,
                         command=after_dashes(c.remainder))
    if code:
        raise Exit(code=code)


@task(help={"env": "pinned environment (default: the default one)",
            "port": "port on 127.0.0.1 (default 8888)",
            "image": "use this devel image instead of building the environment's",
            "name": "the container's name (to stop it from elsewhere)"})
@edge
def jupyter(c: Context, env: str | None = None, port: int = 8888, image: str | None = None,
            name: str | None = None) -> None:
    """JupyterLab in the pinned devel image on 127.0.0.1, token from $JUPYTER_TOKEN."""
    from torchship.commands import dev as command

    code = command.jupyter(env=env, port=port, image=image, name=name)
    if code:
        raise Exit(code=code)


@task(help={"key": "the public key allowed to log in (e.g. ~/.ssh/id_ed25519.pub)",
            "env": "pinned environment (default: the default one)",
            "port": "sshd's port (default 2222)",
            "address": "the address sshd listens on (default 127.0.0.1)",
            "image": "use this devel image instead of building the environment's",
            "name": "the container's name (to stop it from elsewhere)"})
@edge
def ssh(c: Context, key: str, env: str | None = None, port: int = 2222,
        address: str = "127.0.0.1", image: str | None = None, name: str | None = None) -> None:
    """Opt-in sshd in the pinned devel image: keys only, user `dev`, on 127.0.0.1."""
    from torchship.commands import dev as command

    code = command.ssh(key=key, env=env, port=port, address=address, image=image, name=name)
    if code:
        raise Exit(code=code)


@task(help={"env": "pinned environment (default: the default one)",
            "check": "write nothing; fail when the file differs from what the configuration gives"})
@edge
def devcontainer(c: Context, env: str | None = None, check: bool = False) -> None:
    """Write .devcontainer/devcontainer.json on the pinned devel base (VS Code, Codespaces)."""
    from torchship.commands import dev as command

    command.devcontainer(env=env, check=check)


ns = Collection("dev", shell, jupyter, ssh, devcontainer)
