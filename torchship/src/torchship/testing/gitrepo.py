"""Real git repositories for tests: a copy of the template with a bare remote, and snapshots.

A snapshot is everything a release may touch: HEAD, every ref, the index file's bytes, every
work-tree file's bytes and mode, and `git status`. Two equal snapshots mean byte for byte
the same repository.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

IDENTITY = ("Torchship Test", "test@torchship.invalid")
BIN = Path(sys.executable).parent  # the running interpreter's scripts (put first on PATH)
# invoke as a user runs it, by the interpreter running the tests (a venv, or nox --no-venv).
INVOKE = (sys.executable, "-m", "invoke")


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment a test's git (and invoke) runs in: no user or system git config."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GNUPG"))}
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
               GIT_CONFIG_NOSYSTEM="1", PYTHONDONTWRITEBYTECODE="1", LC_ALL="C.UTF-8")
    env.update(extra)
    return env


def git(repo: Path, *args: str, env: dict[str, str], input: str | None = None) -> str:
    """Run git in `repo`; return stdout; fail the test with git's output when it fails."""
    res = subprocess.run(["git", *args], cwd=repo, env=env, text=True, input=input,
                         capture_output=True, check=False)
    if res.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {res.stderr or res.stdout}")
    return res.stdout.strip()


def template_files(source: Path) -> list[str]:
    """The template's files as a fresh clone would have them: tracked plus new, not ignored."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=source, capture_output=True, text=True, check=True).stdout
    return sorted(p for p in out.split("\0") if p and (source / p).is_file())


def make_repo(source: Path, dest: Path, *, env: dict[str, str]) -> Path:
    """Copy the template's files into `dest`, `git init -b main`, commit them."""
    dest.mkdir(parents=True)
    for rel in template_files(source):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, target)
    git(dest, "init", "-q", "-b", "main", env=env)
    git(dest, "config", "user.name", IDENTITY[0], env=env)
    git(dest, "config", "user.email", IDENTITY[1], env=env)
    git(dest, "add", "-A", env=env)
    git(dest, "commit", "-q", "-m", "The template", env=env)
    settle(dest, env=env)
    return dest


def add_bare_remote(repo: Path, remote: Path, *, env: dict[str, str]) -> Path:
    """A bare clone of `repo` at `remote`, added as origin and set as main's upstream."""
    git(repo.parent, "clone", "-q", "--bare", str(repo), str(remote), env=env)
    git(repo, "remote", "add", "origin", str(remote), env=env)
    git(repo, "fetch", "-q", "origin", env=env)
    git(repo, "branch", "-q", "--set-upstream-to=origin/main", "main", env=env)
    return remote


def settle(repo: Path, *, env: dict[str, str]) -> None:
    """Make the index's stat cache fresh and not racy, so reading it never rewrites it.

    Files written in the same second as the index are "racily clean" and any later git
    command may rewrite the index; backdating them and refreshing once avoids that.
    """
    past = time.time() - 10
    for path in repo.rglob("*"):
        if ".git" not in path.relative_to(repo).parts and path.is_file():
            with contextlib.suppress(PermissionError):  # an immutable (chattr +i) file
                os.utime(path, (past, past))
    subprocess.run(["git", "update-index", "-q", "--really-refresh"], cwd=repo, env=env,
                   capture_output=True, check=False)


@dataclass(frozen=True)
class Snapshot:
    head: str
    refs: tuple[str, ...]
    index: bytes | None
    files: tuple[tuple[str, int, bytes], ...]
    status: str
    # The git directory's own files besides HEAD and the index (COMMIT_EDITMSG, config, a
    # lock or journal left behind...): their names and bytes. Its folders (objects, refs,
    # logs, hooks) are compared through `refs` or not at all: unreachable objects and
    # reflog lines are git's history of what happened, not the repository's state.
    git_files: tuple[tuple[str, bytes], ...] = ()

    def diff(self, other: Snapshot) -> list[str]:
        """What differs, for an assertion message a person can read."""
        out = []
        for name, (a, b) in (("git_files", (dict(self.git_files), dict(other.git_files))),
                             ("file", ({p: (m, b) for p, m, b in self.files},
                                       {p: (m, b) for p, m, b in other.files}))):
            out += [f"{name} {k} differs" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        for name in ("head", "refs", "index", "status"):
            if getattr(self, name) != getattr(other, name):
                a, b = getattr(self, name), getattr(other, name)
                out.append(f"{name}: {a!r:.300} != {b!r:.300}")
        return out


def snapshot(repo: Path, *, env: dict[str, str]) -> Snapshot:
    """Everything a release could change in `repo` (see the module docstring)."""
    quiet = {**env, "GIT_OPTIONAL_LOCKS": "0"}
    git_dir = repo / ".git"
    head = (git_dir / "HEAD").read_text() if git_dir.exists() else ""
    refs = ""
    status = ""
    if git_dir.exists():
        refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", env=quiet)
        status = git(repo, "status", "--porcelain=v1", "--untracked-files=all", "--ignored",
                     env=quiet)
    index = (git_dir / "index").read_bytes() if (git_dir / "index").exists() else None
    files = []
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo)
        if rel.parts[0] == ".git" or path.is_dir():
            continue
        files.append((rel.as_posix(), path.lstat().st_mode, path.read_bytes()))
    own = tuple((f.name, f.read_bytes()) for f in sorted(git_dir.iterdir())
                if f.is_file() and f.name not in {"HEAD", "index"}) if git_dir.is_dir() else ()
    return Snapshot(head, tuple(refs.splitlines()), index, tuple(files), status, own)


def remote_refs(remote: Path, *, env: dict[str, str]) -> tuple[str, ...]:
    """The refs of a bare remote (what has left the machine)."""
    out = git(remote, "for-each-ref", "--format=%(refname) %(objectname)", env=env)
    return tuple(out.splitlines())


@dataclass
class Project:
    """A copy of the template in tmp_path, released the way a user releases it."""

    path: Path
    remote: Path
    env: dict[str, str]
    tmp: Path

    def invoke(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*INVOKE, *args], cwd=self.path, env=self.env,
                              text=True, capture_output=True, timeout=timeout, check=False)

    def git(self, *args: str) -> str:
        return git(self.path, *args, env=self.env)

    def snapshot(self) -> Snapshot:
        return snapshot(self.path, env=self.env)

    def settle(self) -> None:
        settle(self.path, env=self.env)

    def commit(self, rel: str, text: str, message: str = "edit") -> None:
        (self.path / rel).write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.settle()

    def script(self, name: str, body: str) -> Path:
        """An executable shell script outside the repository (a signer, a hook body)."""
        path = self.tmp / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
        return path

    def hook(self, name: str, body: str, *, remote: bool = False) -> None:
        hooks = (self.remote if remote else self.path / ".git") / "hooks"
        hook = hooks / name
        hook.write_text("#!/bin/sh\n" + body)
        hook.chmod(0o755)

    def refused(self, *args: str, says: str) -> subprocess.CompletedProcess[str]:
        """Run `invoke args`; it must fail with one clear line and change nothing."""
        self.settle()
        before = self.snapshot()
        res = self.invoke(*args)
        after = self.snapshot()
        lines = res.stderr.strip().splitlines()
        assert res.returncode != 0, res.stdout
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith("error: "), res.stderr
        assert says in lines[0], res.stderr
        assert before.diff(after) == [], before.diff(after)
        return res
