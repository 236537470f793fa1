"""A build removes only images it made and replaced, never another clone's."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.images.build import build
from torchship.images.owner import BUILDER, builder_id

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def exists(engine: Docker, image_id: str) -> bool:
    return engine("image", "inspect", image_id, check=False).returncode == 0


def test_a_build_keeps_another_clones_image_of_the_same_commit(
    project: Path, engine: Docker, tmp_path: Path, package: str
) -> None:
    other = tmp_path / "other-clone"
    subprocess.run(["git", "clone", "-q", str(project), str(other)], check=True)
    shutil.copy2(project / "torchship.local.toml", other / "torchship.local.toml")
    made: list[str] = []
    try:
        [a] = build(tsconfig.load(project), variants=["runtime"], quiet=True, docker=engine)
        made.append(a.image_id)
        assert a.labels[BUILDER] == builder_id(project) != builder_id(other)
        # The other clone, same commit, same tags: it takes the tags over...
        [b] = build(tsconfig.load(other), variants=["runtime"], quiet=True, docker=engine)
        made.append(b.image_id)
        assert b.spec.tags == a.spec.tags
        assert b.image_id != a.image_id
        # ...and leaves the first clone's image alone (nameless now, still there).
        assert exists(engine, a.image_id)
        # A rebuild of its own after a change replaces (and removes) its own image only.
        module = other / "src" / package / "__init__.py"
        module.write_text(module.read_text() + f"\n# change {uuid.uuid4().hex}\n")
        [b2] = build(tsconfig.load(other), variants=["runtime"], quiet=True, docker=engine)
        made.append(b2.image_id)
        assert not exists(engine, b.image_id)
        assert exists(engine, a.image_id)
    finally:
        for image_id in made:
            engine("rmi", "--force", image_id, check=False)
