"""Image identity from content: the same commit built in two clones is the same image (no
host or folder in it); a build removes only images its own clone built and replaced."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.images.build import build
from torchship.images.owner import BUILDER, built_here

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def exists(engine: Docker, image_id: str) -> bool:
    return engine("image", "inspect", image_id, check=False).returncode == 0


def change(clone: Path, package: str) -> None:
    """A source change, not committed: the build gives the same tags a new image."""
    module = clone / "src" / package / "__init__.py"
    module.write_text(module.read_text() + f"\n# change {uuid.uuid4().hex}\n")


def test_two_clones_of_a_commit_build_one_image_and_keep_each_others(
    project: Path, engine: Docker, tmp_path: Path, package: str
) -> None:
    other = tmp_path / "other-clone"
    subprocess.run(["git", "clone", "-q", str(project), str(other)], check=True)
    # Clones of one remote: the same origin (the source label is the repository's URL).
    origin = subprocess.run(["git", "-C", str(project), "remote", "get-url", "origin"],
                            capture_output=True, text=True, check=False).stdout.strip()
    if origin:
        subprocess.run(["git", "-C", str(other), "remote", "set-url", "origin", origin],
                       check=True)
    else:
        subprocess.run(["git", "-C", str(other), "remote", "remove", "origin"], check=True)
    shutil.copy2(project / "torchship.local.toml", other / "torchship.local.toml")
    made: list[str] = []
    try:
        [a] = build(tsconfig.load(project), variants=["runtime"], quiet=True, docker=engine)
        made.append(a.image_id)
        assert BUILDER not in a.labels  # nothing of the host or the clone in the image
        # The other clone, same commit, same tags: the very same image.
        [b] = build(tsconfig.load(other), variants=["runtime"], quiet=True, docker=engine)
        made.append(b.image_id)
        assert b.spec.tags == a.spec.tags
        assert b.image_id == a.image_id
        assert a.image_id in built_here(project)
        assert b.image_id in built_here(other)
        # A change built in the first clone: the image it replaced is its own (it built
        # it), nameless now, removed. (The other clone built that very image too.)
        change(project, package)
        [a2] = build(tsconfig.load(project), variants=["runtime"], quiet=True, docker=engine)
        made.append(a2.image_id)
        assert a2.image_id != a.image_id
        assert not exists(engine, a.image_id)
        # A change built in the other clone takes the tags over, and leaves the first clone's
        # image alone (nameless now, still there)...
        change(other, package)
        [b2] = build(tsconfig.load(other), variants=["runtime"], quiet=True, docker=engine)
        made.append(b2.image_id)
        assert exists(engine, a2.image_id)
        # ...which the first clone's next build removes (its own, no tag names it), leaving
        # the other clone's.
        change(project, package)
        [a3] = build(tsconfig.load(project), variants=["runtime"], quiet=True, docker=engine)
        made.append(a3.image_id)
        assert not exists(engine, a2.image_id)
        assert exists(engine, b2.image_id)
        assert built_here(project) == {a3.image_id}
    finally:
        for image_id in made:
            engine("rmi", "--force", image_id, check=False)
