"""The hook `invoke release` calls: plan, preflight, build, verify, remove."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.images.publish import release_step
from torchship.images.spec import ImageError
from torchship.release.plan import ImageStep, image_step

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


def _release(project: Path) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run([sys.executable, "-m", "invoke", "release", "--part", "patch",
                           "--no-sign", "--no-evidence"], cwd=project, capture_output=True, text=True,
                          env=env, check=False)


def _git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_invoke_release_builds_and_labels_the_images(project: Path, engine: Docker) -> None:
    res = _release(project)
    assert res.returncode == 0, res.stderr
    image = tsconfig.load(project).image
    commit = _git(project, "rev-parse", "v0.1.1^{commit}")
    for variant in ("runtime", "devel"):
        assert engine.label(f"{image}:0.1.1-cpu-{variant}",
                            "org.opencontainers.image.revision") == commit
    assert f"- {image}:0.1.1-cpu-devel" in _git(project, "cat-file", "tag", "v0.1.1")


def test_a_release_whose_image_fails_leaves_no_image_and_no_tag(
    project: Path, engine: Docker
) -> None:
    dockerfile = project / "docker" / "Dockerfile"
    # The devel image fails after the runtime one was built.
    dockerfile.write_text(dockerfile.read_text().replace(
        'CMD ["bash"]', 'RUN echo "tsimg: planted failure" && false\nCMD ["bash"]'))
    _git(project, "-c", "user.name=T", "-c", "user.email=t@example.com",
         "commit", "-qam", "a devel image that cannot build")
    head = _git(project, "rev-parse", "HEAD")
    res = _release(project)
    assert res.returncode != 0
    assert "building cpu/devel failed" in res.stderr
    assert _git(project, "rev-parse", "HEAD") == head
    assert _git(project, "tag", "--list") == ""
    image = tsconfig.load(project).image
    assert engine("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", image).stdout.split() == []
