"""Which clone built an image, so that a build removes only images it made and replaced.

Two clones (or worktrees) of a project at the same commit build the same tags. A build takes
the tags over and then removes the images they named before: without a check, one clone's
build would delete the image another clone just built (and may be running). Each image
carries the label `io.torchship.builder`: a digest of the machine's name and the clone's
folder (no path in the image itself). A build removes an image only when that label is its
own.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterable
from pathlib import Path

from torchship.adapters.docker import Docker

BUILDER = "io.torchship.builder"


def builder_id(root: Path) -> str:
    """This clone's mark: stable for a folder on a machine, different for another clone."""
    where = f"{socket.gethostname()}:{root.resolve()}"
    return hashlib.sha256(where.encode()).hexdigest()[:16]


def owned(docker: Docker, ids: Iterable[str], root: Path) -> list[str]:
    """Those of the images `ids` that the clone at `root` built (missing ones are left out)."""
    ids = sorted(set(ids))
    if not ids:
        return []
    out = docker("image", "inspect", "--format", "{{.Id}} {{json .Config.Labels}}", *ids,
                 check=False)
    mine = builder_id(root)
    found = []
    for line in out.stdout.splitlines():
        image, _, labels = line.partition(" ")
        if image.startswith("sha256:") and (json.loads(labels or "null") or {}).get(BUILDER) == mine:
            found.append(image)
    return found
