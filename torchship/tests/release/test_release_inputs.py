"""Inputs a release checks before it changes anything (one line, non-zero, no byte changed):
the image name, an empty --remote, the local configuration's path, GIT_DIR/GIT_WORK_TREE;
and a dry run or a refusal leaves even the index file's bytes as they were."""

from __future__ import annotations

import os
import shutil
import subprocess

from torchship.testing.gitrepo import INVOKE, Project, git, settle, snapshot
from torchship.testing.standins import PinnedBases, write_local_config

RELEASE = ("release", "--part", "patch", "--no-images")


def test_an_image_name_docker_cannot_use_is_refused_by_the_dry_run(
        project: Project, standin_bases: PinnedBases) -> None:
    local = project.tmp / "local.toml"
    write_local_config(local, standin_bases, image="UPPER/Case Name")
    project.env["TORCHSHIP_LOCAL_CONFIG"] = str(local)
    for args in (("--dry-run",), ()):
        project.refused("release", "--part", "patch", "--no-evidence", *args,
                        says="tool.torchship.image: 'UPPER/Case Name' is not a name Docker "
                             "can use")


def test_an_empty_remote_is_refused_not_taken_for_origin(project: Project) -> None:
    project.refused(*RELEASE, "--remote", "", says="--remote is empty")
    project.refused(*RELEASE, "--push", "--remote", " ", says="--remote is empty")


def test_a_local_config_path_that_is_not_a_file_is_refused(project: Project) -> None:
    project.env["TORCHSHIP_LOCAL_CONFIG"] = str(project.tmp / "missing.toml")
    project.refused(*RELEASE, says=f"TORCHSHIP_LOCAL_CONFIG: {project.tmp}/missing.toml does "
                                   "not exist")
    project.env["TORCHSHIP_LOCAL_CONFIG"] = str(project.tmp)
    project.refused(*RELEASE, says=f"TORCHSHIP_LOCAL_CONFIG: {project.tmp} is a folder")


def test_git_dir_naming_another_repository_is_refused(project: Project) -> None:
    other = project.tmp / "other"
    shutil.copytree(project.path, other, symlinks=True)
    settle(other, env=project.env)
    ours, theirs = project.snapshot(), snapshot(other, env=project.env)
    for var, value in (("GIT_DIR", f"{other}/.git"), ("GIT_WORK_TREE", str(other))):
        res = subprocess.run([*INVOKE, *RELEASE], cwd=project.path, text=True,
                             env={**project.env, var: value}, capture_output=True,
                             timeout=180, check=False)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 1, res.stdout
        assert lines == [f"error: {var}={value} names another repository than the one this "
                         f"runs in ({project.path / '.git' if var == 'GIT_DIR' else project.path}"
                         f") (unset {var} (and GIT_DIR/GIT_WORK_TREE with it), or run it from "
                         "that repository)"], res.stderr
    assert project.snapshot().diff(ours) == []
    assert snapshot(other, env=project.env).diff(theirs) == []


def _touch_every_tracked_file(project: Project) -> None:
    """New stat data, same content: git's stat cache is out of date, which a `git status` or
    `git update-index --refresh` would write back into the index."""
    for rel in project.git("ls-files").splitlines()[:20]:
        os.utime(project.path / rel)


def test_a_dry_run_and_a_refusal_leave_the_index_file_as_it_was(project: Project) -> None:
    _touch_every_tracked_file(project)
    before = snapshot(project.path, env=project.env)
    dry = project.invoke(*RELEASE, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert snapshot(project.path, env=project.env).diff(before) == []
    # Refused after the version was planned: the tag exists on the remote.
    git(project.remote, "tag", "v0.1.1", "main", env=project.env)
    refused = project.invoke(*RELEASE)
    assert "tag v0.1.1 already exists on origin" in refused.stderr, refused.stderr
    assert snapshot(project.path, env=project.env).diff(before) == []


def test_a_changelog_starting_with_a_byte_order_mark_is_released(project: Project) -> None:
    bom = b"\xef\xbb\xbf"
    log = project.path / "CHANGELOG.md"
    project.commit("CHANGELOG.md", (bom + log.read_bytes()).decode("utf-8"), "BOM")
    res = project.invoke(*RELEASE)
    assert res.returncode == 0, res.stderr
    released = log.read_bytes()
    assert released.startswith(bom + b"# Changelog")
    assert b"## [0.1.1] - " in released
    verify = project.invoke("release.verify", "v0.1.1")
    assert verify.returncode == 0, verify.stderr
    assert "CHANGELOG.md has [0.1.1] - " in verify.stdout
