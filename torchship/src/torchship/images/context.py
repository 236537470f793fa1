"""The build context: the files git tracks in the project, plus the extras named explicitly.

An image build sends a folder to the engine, and `COPY . .` (the devel image) takes all of
it. The project's folder holds more than the project: an untracked `config/pip.conf` with an
index token, a `secrets/corp.pem`, a `.netrc` in a subfolder. So a build never sends the
folder: it sends a staged copy holding only what `git ls-files` lists (the working tree's
bytes of those files, so an uncommitted edit is built) and the extras the build itself
names (the tool's wheel folder, `[tool.torchship] context_extras`). `.dockerignore`, which
is tracked and so staged too, still applies inside it: its patterns match at any depth
(`**/`), a second guard for a secret someone committed by mistake.

The copy is made of hard links where the file system allows (no bytes copied, times kept),
in a folder of the clone's own under `.torchship/` (git-ignored) at a stable path, so that
BuildKit sends only the files that changed since the last build; emptied when the build ends.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from torchship.adapters.proc import alive
from torchship.errors import ConfigError

STAGING = ".torchship"


def tracked(root: Path) -> list[str] | None:
    """The files git tracks under `root`, relative to it (None: `root` is in no repository).

    Only "not a git repository" means that: any other failure of git (a repository git
    refuses as of "dubious ownership", a broken index) is an error, never a reason to send
    the whole folder."""
    from torchship.adapters.git import reason, run_in

    res = run_in(root, "ls-files", "-z", "--cached", "--recurse-submodules", check=False)
    if not res.ok:
        if "not a git repository" in res.stderr:
            return None
        raise ConfigError("build context", f"git cannot list the files of {root}: {reason(res)}",
                          hint="an image is built from what git tracks; fix what git says "
                               "(e.g. git config --global --add safe.directory DIR)")
    return sorted({p for p in res.stdout.split("\0") if p})


def left_out(root: Path, extras: Sequence[str] = ()) -> list[str]:
    """The files under `root` that a build leaves out and a person may expect in it: neither
    tracked nor ignored by git, nor under a named extra (a new module not yet `git add`ed)."""
    from torchship.adapters.git import GitError, ls_files

    try:
        others = ls_files(root, "--others", "--exclude-standard")
    except GitError:  # no git, or no repository: nothing to say about what a build leaves out
        return []
    inside = [PurePosixPath(check_extra(e)) for e in extras]
    return sorted(p for p in others if not any(
        PurePosixPath(p) == e or e in PurePosixPath(p).parents for e in inside))


def describe_left_out(names: Sequence[str], shown: int = 3) -> str:
    """One line for the files a build leaves out (left_out)."""
    listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown
                                         else "")
    return (f"not in the image: {len(names)} file(s) git does not track ({listed}); "
            "`git add` what the image needs, or name it in [tool.torchship] context_extras")


def check_extra(rel: str) -> str:
    """An extra must be a path inside the project (`.` would be the whole folder: .git,
    secrets and all)."""
    from torchship.config import inside_project

    return inside_project(rel, "tool.torchship.context_extras", "data/vocab.txt")


def _place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dest)
        return
    try:
        os.link(src, dest)
    except OSError:  # another file system, or links not allowed: copy the bytes
        shutil.copy2(src, dest)


def files(root: Path, extras: Sequence[str]) -> list[str] | None:
    """What the context holds, relative to `root` (None: not in a git repository, so the
    folder itself is the context, with `.dockerignore` as its only guard)."""
    listed = tracked(root)
    if listed is None:
        return None
    if not listed:
        raise ConfigError("build context", f"git tracks no file in {root}: an image is built "
                          "from what git tracks", hint="`git add` the project's files")
    out = set(listed)
    for extra in extras:
        rel = check_extra(extra)
        where = root / rel
        if where.is_dir():
            out.update(str(p.relative_to(root)) for p in where.rglob("*")
                       if p.is_file() or p.is_symlink())
        elif where.exists() or where.is_symlink():
            out.add(rel)
    # A tracked file deleted in the working tree is not built (nor is a tracked folder's
    # submodule link that git lists as a path but is no file).
    return sorted(p for p in out if (root / p).is_file() or (root / p).is_symlink())


def _remove_orphans(staging: Path) -> None:
    """Remove the staged contexts `context-<pid>-*` (a random folder per build, as earlier
    versions staged) of builds whose process is gone; a running one's stays."""
    for folder in staging.glob("context-*-*"):
        pid = folder.name.split("-")[1]
        if not pid.isdigit() or alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _slot(staging: Path) -> Iterator[Path]:
    """This clone's first staging folder no other build holds: `context-0` for one build at
    a time, the same path every time (BuildKit sends only what changed since its last
    transfer from a path), the next one for a build beside it. flock(2): a killed build's
    hold goes with it, and the next build clears what it left."""
    import fcntl

    for n in range(64):
        fd = os.open(staging / f"context-{n}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield staging / f"context-{n}"
        finally:
            os.close(fd)  # closing drops the lock
        return
    raise ConfigError("build context", f"64 builds of this clone are staging in {staging}",
                      hint="wait for one to finish")


@contextmanager
def staged(root: Path, extras: Sequence[str] = ()) -> Iterator[Path]:
    """A folder holding the build context of the project at `root`, at a stable path of the
    clone's own (.torchship/context-N); emptied on exit."""
    names = files(root, extras)
    if names is None:
        yield root
        return
    (root / STAGING).mkdir(exist_ok=True)
    _remove_orphans(root / STAGING)
    with _slot(root / STAGING) as folder:
        shutil.rmtree(folder, ignore_errors=True)  # what a killed build left
        folder.mkdir()
        try:
            for rel in names:
                _place(root / rel, folder / rel)
            for rel in extras:  # an empty folder the build mounts must exist too
                if (root / rel).is_dir():
                    (folder / rel).mkdir(parents=True, exist_ok=True)
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
