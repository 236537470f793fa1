"""Which clone built an image, recorded outside the image, so that a build removes only
images it made and replaced.

Two clones (or worktrees, or machines) of a project at the same commit build the same tags,
and the same image: nothing in it names the clone or the host, so its ID is the same. A build
takes the tags over and then removes the images they named before: without a check, one
clone's build would delete an image another clone built. So each clone records the IDs it
built in its own folder (.torchship/built, git-ignored, never in a build context), and a
build removes an image only when its clone's record holds it and no tag names it any more
(what the tags named before it, and what its clone built earlier and another build's tags
took over). Without --force, rmi
refuses an image a container (running or stopped) still uses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from torchship.adapters.docker import Docker

# The label images built before ownership moved out of the image carried (rebuild ignores it).
BUILDER = "io.torchship.builder"
RECORD = ".torchship/built"


def built_here(root: Path) -> set[str]:
    """The image IDs the clone at `root` built (its record; none when it has none)."""
    try:
        return {ln.strip() for ln in (root / RECORD).read_text().splitlines() if ln.strip()}
    except FileNotFoundError:
        return set()


def record(root: Path, image_id: str, *, dropped: Iterable[str] = ()) -> None:
    """Add `image_id` to the clone's record and take `dropped` out of it (a whole new file
    put in place: a reader never sees half of one)."""
    ids = (built_here(root) | {image_id}) - set(dropped)
    path = root / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}")
    part.write_text("".join(f"{i}\n" for i in sorted(ids)))
    part.replace(path)


def owned(docker: Docker, ids: Iterable[str], root: Path) -> list[str]:
    """Those of the images `ids` that the clone at `root` built and that no tag names any
    more (missing ones are left out): what its build may remove."""
    mine = sorted(set(ids) & built_here(root))
    if not mine:
        return []
    out = docker("image", "inspect", "--format", "{{.Id}} {{json .RepoTags}}", *mine,
                 check=False)
    found = []
    for line in out.stdout.splitlines():
        image, _, tags = line.partition(" ")
        if image.startswith("sha256:") and not json.loads(tags or "null"):
            found.append(image)
    return found
