"""The template the tool's tests run against, throwaway copies of it, and the tool as a wheel.

The tool's tests never use the template's checkout as their project: they copy it (the
files a fresh clone has) into a repository of their own. A project made from the template
installs the tool as a versioned dependency; where no index serves torchship (here, and in
the tool's own CI), the tests build its wheel once and point pip and uv at the folder, as a
team with a private index or a wheel house would configure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from torchship.adapters import proc
from torchship.images.toolwheel import build_wheel
from torchship.testing.gitrepo import template_files

TEMPLATE_VAR = "TORCHSHIP_TEMPLATE"
GIT_ENV = {"GIT_AUTHOR_NAME": "torchship tests", "GIT_AUTHOR_EMAIL": "tests@example.com",
           "GIT_COMMITTER_NAME": "torchship tests", "GIT_COMMITTER_EMAIL": "tests@example.com"}


def template_source(default: Path) -> Path:
    """Where the template is: $TORCHSHIP_TEMPLATE, else `default` (the repository holding the
    tool's tests)."""
    return Path(os.environ.get(TEMPLATE_VAR) or default).resolve()


def git(cwd: Path, *args: str) -> str:
    return proc.run(["git", *args], cwd=cwd, env=GIT_ENV).stdout.strip()


def copy_files(root: Path, dest: Path) -> Path:
    """Copy the tracked and unignored files of the checkout at `root` into `dest`."""
    for name in template_files(root):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, dest / name)
    return dest


def copy_template(root: Path, dest: Path) -> Path:
    """Copy the tracked and unignored files of the checkout at `root` into `dest`, then
    `git init` and commit them there; return `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    copy_files(root, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "template")
    return dest


def drop_bases(root: Path) -> None:
    """Remove the pinned environments ([tool.torchship.bases]) from `root`'s pyproject.toml,
    comments and layout kept: a project that pins none (the template ships one)."""
    import tomlkit

    path = root / "pyproject.toml"
    doc = tomlkit.parse(path.read_text())
    tool = doc.get("tool", {}).get("torchship")
    if tool is not None and "bases" in tool:
        del tool["bases"]
        path.write_text(tomlkit.dumps(doc))


def build_tool_wheel(tool: Path, wheels: Path) -> Path:
    """Build the tool's wheel from its source folder `tool` into `wheels`; the wheel's path.

    Built from a copy: a build in place would leave build/ in the checkout.
    """
    source = wheels.parent / f"{wheels.name}-source"
    shutil.rmtree(source, ignore_errors=True)
    copy_files(tool, source)
    wheels.mkdir(parents=True, exist_ok=True)
    build_wheel(source, wheels)
    shutil.rmtree(source, ignore_errors=True)
    [wheel] = sorted(wheels.glob("torchship-*.whl"))
    return wheel


def find_links(wheels: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """PIP_FIND_LINKS and UV_FIND_LINKS with `wheels` first, keeping what they held already
    (pip separates them by spaces, uv by commas)."""
    environ = os.environ if environ is None else environ
    pip = " ".join(p for p in (str(wheels), environ.get("PIP_FIND_LINKS", "")) if p)
    uv = ",".join(p for p in (str(wheels), environ.get("UV_FIND_LINKS", "")) if p)
    return {"PIP_FIND_LINKS": pip, "UV_FIND_LINKS": uv}
