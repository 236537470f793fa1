"""The one door to git, on GitPython: its `Repo` for queries, its `git` wrapper for the rest.

- Queries read the repository through `git.Repo`: HEAD, branches and refs from the files git
  keeps them in, objects (`rev:path`, tags, commits) from one persistent `git cat-file
  --batch`, so answering a question rarely starts a process.
- What must behave exactly as the user's git does runs git itself through `repo.git`,
  GitPython's command wrapper: commit, tag and their signing (gpg.format, gpg.program,
  user.signingkey, the allowed signers), hooks, verify-tag, push, status, describe, and
  config reads (GitPython's own config parser skips GIT_CONFIG_GLOBAL, GIT_CONFIG_NOSYSTEM
  and `git -c`; git's `config --list` does not).
- ENV is set once on that wrapper (`update_environment`), so it applies to every git process
  this tool starts, the persistent ones included: GIT_OPTIONAL_LOCKS=0 (a query never
  rewrites the index behind a release's back), LC_ALL=C (the messages quoted to the user are
  git's English ones), GIT_TERMINAL_PROMPT=0 (nothing waits for a password nobody types).

Failures are one-line GitErrors that quote git's (or the signer's) own reason. GitPython is
imported on first use: `invoke --list` does not pay for it.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchship.errors import TorchshipError

if TYPE_CHECKING:
    from types import TracebackType

    import git as gitpython

ENV = {"GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}

log = logging.getLogger("torchship.adapters.git")


class GitError(TorchshipError):
    """The repository is not in a state the operation needs, or git refused."""


@dataclass(frozen=True)
class Upstream:
    """Where the branch is pushed: the remote's name and the branch's ref there."""

    remote: str
    ref: str  # e.g. refs/heads/main


@dataclass(frozen=True)
class Change:
    """One entry of `git status --porcelain`: two status letters and a path (from the top)."""

    code: str
    path: str

    @property
    def untracked(self) -> bool:
        return self.code == "??"


@dataclass(frozen=True)
class CommitInfo:
    parents: list[str]
    subject: str


@dataclass(frozen=True)
class TagInfo:
    target: str     # the object the tag points at (a commit, for a release)
    subject: str    # the first line of its message


@dataclass(frozen=True)
class Result:
    """A finished git command: its status and its output, decoded."""

    args: tuple[str, ...]
    status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0


def _lines(text: str) -> list[str]:
    """The lines of git's output worth quoting: no blanks, hints or progress chatter."""
    return [ln.strip() for ln in text.splitlines()
            if ln.strip() and not ln.lstrip().startswith("hint:") and ln.strip() != "Done"]


_SIGNER_FAILURE = re.compile(r"can't|cannot|bad |fail|error|expired|revoked|no public key|"
                             r"no secret key|not found|denied|invalid|no such", re.IGNORECASE)


def reason(res: Result) -> str:
    """Why a git command failed, in one line: the signer's own reason first (gpg: ...,
    ssh ...), then git's first fatal:/error: line (else its last line: a hook's message)."""
    lines = _lines(res.stderr) or _lines(res.stdout)
    if not lines:
        return f"git {res.args[0] if res.args else ''} exited with {res.status}".strip()
    signer = [ln for ln in lines if ln.startswith(("gpg:", "ssh", "No "))]
    # gpg says much that is not the reason ("keybox created", "Signature made", "using EDDSA
    # key"): its line with a failure in it is, else its last.
    bad = [ln for ln in signer if _SIGNER_FAILURE.search(ln)]
    cause = (bad or signer[-1:] or [""])[0]
    # git's first fatal:/error: is the cause; what follows it is advice ("Please make sure
    # you have the correct access rights / and the repository exists."), not the reason.
    first = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), lines[-1])
    return "; ".join(dict.fromkeys(x for x in (cause, first) if x))


def _gitpython() -> Any:
    """GitPython, imported on first use (GitError when it or the git executable is missing)."""
    try:
        import git
    except ImportError as exc:  # GitPython refuses to load without a git executable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GitError(f"git cannot be used here: {first}",
                       hint="install git (apt-get install git) and GitPython") from exc
    return git


def _call(cmd: Any, args: tuple[str, ...], *, input: str | None, check: bool,
          env: dict[str, str] | None) -> Result:
    """`git ARGS` through a GitPython command wrapper (a repository's, or one for a folder).

    A failure raises GitError quoting git's reason unless `check` is false. Ctrl-C (or any
    other exception) kills the child: nothing is left running behind the caller.
    """
    name, *rest = args
    log.debug("$ git %s", shlex.join(args))
    wrapper = getattr(cmd, name.replace("-", "_"))
    try:
        handle = wrapper(*rest, as_process=True, env=env,
                         istream=subprocess.PIPE if input is not None else None)
    except _gitpython().exc.GitCommandNotFound as exc:
        raise GitError("`git` was not found", hint="install git or put it on PATH") from exc
    child: subprocess.Popen[bytes] = handle.proc
    try:
        out, err = child.communicate(input.encode("utf-8") if input is not None else None)
    except BaseException:
        child.kill()
        child.wait()
        raise
    res = Result(tuple(args), child.returncode, out.decode("utf-8", "replace"),
                 err.decode("utf-8", "replace"))
    if check and not res.ok:
        raise GitError(f"git {name} failed: {reason(res)}")
    return res


def run_in(folder: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> Result:
    """`git ARGS` in `folder`, which need not be a repository (clone, init), with ENV."""
    cmd = _gitpython().Git(str(folder))
    cmd.update_environment(**ENV)
    return _call(cmd, args, input=None, check=check, env=env)


def ls_files(folder: Path, *options: str) -> list[str]:
    """`git ls-files -z OPTIONS` in `folder` (e.g. --cached, --others --exclude-standard): the
    paths under it, relative to it, sorted and without duplicates. GitError when git fails."""
    out = run_in(folder, "ls-files", "-z", *options).stdout
    return sorted({p for p in out.split("\0") if p})


def _first_line(message: str | bytes) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return (text.splitlines() or [""])[0]


_REPO_TYPE: Any = None


def _repo_type() -> Any:
    """GitPython's Repo, with every git process it starts going through the process runner's
    rules (adapters/proc): started sheltered from stop signals inside `proc.sheltered()`,
    and its long-lived `git cat-file --batch` readers in a session of their own, always.

    Those readers answer every object query of a command, a rollback's included: a Ctrl-C
    to the terminal's process group must not kill them under it. They never need a terminal.
    """
    global _REPO_TYPE
    if _REPO_TYPE is None:
        from torchship.adapters import proc

        gp = _gitpython()

        class Command(gp.cmd.Git):  # type: ignore[misc,name-defined]  # GitPython's, lazily
            def execute(self, command: Any, *args: Any, **kwargs: Any) -> Any:
                if "cat-file" in command and any(str(a).startswith("--batch")
                                                 for a in command):
                    kwargs.setdefault("start_new_session", True)
                with proc.spawning():
                    return super().execute(command, *args, **kwargs)

        class Repo(gp.Repo):  # type: ignore[misc,name-defined]
            GitCommandWrapperType = Command

        _REPO_TYPE = Repo
    return _REPO_TYPE


def _text(value: str | bytes) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


def _norm_key(key: str) -> str:
    """A config key as `git config --list` prints it: section and name lower-cased."""
    section, _, rest = key.partition(".")
    sub, _, name = rest.rpartition(".")
    return f"{section.lower()}.{sub + '.' if sub else ''}{name.lower()}"


class Git:
    """A repository's work tree: queries through GitPython's Repo, git itself for the rest."""

    def __init__(self, repo: gitpython.Repo) -> None:
        if repo.working_tree_dir is None:
            raise GitError(f"{repo.git_dir} is a bare repository",
                           hint="run it from a clone with a work tree")
        self._repo = repo
        repo.git.update_environment(**ENV)
        self.top = Path(repo.working_tree_dir).resolve()  # the work tree's top-level folder
        self.git_dir = Path(repo.git_dir).resolve()  # per work tree (a linked one has its own)
        self._config: dict[str, str] | None = None

    @classmethod
    def discover(cls, path: Path | str = ".") -> Git:
        """The repository containing `path`, or GitError when there is none."""
        gp = _gitpython()
        where = Path(path).resolve()
        try:
            repo = _repo_type()(where, search_parent_directories=True)
        except (gp.exc.InvalidGitRepositoryError, gp.exc.NoSuchPathError) as exc:
            raise GitError(f"{where} is not inside a git repository",
                           hint="run it from your project's clone, or `git init` first") from exc
        found = cls(repo)
        found.check_environment()
        return found

    def check_environment(self) -> None:
        """Refuse GIT_DIR or GIT_WORK_TREE naming another repository than this one: the git
        this tool starts would read and change that one, while its files are read here."""
        for var, ours in (("GIT_DIR", self.git_dir), ("GIT_WORK_TREE", self.top)):
            named = os.environ.get(var)
            if named and Path(named).resolve() != ours:
                self.close()
                raise GitError(f"{var}={named} names another repository than the one this "
                               f"runs in ({ours})",
                               hint=f"unset {var} (and GIT_DIR/GIT_WORK_TREE with it), or run "
                                    "it from that repository")

    @classmethod
    def init(cls, path: Path, *, branch: str = "main") -> Git:
        """A new repository at `path` (created if needed) whose first branch is `branch`."""
        path.mkdir(parents=True, exist_ok=True)
        run_in(path, "init", "-q", "-b", branch)
        return cls.discover(path)

    @classmethod
    def clone(cls, url: str, dest: Path, *options: str) -> Git:
        """`git clone OPTIONS URL DEST` (e.g. --depth 1, --no-checkout); GitError quoting git's
        reason when it fails (no such repository, no access)."""
        res = run_in(dest.parent, "clone", "--quiet", *options, url, str(dest), check=False)
        if not res.ok:
            raise GitError(reason(res))
        return cls.discover(dest)

    @classmethod
    def find(cls, path: Path | str = ".") -> Git | None:
        """Like discover, but None where there is no repository, no git or no GitPython:
        for facts that are recorded when known (provenance, run ids), never required."""
        try:
            return cls.discover(path)
        except GitError:
            return None

    def close(self) -> None:
        """Stop the persistent `git cat-file` this object may have started."""
        self._repo.close()

    def __enter__(self) -> Git:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the command wrapper ------------------------------------------------------------

    def run(self, *args: str, input: str | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> Result:
        """Run `git ARGS` in the top-level folder through GitPython's wrapper (ENV, and `env`
        on top: e.g. the PATH a commit's hooks need).

        A failure raises GitError quoting git's reason unless `check` is false. Ctrl-C (or
        any other exception) kills the child: nothing is left running behind the caller.
        """
        return _call(self._repo.git, args, input=input, check=check, env=env)

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    # -- config -------------------------------------------------------------------------

    def config(self, key: str) -> str | None:
        """A config value as git resolves it (every scope, includes, `-c`), or None.

        All of them are read with one `git config --list` and kept: a run reads several.
        """
        if self._config is None:
            res = self.run("config", "--list", "-z", check=False)
            values: dict[str, str] = {}
            for entry in res.stdout.split("\0"):
                if entry:
                    name, _, value = entry.partition("\n")
                    values[name] = value  # the last one wins, as for `git config --get`
            self._config = values
        return self._config.get(_norm_key(key))

    def set_config(self, key: str, value: str) -> None:
        """`git config KEY VALUE` in this repository."""
        self.run("config", key, value)
        self._config = None

    # -- refs and objects (Repo: files and one persistent cat-file) -----------------------

    def ref(self, name: str) -> str | None:
        """The object a ref points at (a tag ref: the tag object, not peeled), or None."""
        from git.refs.symbolic import SymbolicReference

        try:
            return SymbolicReference.dereference_recursive(self._repo, name)
        except ValueError:
            return None

    def head(self) -> str | None:
        """The commit HEAD points at, or None in a repository with no commit yet."""
        return self.ref("HEAD")

    def branch(self) -> str | None:
        """The checked-out branch's short name, or None when HEAD is detached."""
        head = self._repo.head
        return None if head.is_detached else str(head.reference.name)

    def index_file(self) -> Path:
        """The index file git uses here ($GIT_INDEX_FILE, else the git directory's)."""
        named = os.environ.get("GIT_INDEX_FILE")
        return (self.top / named if named else self.git_dir / "index").resolve()

    def in_progress(self) -> tuple[str, str] | None:
        """The git operation this work tree is in the middle of, as (what, how to end it), or
        None: a merge, rebase, cherry-pick, revert, `git am` or bisect leaves its state
        files in the git directory until it is concluded or aborted."""
        d = self.git_dir
        if (d / "rebase-merge").is_dir() or (d / "rebase-apply" / "rebasing").exists():
            return "a rebase", "git rebase --continue or git rebase --abort"
        if (d / "rebase-apply").is_dir():
            return "a `git am`", "git am --continue or git am --abort"
        for state, what, verb in (("MERGE_HEAD", "a merge", "merge"),
                                  ("CHERRY_PICK_HEAD", "a cherry-pick", "cherry-pick"),
                                  ("REVERT_HEAD", "a revert", "revert")):
            if (d / state).exists():
                end = "git commit" if verb == "merge" else f"git {verb} --continue"
                return what, f"{end}, or git {verb} --abort"
        if (d / "BISECT_LOG").exists():
            return "a bisect", "git bisect reset"
        if (d / "sequencer").is_dir():
            # A cherry-pick or revert of several commits, stopped at a conflict that was
            # resolved and committed: CHERRY_PICK_HEAD is gone, the rest of the list is not,
            # and `--continue` would put the next pick on top of whatever comes next.
            todo = d / "sequencer" / "todo"
            try:
                first = todo.read_text("utf-8", "replace").split(maxsplit=1)[:1]
            except OSError:
                first = []
            verb = "revert" if first == ["revert"] else "cherry-pick"
            return (f"a {verb} of several commits (stopped midway: {d.name}/sequencer)",
                    f"git {verb} --continue, or git {verb} --quit (keep what is done) "
                    f"or --abort")
        return None

    def _object(self, rev: str) -> tuple[str, str, bytes] | None:
        """(object name, type, raw content) of `rev` (any `git cat-file` name), or None."""
        try:
            sha, kind, _size, data = self._repo.git.get_object_data(rev)
        except ValueError:
            return None
        return _text(sha), _text(kind), bytes(data)

    def object_type(self, rev: str) -> str | None:
        found = self._object(rev)
        return found[1] if found else None

    def has_commit(self, oid: str) -> bool:
        return self._object(f"{oid}^{{commit}}") is not None

    def commit_of(self, rev: str) -> str | None:
        """The commit `rev` names, tags peeled, or None."""
        found = self._object(f"{rev}^{{commit}}")
        return found[0] if found else None

    def commit_info(self, rev: str) -> CommitInfo | None:
        """The parents and subject of the commit `rev` names, or None."""
        found = self._object(f"{rev}^{{commit}}")
        if found is None:
            return None
        commit = _gitpython().Commit(self._repo, bytes.fromhex(found[0]))  # GitPython parses it
        return CommitInfo([p.hexsha for p in commit.parents], _first_line(commit.message))

    def tree_of(self, rev: str) -> str | None:
        """The tree object of the commit `rev` names, or None."""
        found = self._object(f"{rev}^{{tree}}")
        return found[0] if found else None

    def changed_paths(self, old: str, new: str) -> list[str]:
        """The files (from the top) that differ between commits `old` and `new`."""
        out = self.run("diff-tree", "-r", "--no-commit-id", "--name-only", "-z", old, new).stdout
        return [p for p in out.split("\0") if p]

    def staged(self, rev: str = "HEAD") -> list[str]:
        """The files (from the top) whose staged content differs from commit `rev`."""
        out = self.run("diff-index", "--cached", "--name-only", "-z", rev, "--").stdout
        return [p for p in out.split("\0") if p]

    def tag_info(self, name: str) -> TagInfo | None:
        """What annotated tag `name` points at and its subject; None for a lightweight tag."""
        found = self._object(f"refs/tags/{name}")
        if found is None or found[1] != "tag":
            return None
        tag = _gitpython().TagObject(self._repo, bytes.fromhex(found[0]))  # GitPython parses it
        return TagInfo(tag.object.hexsha, _first_line(tag.message))

    def tag_body(self, name: str) -> str:
        """The raw tag object of annotated tag `name` (headers, message, signature)."""
        found = self._object(f"refs/tags/{name}")
        if found is None or found[1] != "tag":
            raise GitError(f"{name} is not an annotated tag")
        return found[2].decode("utf-8", "replace")

    def show(self, rev: str, path: str) -> bytes:
        """The bytes of `path` (from the top) at `rev` (GitError when it is not there)."""
        found = self._object(f"{rev}:{path}")
        if found is None or found[1] != "blob":
            raise GitError(f"{path} does not exist at {rev}")
        return found[2]

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.run("merge-base", "--is-ancestor", older, newer, check=False).ok

    def describe(self, *args: str) -> str | None:
        """`git describe ARGS`, or None when it finds nothing to say."""
        res = self.run("describe", *args, check=False)
        return (res.stdout.strip() or None) if res.ok else None

    def short(self, rev: str = "HEAD") -> str | None:
        """The abbreviated object name git prints for `rev`."""
        res = self.run("rev-parse", "--short", rev, check=False)
        return (res.stdout.strip() or None) if res.ok else None

    def log1(self, rev: str, fmt: str) -> str:
        """`git log -1 --format=FMT REV` (trailers and the like, as git formats them)."""
        return self.run("log", "-1", f"--format={fmt}", rev).stdout.strip("\n")

    # -- the work tree ------------------------------------------------------------------

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

    @contextmanager
    def worktree(self, rev: str, path: Path) -> Iterator[Path]:
        """A detached work tree of `rev` at `path` for the duration (removed after)."""
        self.run("worktree", "add", "--quiet", "--detach", str(path), rev)
        try:
            yield path
        finally:
            self.run("worktree", "remove", "--force", str(path), check=False)

    def is_dirty(self) -> bool:
        """Tracked files differ from HEAD (in the index or the work tree); also True when git
        cannot tell: an unknown tree is never taken for a clean one."""
        res = self.run("status", "--porcelain", "--untracked-files=no", check=False)
        return not res.ok or bool(res.stdout.strip())

    def interpret_trailers(self, *args: str) -> str:
        """`git interpret-trailers ARGS` (the repository's trailer.* config applies)."""
        return self.run("interpret-trailers", *args).stdout

    # -- remotes ------------------------------------------------------------------------

    def upstream(self, branch: str) -> Upstream | None:
        """The configured upstream of `branch` (branch.<name>.remote/merge), if any."""
        remote = self.config(f"branch.{branch}.remote")
        merge = self.config(f"branch.{branch}.merge")
        if not remote or not merge or remote == ".":
            return None
        return Upstream(remote, merge)

    def remote_refs(self, remote: str) -> dict[str, str]:
        """Refs on `remote` (heads and tags; peeled tags as `name^{}`) -> object names."""
        res = self.run("ls-remote", "--heads", "--tags", remote, check=False)
        if not res.ok:
            raise GitError(f"cannot reach remote {remote!r}: {reason(res)}",
                           hint="check `git remote -v` and your network, or release without "
                                "--push from a clone whose remote answers")
        refs: dict[str, str] = {}
        for line in res.stdout.splitlines():
            oid, _, name = line.partition("\t")
            refs[name.strip()] = oid.strip()
        return refs

    def push_atomic(self, remote: str, refspecs: list[str]) -> None:
        """Push all `refspecs` or none (`--atomic`); GitError with the remote's reason."""
        res = self.run("push", "--atomic", "--porcelain", remote, *refspecs, check=False)
        if res.ok:
            return
        # --porcelain: one `!<TAB>src:dst<TAB>[rejected] (why)` line per refused ref on
        # stdout, the remote's own words as `remote: ...` on stderr, then git's summary.
        refused = [" ".join(ln.split("\t")[2:]) for ln in res.stdout.splitlines()
                   if ln.startswith("!") and ln.count("\t") >= 2]
        remote_says = [ln[len("remote:"):].strip() for ln in _lines(res.stderr)
                       if ln.startswith("remote:") and ln[len("remote:"):].strip()]
        why = "; ".join(dict.fromkeys([*refused[:1], *remote_says[-1:]])) or reason(res)
        raise GitError(f"git push to {remote} failed: {why}",
                       hint="fix what the remote says, then release again")

    # -- identity and signing -----------------------------------------------------------

    def identity(self) -> str:
        """The committer identity git will record, or GitError when git has none."""
        res = self.run("var", "GIT_COMMITTER_IDENT", check=False)
        if not res.ok:
            raise GitError("git has no identity to record the release with",
                           hint='set it: git config user.name "Your Name" && '
                                'git config user.email you@example.com')
        return res.stdout.strip()

    def signing_format(self) -> str:
        return self.config("gpg.format") or "openpgp"

    def sign_test(self) -> None:
        """Sign a throwaway commit object, so a missing key fails before anything is written.

        The object is never referenced, so nothing visible changes (git gc drops it).
        """
        head = self.head()
        tree = f"{head}^{{tree}}" if head else self.out("hash-object", "-t", "tree", "/dev/null")
        res = self.run("commit-tree", "-S", "-m", "torchship signing test", tree, check=False)
        if not res.ok:
            fmt = self.signing_format()
            key = self.config("user.signingkey") or "(user.signingkey not set)"
            raise GitError(f"signing does not work ({fmt}, key {key}): {reason(res)}",
                           hint="configure a key (git config user.signingkey ..., and "
                                "gpg.format ssh for SSH keys) or pass --no-sign")

    def verify_tag(self, name: str) -> str:
        """`git verify-tag --raw`: GitError with git's own reason when the signature does not
        verify; else what the verifier said (gpg's status lines, which tag_signer reads)."""
        res = self.run("verify-tag", "--raw", name, check=False)
        if not res.ok:
            res = self.run("tag", "-v", name, check=False)  # gpg's words for a person, not its status lines
        if not res.ok:
            raise GitError(f"tag {name} does not verify: {reason(res)}",
                           hint="for SSH signatures set gpg.ssh.allowedSignersFile; for GPG "
                                "import the signer's public key")
        return res.stdout + res.stderr

    def tag_signer(self, name: str, raw: str | None = None) -> tuple[list[str], str]:
        """Who made tag `name`'s good OpenPGP signature: the fingerprints of the signing
        (sub)key and of its primary key (gpg's VALIDSIG status line), and the key's user id
        (GOODSIG); ([], "") when there is none. `raw`: what verify_tag said (no second gpg)."""
        if raw is None:
            raw = self.run("verify-tag", "--raw", name, check=False).stderr
        fprs: list[str] = []
        uid = ""
        for line in raw.splitlines():
            fields = line.split()
            if fields[:2] == ["[GNUPG:]", "VALIDSIG"] and len(fields) >= 3:
                fprs = list(dict.fromkeys([fields[2], fields[-1]]))
            elif fields[:2] == ["[GNUPG:]", "GOODSIG"] and len(fields) >= 4:
                uid = " ".join(fields[3:])
        return fprs, uid

    # -- mutations ----------------------------------------------------------------------

    def _mutate(self, what: str, *args: str, input: str | None = None) -> None:
        """Run a mutating git command; on failure say what failed and git's (or gpg's) reason."""
        res = self.run(*args, input=input, check=False)
        if not res.ok:
            raise GitError(f"{what}: {reason(res)}",
                           hint="fix that (a git hook, or the signer: gpg.program, "
                                "user.signingkey) and release again")

    def add(self, paths: list[str]) -> None:
        """Stage `paths` (from the top)."""
        self.run("add", "--", *paths)

    def commit(self, message: str, *, sign: bool) -> str:
        """Commit the index with `message` verbatim (hooks run); return the new commit."""
        res = self.run("commit", "-q", "-S" if sign else "--no-gpg-sign",
                       "--cleanup=verbatim", "-F", "-", input=message, check=False)
        if not res.ok:
            why = reason(res)
            if "empty commit message" in why and message.strip():
                # git wrote the message to COMMIT_EDITMSG, could not, and read it back empty.
                import shutil

                free = shutil.disk_usage(self.git_dir).free
                why = (f"the disk is full ({free} bytes free where {self.git_dir} is): git "
                       "could not write the commit message" if free < 1024 * 1024 else
                       f"git could not write the commit message to {self.git_dir.name}/"
                       "COMMIT_EDITMSG (it read it back empty)")
            raise GitError(f"git commit failed: {why}",
                           hint="fix that (a git hook, or the signer: gpg.program, "
                                "user.signingkey) and release again")
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
