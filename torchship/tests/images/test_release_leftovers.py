"""A release with images that is rolled back leaves nothing of its build behind: no image,
no manifest of an image that no longer exists, no build log, no staged tool wheel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _release(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run([sys.executable, "-m", "invoke", "release", "--part", "patch",
                           "--no-sign", "--no-evidence"], cwd=project, capture_output=True,
                          text=True, env=env, timeout=1200, check=False)


# The clone's own bookkeeping, kept from build to build by design (docs/images.md): the
# images it built (.torchship/built) and the locks of its stable staging folders.
BOOKKEEPING = (".torchship/built", ".torchship/context-")


def _outputs(project: Path) -> list[str]:
    """Every file under the folders a build writes to (both git-ignored), but the clone's
    bookkeeping."""
    return sorted(rel for folder in ("results", ".torchship") for p in (project / folder).rglob("*")
                  if p.is_file() and not (rel := p.relative_to(project).as_posix()).startswith(BOOKKEEPING))


def _commit(project: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
                   cwd=project, check=True, capture_output=True)


def test_a_failed_devel_build_leaves_no_manifest_log_or_wheel(project: Path,
                                                              engine: Docker) -> None:
    dockerfile = project / "docker" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(
        'CMD ["bash"]', 'RUN echo "tsimg: planted failure" && false\nCMD ["bash"]'))
    _commit(project, "commit", "-qam", "a devel image that cannot build")
    before = _outputs(project)
    res = _release(project)
    assert res.returncode == 1, res.stdout
    assert "building cpu/devel failed" in res.stderr, res.stderr
    assert "rolled back" in res.stderr
    assert _outputs(project) == before
    image = tsconfig.load(project).image
    assert engine("image", "ls", "--format", "{{.Tag}}", image).stdout.split() == []


def test_a_release_stopped_after_its_images_leaves_none_of_their_outputs(
        project: Path, engine: Docker) -> None:
    # The images are built, then the tag step fails (someone made the tag meanwhile).
    hook = project / ".git" / "hooks" / "post-commit"
    hook.write_text("#!/bin/sh\n[ -n \"$(git tag -l v0.1.1)\" ] || git tag v0.1.1 HEAD~0\n")
    hook.chmod(0o755)
    before = _outputs(project)
    res = _release(project)
    assert res.returncode == 1, res.stdout
    assert "tag failed" in res.stderr, res.stderr
    assert "rolled back" in res.stderr, res.stderr
    assert "• images: built 4" in res.stdout, res.stdout
    assert _outputs(project) == before
    image = tsconfig.load(project).image
    assert engine("image", "ls", "--format", "{{.Tag}}", image).stdout.split() == []
