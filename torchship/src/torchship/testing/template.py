"""A copy of the template as a fresh clone has it, committed in a repository of its own."""

from __future__ import annotations

import shutil
from pathlib import Path

from torchship.adapters import proc

GIT_ENV = {"GIT_AUTHOR_NAME": "torchship tests", "GIT_AUTHOR_EMAIL": "tests@example.com",
           "GIT_COMMITTER_NAME": "torchship tests", "GIT_COMMITTER_EMAIL": "tests@example.com"}


def git(cwd: Path, *args: str) -> str:
    return proc.run(["git", *args], cwd=cwd, env=GIT_ENV).stdout.strip()


def copy_template(root: Path, dest: Path) -> Path:
    """Copy the tracked and unignored files of the checkout at `root` into `dest`, then
    `git init` and commit them there; return `dest`."""
    files = git(root, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for name in files:
        src = root / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "template")
    return dest
