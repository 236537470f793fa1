"""What `watermark` cannot know about a notebook: the image, its digest, the pinned environment.

In a notebook of the devel image (`invoke dev.jupyter`), after watermark's own line:

    %load_ext watermark
    %watermark -v -m -p torch,numpy -g -h
    %load_ext mlproject.notebook
    %torchship

The image and its digest come from `dev.jupyter`/`dev.shell`, which set them when they start
the container (a running container cannot know its own digest unless told); the environment
and its pinned base from the image's build (docker/Dockerfile). The commit is read from the
mounted checkout's .git, so it is the one checked out now, with or without git in the image.
Standard library only: the images hold the project, not torchship.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

UNSET = "unknown (start the container with `invoke dev.jupyter` or `invoke dev.shell`)"


def _ref_commit(git: Path, ref: str) -> str | None:
    loose = git / ref
    if loose.is_file():
        return loose.read_text().strip()
    packed = git / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    return None


def git_commit(start: Path) -> str | None:
    """The commit checked out in the repository holding `start` (read from .git itself)."""
    for folder in (start, *start.parents):
        git = folder / ".git"
        if git.exists():
            break
    else:
        return None
    try:
        if git.is_file():  # a worktree: "gitdir: <path>", its refs in the common folder
            git = (folder / git.read_text().split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head  # detached
        common = git / "commondir"
        shared = (git / common.read_text().strip()).resolve() if common.is_file() else git
        return _ref_commit(git, head[5:]) or _ref_commit(shared, head[5:])
    except OSError:  # a worktree whose main repository is not mounted
        return None


def lines(start: Path | None = None) -> list[str]:
    """watermark-style `name: value` lines."""
    env = os.environ
    environment = env.get("TORCHSHIP_ENV") or UNSET
    if env.get("TORCHSHIP_VARIANT"):
        environment += f" ({env['TORCHSHIP_VARIANT']})"
    fields = {
        "Image": env.get("TORCHSHIP_IMAGE") or UNSET,
        "Image digest": env.get("TORCHSHIP_IMAGE_DIGEST") or UNSET,
        "Environment": environment,
        "Pinned base": env.get("TORCHSHIP_BASE") or UNSET,
        "Git hash": git_commit(start or Path.cwd()) or env.get("TORCHSHIP_GIT_COMMIT") or UNSET,
    }
    width = max(map(len, fields))
    return [f"{name:<{width}}: {value}" for name, value in fields.items()]


def torchship(line: str = "") -> None:
    """`%torchship`: print the image, its digest, the environment, the base and the commit."""
    print("\n".join(lines()))


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext mlproject.notebook` registers the `%torchship` line magic."""
    ipython.register_magic_function(torchship, "line", "torchship")
