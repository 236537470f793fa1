"""A project in a folder of its repository: the tool releases itself from torchship/.

The test repository is a copy of this one, so it holds two projects as this one does: the
template at the top (tags v*) and the tool in torchship/ (tags torchship-v*). The project is
the folder of the pyproject.toml a release runs under; git's top is where it commits from.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

from torchship.release import version
from torchship.testing.gitrepo import INVOKE, Project, snapshot

TOOL_FILES = ["torchship/CHANGELOG.md", "torchship/pyproject.toml",
              "torchship/src/torchship/__init__.py"]


def _invoke(p: Project, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*INVOKE, *args], cwd=cwd, env=p.env, text=True, capture_output=True,
                          timeout=180, check=False)


def _next_patch(tool: Path) -> str:
    data = tomllib.loads((tool / "pyproject.toml").read_text())
    current = version.parse(data["tool"]["bumpversion"]["current_version"])
    labels, _final = version.pre_labels(data)
    return str(version.next_version(current, part="patch", pre=None, final=False,
                                    labels=labels))


def test_the_tool_releases_itself_from_its_folder(project: Project, package: str) -> None:
    tool = project.path / "torchship"
    new = _next_patch(tool)
    top_before = {name: (project.path / name).read_bytes()
                  for name in ("pyproject.toml", "CHANGELOG.md", f"src/{package}/__init__.py")}

    dry = _invoke(project, tool, "release", "--part", "patch", "--no-images", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "project: torchship/" in dry.stdout
    assert f"tag: torchship-v{new} (annotated, signed)" in dry.stdout
    assert f"commit: 'Release torchship {new}', of {', '.join(TOOL_FILES)}" in dry.stdout
    assert "\n  src/torchship/__init__.py:" in dry.stdout  # named from the project

    res = _invoke(project, tool, "release", "--part", "patch", "--no-images")
    assert res.returncode == 0, res.stderr
    assert f"released {new}: tag torchship-v{new}" in res.stdout
    assert project.git("log", "-1", "--format=%s") == f"Release torchship {new}"
    assert sorted(project.git("show", "--name-only", "--format=", "HEAD").split()) == TOOL_FILES
    assert {n: (project.path / n).read_bytes() for n in top_before} == top_before
    assert project.git("status", "--porcelain") == ""
    log = (tool / "CHANGELOG.md").read_text()
    assert f"## [Unreleased]\n\n## [{new}] - " in log
    assert f"/compare/torchship-v{new}...HEAD" in log
    project.git("tag", "-v", f"torchship-v{new}")

    # From a folder inside the project, the project is the same one.
    verify = _invoke(project, tool / "src", "release.verify", f"torchship-v{new}")
    assert verify.returncode == 0, verify.stderr
    assert f"✓ version {new} in torchship/pyproject.toml and every" in verify.stdout
    assert f"✓ torchship/CHANGELOG.md has [{new}]" in verify.stdout

    # The template at the top still releases on its own, with its own tags.
    top = project.invoke("release", "--part", "patch", "--no-images")
    assert top.returncode == 0, top.stderr
    assert "released 0.1.1: tag v0.1.1" in top.stdout
    assert "torchship/" not in project.git("show", "--name-only", "--format=", "HEAD")
    assert project.git("log", "-1", "--format=%s") == "Release 0.1.1"


def test_a_failed_release_from_a_folder_leaves_the_repository_as_it_was(project: Project) -> None:
    project.hook("pre-commit", 'echo "pre-commit: lint failed" >&2\nexit 1\n')
    project.settle()
    before = project.snapshot()
    res = _invoke(project, project.path / "torchship", "release", "--part", "patch",
                  "--no-images")
    assert res.returncode == 1, res.stdout
    assert res.stderr.strip().splitlines() == [
        "error: commit failed: git commit failed: pre-commit: lint failed; rolled back, the "
        "repository is as it was (fix that (a git hook, or the signer: gpg.program, "
        "user.signingkey) and release again)"]
    assert "↺ restored torchship/pyproject.toml" in res.stdout
    assert snapshot(project.path, env=project.env).diff(before) == []
