"""The hook `invoke release` calls: plan, preflight, build, verify, remove."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.dockercli import Docker
from torchship.images import ImageError, release_step
from torchship.release import ImageStep, image_step

pytestmark = [pytest.mark.docker]


def test_release_builds_labels_verifies_and_removes_its_images(
    project: Path, engine: Docker
) -> None:
    cfg = tsconfig.load(project)
    step = image_step(cfg)
    assert isinstance(step, ImageStep)
    assert step.planned("1.4.0") == [f"{cfg.image}:1.4.0-cpu-runtime", f"{cfg.image}:1.4.0-runtime",
                                     f"{cfg.image}:1.4.0-cpu-devel", f"{cfg.image}:1.4.0-devel"]
    step.check()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, check=True,
                            capture_output=True, text=True).stdout.strip()
    tags = step.build("1.4.0", commit)
    assert tags == step.planned("1.4.0")  # a release's tags carry the bare version
    step.verify(tags, commit)
    with pytest.raises(ImageError, match="is labelled with revision"):
        step.verify(tags, "0" * 40)
    step.remove(tags)
    with pytest.raises(ImageError, match="does not exist here"):
        step.verify(tags, commit)


def test_preflight_fails_on_a_missing_base(project: Path) -> None:
    local = project / "torchship.local.toml"
    text = local.read_text()
    start = text.index("sha256:", text.index("runtime ="))
    local.write_text(text[:start] + "sha256:" + "2" * 64 + text[start + 71:])
    with pytest.raises(ImageError, match="base of cpu/runtime is not available"):
        release_step(tsconfig.load(project)).check()
