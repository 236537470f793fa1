"""`invoke images.rebuild TAG` on the real engine and stand-in bases: a past release rebuilt
in a clean worktree of its tag, compared with the manifests the release wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.testing import one_error
from torchship.testing.gitrepo import BIN, Project, add_bare_remote, git, isolated_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LONG = 1200  # a release builds two images on a shared machine


def test_rebuild_of_a_past_release_matches_its_record(project: Path, tmp_path: Path,
                                                      engine: Docker) -> None:
    env = isolated_env(tmp_path / "home", PATH=f"{BIN}:/usr/local/bin:/usr/bin:/bin")
    for key, value in (("user.name", "T"), ("user.email", "t@example.com")):
        git(project, "config", key, value, env=env)
    add_bare_remote(project, tmp_path / "remote.git", env=env)
    proj = Project(project, tmp_path / "remote.git", env, tmp_path)
    proj.settle()
    res = proj.invoke("release", "--part", "patch", "--no-sign", "--no-evidence", timeout=LONG)
    assert res.returncode == 0, res.stderr
    commit = proj.git("rev-parse", "v0.1.1^{commit}")
    # Work goes on after the release: the rebuild must not see it.
    log = (project / "CHANGELOG.md").read_text()
    proj.commit("CHANGELOG.md", log.replace("## [Unreleased]\n",
                                            "## [Unreleased]\n\n### Fixed\n\n- later\n", 1))
    image = tsconfig.load(project).image
    manifests = sorted((project / "results" / "images").glob("*0.1.1*.json"))
    assert len(manifests) == 2
    released_ids = {json.loads(m.read_text())["id"] for m in manifests}

    res = proj.invoke("images.rebuild", "v0.1.1", timeout=LONG)
    assert res.returncode == 0, res.stderr + res.stdout
    for variant in ("runtime", "devel"):
        block = res.stdout.split(f"{image}:0.1.1-cpu-{variant}:\n", 1)[1]
        assert block.startswith("  packages and labels identical ("), block
        assert int(block.split("(", 1)[1].split(" packages")[0]) > 10  # pip freeze compared
        assert f"revision {commit[:12]})" in block.splitlines()[0]
    assert "v0.1.1: 2 image(s) rebuilt in a clean worktree, packages and labels identical" \
        in res.stdout
    # The worktree is gone, the scratch images too; the release's own images keep their tags.
    assert proj.git("worktree", "list", "--porcelain").count("worktree ") == 1
    assert not [ref for ref in engine("image", "ls", "--format", "{{.Repository}}").stdout.split()
                if ref.startswith(f"{image}-rebuild-")]
    for variant in ("runtime", "devel"):
        assert engine.image_exists(f"{image}:0.1.1-cpu-{variant}")
    assert {str(engine("image", "inspect", "--format", "{{.Id}}",
                       f"{image}:0.1.1-cpu-{v}").stdout.strip())
            for v in ("runtime", "devel")} == released_ids

    line = one_error(proj.invoke("images.rebuild", "v9.9.9"))
    assert "tag v9.9.9 does not exist" in line
    proj.git("tag", "old", "v0.1.1^{commit}")  # lightweight: no record of images
    line = one_error(proj.invoke("images.rebuild", "old"))
    assert "made before torchship recorded a release's images" in line
    assert proj.git("worktree", "list", "--porcelain").count("worktree ") == 1


def test_differences_name_each_package_and_label_and_only_report_size() -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from torchship.images.rebuild import differences

    recorded = {"pip_freeze": ["a==1", "b==2", "gone==3"], "size": 1000,
                "labels": {"org.opencontainers.image.revision": "abc",
                           "org.opencontainers.image.created": "then"}}
    built = SimpleNamespace(found=SimpleNamespace(packages=("a==1", "b==3", "new==1")),
                            labels={"org.opencontainers.image.revision": "def",
                                    "org.opencontainers.image.created": "now"}, size=2000)
    said, size = differences(recorded, cast(Any, built))
    assert said == ["package b==2 recorded, b==3 rebuilt",
                    "package gone==3 recorded, not in the rebuild",
                    "package new==1 in the rebuild, not recorded",
                    "label org.opencontainers.image.revision: recorded 'abc', rebuilt 'def'"]
    assert size == ["size 1 KB recorded, 2 KB rebuilt (+1 KB; reported, not failed)"]
