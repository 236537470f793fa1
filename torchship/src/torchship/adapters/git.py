"""Queries and mutations of one git repository, all through the git CLI (torchship.adapters.proc).

The git CLI rather than GitPython: signing must honour exactly what the user's git config
says (gpg.format, gpg.program, user.signingkey, allowed signers), and only git itself does.
Every read runs with GIT_OPTIONAL_LOCKS=0 so that a query never rewrites the index behind
the release's back (git status refreshes it opportunistically otherwise).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from torchship.adapters import proc
from torchship.errors import CommandFailed, TorchshipError

_ENV = {"GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}


class GitError(TorchshipError):
    """The repository is not in a state the operation needs, or git refused."""


@dataclass(frozen=True)
class Upstream:
    """Where the branch is pushed: the remote's name and the branch's ref there."""

    remote: str
    ref: str  # e.g. refs/heads/main


@dataclass(frozen=True)
class Change:
    """One line of `git status --porcelain`: two status letters and a path."""

    code: str
    path: str

    @property
    def untracked(self) -> bool:
        return self.code == "??"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


class Git:
    """A repository's work tree, driven through the git command line."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def discover(cls, path: Path | str = ".") -> Git:
        """The repository containing `path`, or GitError when there is none."""
        try:
            top = proc.run(["git", "rev-parse", "--show-toplevel"], cwd=path, env=_ENV)
        except CommandFailed as exc:
            raise GitError(f"{Path(path).resolve()} is not inside a git repository",
                           hint="run it from your project's clone, or `git init` first") from exc
        return cls(Path(top.stdout.strip()))

    # -- plumbing -----------------------------------------------------------------------

    def run(self, *args: str, input: str | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return proc.run(["git", *args], cwd=self.root, env={**_ENV, **(env or {})},
                        input=input, check=check)

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False).returncode == 0

    @property
    def git_dir(self) -> Path:
        return Path(self.out("rev-parse", "--absolute-git-dir"))

    def config(self, key: str) -> str | None:
        res = self.run("config", "--get", key, check=False)
        return res.stdout.strip() if res.returncode == 0 else None

    # -- state --------------------------------------------------------------------------

    def head(self) -> str | None:
        """The commit HEAD points at, or None in a repository with no commit yet."""
        res = self.run("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
        return res.stdout.strip() if res.returncode == 0 else None

    def branch(self) -> str | None:
        """The checked-out branch's short name, or None when HEAD is detached."""
        res = self.run("symbolic-ref", "-q", "--short", "HEAD", check=False)
        return res.stdout.strip() if res.returncode == 0 else None

    def status(self) -> list[Change]:
        """Every change in the work tree and index, untracked files included (not ignored)."""
        raw = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
        entries = raw.split("\0")
        changes: list[Change] = []
        i = 0
        while i < len(entries):
            entry = entries[i]
            i += 1
            if not entry:
                continue
            code, path = entry[:2], entry[3:]
            if code[0] in "RC":  # a rename carries its source as the next entry
                i += 1
            changes.append(Change(code, path))
        return changes

    def upstream(self, branch: str) -> Upstream | None:
        """The configured upstream of `branch` (branch.<name>.remote/merge), if any."""
        remote = self.config(f"branch.{branch}.remote")
        merge = self.config(f"branch.{branch}.merge")
        if not remote or not merge or remote == ".":
            return None
        return Upstream(remote, merge)

    def remote_refs(self, remote: str) -> dict[str, str]:
        """Refs on `remote` (heads and tags; peeled tags as `name^{}`) -> object names."""
        try:
            res = self.run("ls-remote", "--heads", "--tags", remote)
        except CommandFailed as exc:
            raise GitError(f"cannot reach remote {remote!r}: {_last_line(exc.output)}",
                           hint="check `git remote -v` and your network, or release without "
                                "--push from a clone whose remote answers") from exc
        refs: dict[str, str] = {}
        for line in res.stdout.splitlines():
            oid, _, name = line.partition("\t")
            refs[name.strip()] = oid.strip()
        return refs

    def has_commit(self, oid: str) -> bool:
        return self.ok("cat-file", "-e", f"{oid}^{{commit}}")

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.ok("merge-base", "--is-ancestor", older, newer)

    def ref(self, name: str) -> str | None:
        """The object a full ref name points at (not peeled), or None."""
        res = self.run("rev-parse", "-q", "--verify", name, check=False)
        return res.stdout.strip() if res.returncode == 0 else None

    def tag_type(self, name: str) -> str:
        return self.out("cat-file", "-t", f"refs/tags/{name}")

    def show(self, rev: str, path: str) -> bytes:
        """The bytes of `path` at `rev` (GitError when it is not there)."""
        res = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=self.root,
                             env={**os.environ, **_ENV}, capture_output=True, check=False)
        if res.returncode != 0:
            raise GitError(f"{path} does not exist at {rev}")
        return res.stdout

    def identity(self) -> str:
        """The committer identity git will record, or GitError when git has none."""
        try:
            return self.out("var", "GIT_COMMITTER_IDENT")
        except CommandFailed as exc:
            raise GitError("git has no identity to record the release with",
                           hint='set it: git config user.name "Your Name" && '
                                'git config user.email you@example.com') from exc

    # -- signing ------------------------------------------------------------------------

    def signing_format(self) -> str:
        return self.config("gpg.format") or "openpgp"

    def sign_test(self) -> None:
        """Sign a throwaway commit object, so a missing key fails before anything is written.

        The object is never referenced, so nothing visible changes (git gc drops it).
        """
        head = self.head()
        tree = f"{head}^{{tree}}" if head else self.out("hash-object", "-t", "tree", "/dev/null")
        try:
            self.run("commit-tree", "-S", "-m", "torchship signing test", tree)
        except CommandFailed as exc:
            fmt = self.signing_format()
            key = self.config("user.signingkey") or "(user.signingkey not set)"
            raise GitError(f"signing does not work ({fmt}, key {key}): {_last_line(exc.output)}",
                           hint="configure a key (git config user.signingkey ..., and "
                                "gpg.format ssh for SSH keys) or pass --no-sign") from exc

    # -- mutations ----------------------------------------------------------------------

    def _mutate(self, what: str, *args: str, input: str | None = None) -> None:
        """Run a mutating git command; on failure say what failed and git's (or gpg's) reason."""
        try:
            self.run(*args, input=input)
        except CommandFailed as exc:
            lines = [ln.strip() for ln in exc.output.splitlines() if ln.strip()]
            # The signer's own reason ("gpg: signing failed: ...") beats git's summary.
            cause = next((ln for ln in lines if ln.startswith(("gpg:", "ssh", "No "))), None)
            reason = "; ".join(x for x in (cause, _last_line(exc.output)) if x)
            raise GitError(f"{what}: {reason}",
                           hint="fix that (a git hook, or the signer: gpg.program, "
                                "user.signingkey) and release again") from exc

    def add(self, paths: list[str]) -> None:
        self.run("add", "--", *paths)

    def commit(self, message: str, *, sign: bool) -> str:
        self._mutate("git commit failed", "commit", "-q", "-S" if sign else "--no-gpg-sign",
                     "--cleanup=verbatim", "-F", "-", input=message)
        head = self.head()
        assert head is not None  # a commit was just made
        return head

    def tag(self, name: str, message: str, *, sign: bool) -> str:
        """Create annotated tag `name` on HEAD; return the tag object's name."""
        # verbatim: the changelog's `### Added` lines must not be stripped as comments.
        self._mutate(f"git could not {'sign' if sign else 'create'} tag {name}", "tag",
                     "-s" if sign else "-a", *([] if sign else ["--no-sign"]),
                     "--cleanup=verbatim", "-F", "-", name, input=message)
        oid = self.ref(f"refs/tags/{name}")
        assert oid is not None
        return oid

    def delete_ref(self, ref: str, expected: str) -> None:
        """Delete `ref` only if it still points at `expected` (never someone else's)."""
        self.run("update-ref", "-m", "torchship release: rollback", "-d", ref, expected)

    def move_ref(self, ref: str, new: str, expected: str) -> None:
        """Point `ref` at `new` only if it still points at `expected`."""
        self.run("update-ref", "-m", "torchship release: rollback", ref, new, expected)

    def verify_tag(self, name: str) -> str:
        """`git tag -v`: GitError with git's own reason when the signature does not verify."""
        try:
            return self.run("tag", "-v", name).stdout
        except CommandFailed as exc:
            raise GitError(f"tag {name} does not verify: {_last_line(exc.output)}",
                           hint="for SSH signatures set gpg.ssh.allowedSignersFile; for GPG "
                                "import the signer's public key") from exc

    def push_atomic(self, remote: str, refspecs: list[str]) -> None:
        self.run("push", "--atomic", "--porcelain", remote, *refspecs)
