"""A newer template into a project: `torchship update [--to VERSION|REF] [--dry-run] [--template DIR|URL]`.

A three-way merge done with git, as cruft does it, not copier: the template is a runnable,
tested project at its repository's root, and copier's templating (Jinja in file and folder
names, `{{ }}` in files) would stop it from being one. Instead both template versions are
rendered exactly as `torchship new` renders them (the same `plan()`: the example package
renamed to the project's), and what changed between the two renders is merged into the project
file by file:

- base: the template at the commit recorded in ANSWERS, rendered;
- theirs: the template at the target (`--to`, else its default branch), rendered;
- ours: the project's file, as committed.

Each changed path becomes one Step (plan, then apply): the template's new file where the
project kept the old one, `git merge-file` where both changed it, a conflict (git's markers,
and the three versions as unmerged index entries, as `git merge` leaves them) where both
changed the same lines. A file the project deleted stays deleted; README.md, CHANGELOG.md and
ANSWERS are the project's and are never merged. Clean results are staged, nothing is
committed: the user reviews (`git diff --cached`), resolves, commits. ANSWERS records the new
version when the merge is done, with conflicts too (as cruft does), so that a second update
starts from the new version rather than merging the same change twice.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any

from torchship import config as configmod
from torchship.adapters.git import Git, GitError
from torchship.cli import Parser, guarded
from torchship.errors import ConfigError, TorchshipError
from torchship.workflow import template as templatemod

# Written for the project by `torchship new`: the project's own, never merged.
PROJECTS_OWN = frozenset(PurePosixPath(p) for p in (templatemod.README, templatemod.CHANGELOG_FILE,
                                                    templatemod.ANSWERS))
ADOPT = (f"to adopt the template, write {templatemod.ANSWERS} with [template] source (the "
         "template's folder or URL), version and commit (the template commit the project "
         "started from) and [answers] name (the package), commit it, then update: see "
         "torchship's docs/workflow.md")


class UpdateError(TorchshipError):
    """The project cannot be updated as asked; nothing was changed."""


# --- what the project records ------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """ANSWERS: where the project came from."""

    source: str
    version: str
    commit: str
    name: str
    dirty: bool = False      # made from uncommitted template changes: the base is the commit


def read_record(root: Path) -> Record:
    path = root / templatemod.ANSWERS
    if not path.is_file():
        raise UpdateError(f"{root} records no template version (no {templatemod.ANSWERS})",
                          hint=ADOPT)
    try:
        data = configmod.parse_toml(path.read_text(encoding="utf-8"), where=str(path))
    except (ConfigError, UnicodeDecodeError) as exc:
        raise UpdateError(f"{path} is not valid TOML: {exc}", hint=ADOPT) from exc
    template, answers = data.get("template", {}), data.get("answers", {})
    missing = [key for key, table in (("template.source", template), ("template.commit", template),
                                      ("answers.name", answers))
               if not isinstance(table.get(key.split(".")[1]), str)]
    if missing:
        raise UpdateError(f"{path} lacks {', '.join(missing)}", hint=ADOPT)
    return Record(template["source"], str(template.get("version", "?")), template["commit"],
                  answers["name"], bool(template.get("dirty", False)))


def tool_pin(pyproject: Mapping[str, Any]) -> str | None:
    """The torchship requirement's specifier in a pyproject's extras (e.g. `~=0.2`), if any."""
    from torchship.images.requirements import normalize, requirement

    for extra in pyproject.get("project", {}).get("optional-dependencies", {}).values():
        for text in extra:
            req = requirement(text)
            if req is not None and normalize(req.name) == templatemod.TOOL:
                return str(req.specifier)
    return None


def pin_major(spec: str | None) -> int | None:
    """The major version a `~=X.Y` (or `==X.Y.Z`, `>=X.Y`) pin allows, None for no pin."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    if not spec:
        return None
    for item in SpecifierSet(spec):
        if item.operator in ("~=", "==", ">=", "==="):
            try:
                return Version(item.version.rstrip(".*")).major
            except InvalidVersion:
                return None
    return None


def render_version(pyproject: Mapping[str, Any]) -> str:
    """The tool version a render pins (`torchship~=X.Y`): the template's own pin, so that a
    template that raises it within a major brings the raise; else the running tool's."""
    from torchship import __version__

    spec = tool_pin(pyproject) or ""
    if spec.startswith("~=") and "," not in spec:
        return spec[2:]
    return __version__


# --- the template's versions -------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    ref: str        # what names it: a tag, a branch, a commit
    commit: str


class Source:
    """A full clone of the template (a folder or a URL), for the duration of an update; each
    version it renders is a worktree of its own."""

    def __init__(self, clone: Git, where: str, scratch: Path) -> None:
        self.git, self.where, self.scratch = clone, where, scratch
        self._checkouts = 0

    def tag_prefix(self) -> str:
        """The template's release tag prefix ([tool.torchship.release], at its HEAD)."""
        try:
            data = configmod.parse_toml(self.git.show("HEAD", "pyproject.toml").decode("utf-8"),
                                        where="pyproject.toml")
        except (GitError, ConfigError, UnicodeDecodeError):
            return configmod.Release.tag_prefix
        release = data.get("tool", {}).get("torchship", {}).get("release", {})
        return str(release.get("tag_prefix", configmod.Release.tag_prefix))

    def resolve(self, to: str | None, *, tag_prefix: str) -> Target:
        """`to` as the template's tag `<prefix>VERSION`, `vVERSION` or any ref; None: HEAD."""
        if to is None:  # the default branch, named by its tag when it is a release
            head = self.git.head()
            assert head is not None  # a clone has a HEAD
            tag = self.git.describe("--tags", "--exact-match", head)
            return Target(tag or self.git.branch() or "HEAD", head)
        for ref in dict.fromkeys([f"refs/tags/{tag_prefix}{to}", f"refs/tags/v{to}",
                                  f"refs/tags/{to}", f"refs/remotes/origin/{to}", to]):
            commit = self.git.commit_of(ref)
            if commit is not None:
                return Target(ref.removeprefix("refs/tags/").removeprefix("refs/remotes/"),
                              commit)
        tags = self.git.out("tag", "--list", "--sort=-version:refname", f"{tag_prefix}*").split()
        raise UpdateError(f"the template at {self.where} has no version or ref {to!r}",
                          hint="its versions: " + (", ".join(tags[:8]) if tags else "no tags")
                          + "; --to takes a version, a tag, a branch or a commit")

    @contextmanager
    def checkout(self, commit: str) -> Iterator[templatemod.Template]:
        """The template at `commit`, as `torchship new` reads one."""
        self._checkouts += 1
        path = self.scratch / f"render-{self._checkouts}-{commit[:12]}"
        with self.git.worktree(commit, path):
            yield templatemod.load_template(path, source=self.where)


@contextmanager
def cloned(where: str) -> Iterator[Source]:
    """A full clone of the template at `where` (the recorded commit may be any old one)."""
    with tempfile.TemporaryDirectory(prefix="torchship-update-") as tmp:
        clone = Path(tmp) / "template"
        local = Path(where).expanduser()
        url = str(local.resolve()) if local.is_dir() else where
        try:
            git = Git.clone(url, clone, "--no-checkout")
        except GitError as exc:
            raise UpdateError(f"cannot get the template {where!r}: {exc.message}",
                              hint="pass --template DIR|URL where it is now") from exc
        with git:
            yield Source(git, url, Path(tmp))  # a folder recorded by its absolute path


# --- the merge, one step per path ---------------------------------------------------------

class Kind(Enum):
    ADD = "add"             # new in the template, absent here
    UPDATE = "update"       # the project had the old version: the template's new one
    MERGE = "merge"         # both changed it, different lines: merged
    REMOVE = "remove"       # the template removed it, the project had the old version
    MODE = "mode"           # only the file mode changed
    CONFLICT = "conflict"   # both changed the same lines (or cannot be merged): markers
    KEPT_DELETED = "kept deleted"  # the project deleted it: the template's change is left out


# What each kind says, in a run and in a dry run.
_DONE = {Kind.ADD: "added", Kind.UPDATE: "updated", Kind.MERGE: "merged", Kind.REMOVE: "removed",
         Kind.MODE: "mode", Kind.CONFLICT: "CONFLICT", Kind.KEPT_DELETED: "skipped"}
_WOULD = {Kind.ADD: "would add", Kind.UPDATE: "would update", Kind.MERGE: "would merge",
          Kind.REMOVE: "would remove", Kind.MODE: "would chmod", Kind.CONFLICT: "CONFLICT",
          Kind.KEPT_DELETED: "would skip"}


@dataclass(frozen=True)
class Version:
    """One side of the merge: a file's bytes and mode (None: absent)."""

    data: bytes | None
    mode: int | None = None


@dataclass(frozen=True)
class Step:
    """One path of the update: what the project's file becomes and why."""

    path: PurePosixPath
    kind: Kind
    result: Version          # the work tree's file afterwards (data None: no file)
    base: Version
    ours: Version
    theirs: Version
    note: str = ""

    def describe(self, *, dry_run: bool) -> str:
        verb = (_WOULD if dry_run else _DONE)[self.kind]
        return f"  {verb:<13} {self.path}" + (f"  ({self.note})" if self.note else "")

    def write(self, root: Path) -> None:
        """The work tree's side of the step."""
        target = root / self.path
        if self.kind is Kind.KEPT_DELETED:
            return
        if self.result.data is None:
            if target.is_file() or target.is_symlink():
                target.unlink()
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.ours.data != self.result.data:
            target.write_bytes(self.result.data)
        if self.result.mode is not None:
            target.chmod(self.result.mode)


def _text(data: bytes | None) -> bool:
    if data is None:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in data


def merge_file(git: Git, scratch: Path, ours: bytes, base: bytes, theirs: bytes, *,
               labels: tuple[str, str, str]) -> tuple[bytes, int]:
    """`git merge-file -p`: the merged text and how many conflicts it has."""
    files = []
    for side, data in zip(("ours", "base", "theirs"), (ours, base, theirs), strict=True):
        path = scratch / f"merge-{side}"
        path.write_bytes(data)
        files.append(str(path))
    res = git.run("merge-file", "-p", "-L", labels[0], "-L", labels[1], "-L", labels[2],
                  *files, check=False)
    if res.status < 0 or res.status >= 128:
        raise GitError(f"git merge-file failed: {res.stderr.strip()}")
    return res.stdout.encode("utf-8"), res.status


def _mode_after(ours: Version, base: Version, theirs: Version) -> int | None:
    """The template's new mode where the project kept the old one; else the project's."""
    if ours.mode is not None and ours.mode == base.mode and theirs.mode is not None:
        return theirs.mode
    return ours.mode if ours.mode is not None else theirs.mode


def step_for(path: PurePosixPath, base: Version, ours: Version, theirs: Version, *,
             merge: Any) -> Step | None:
    """The step one path needs; None when there is nothing to do. `merge(ours, base, theirs)`
    returns (merged bytes, conflicts)."""
    def make(kind: Kind, result: Version, note: str = "") -> Step:
        return Step(path, kind, result, base, ours, theirs, note)

    if ours.data == theirs.data:
        if ours.data is None or ours.mode == theirs.mode or ours.mode != base.mode:
            return None  # already as the template has it (or a mode the project chose)
        return make(Kind.MODE, Version(ours.data, theirs.mode))
    if ours.data is None:
        if base.data is None:
            return make(Kind.ADD, theirs)
        return make(Kind.KEPT_DELETED, ours, "deleted here; the template changed it"
                    if theirs.data is not None else "deleted here and in the template")
    if theirs.data is None:
        if ours.data == base.data:
            return make(Kind.REMOVE, theirs)
        return make(Kind.CONFLICT, ours, "the template removed it, it changed here: kept")
    mode = _mode_after(ours, base, theirs)
    if ours.data == base.data:
        return make(Kind.UPDATE, Version(theirs.data, mode))
    if not (_text(ours.data) and _text(base.data) and _text(theirs.data)):
        return make(Kind.CONFLICT, ours, "binary, changed here and in the template: kept "
                                         "yours; `git checkout --theirs` takes the template's")
    merged, conflicts = merge(ours.data, base.data or b"", theirs.data)
    if conflicts:
        what = "added here and in the template" if base.data is None else "both changed"
        return make(Kind.CONFLICT, Version(merged, mode),
                    f"{what}: {conflicts} conflict{'s' if conflicts > 1 else ''} marked")
    return make(Kind.MERGE, Version(merged, mode))


def git_mode(mode: int | None) -> int | None:
    """A file mode as git records it: executable (0o755) or not (0o644)."""
    return None if mode is None else 0o755 if mode & 0o111 else 0o644


def project_file(root: Path, rel: PurePosixPath) -> Version:
    path = root / rel
    if path.is_symlink() or not path.is_file():
        return Version(None)
    return Version(path.read_bytes(), git_mode(path.stat().st_mode))


def steps(old: templatemod.Plan, new: templatemod.Plan, root: Path, *,
          merge: Any) -> list[Step]:
    """Every path the two renders differ in, as steps against the project at `root`."""
    out = []
    for rel in sorted(set(old.files) | set(new.files)):
        if rel in PROJECTS_OWN:
            continue
        base = Version(old.files.get(rel), git_mode(old.modes.get(rel)))
        theirs = Version(new.files.get(rel), git_mode(new.modes.get(rel)))
        if base == theirs:
            continue
        step = step_for(rel, base, project_file(root, rel), theirs, merge=merge)
        if step is not None:
            out.append(step)
    return out


# --- plan, apply --------------------------------------------------------------------------

@dataclass(frozen=True)
class Update:
    """What an update does: from which template version to which, and every step."""

    root: Path
    name: str
    old: templatemod.Template
    new: templatemod.Template
    target: Target
    steps: tuple[Step, ...]
    answers: str             # ANSWERS afterwards
    dirty_base: bool = False  # the project was made from uncommitted template changes

    @property
    def conflicts(self) -> list[Step]:
        return [s for s in self.steps if s.kind is Kind.CONFLICT]

    def header(self) -> str:
        return (f"update {self.name}: template version {self.old.version} "
                f"({self.old.commit[:12]}) -> version {self.new.version} "
                f"({self.target.ref}, {self.new.commit[:12]}) from {self.new.source}")

    def render(self, *, dry_run: bool) -> str:
        lines = [self.header()]
        if self.dirty_base:
            lines.append(f"  (the project was made from uncommitted changes of the template: "
                         f"the merge's base is its commit {self.old.commit[:12]})")
        lines += [s.describe(dry_run=dry_run) for s in self.steps] or ["  no file changes"]
        conflicts = self.conflicts
        changes = [s for s in self.steps if s.kind is not Kind.KEPT_DELETED]
        if dry_run:
            lines.append(f"dry run: nothing changed ({_count(len(changes), 'file')} would "
                         f"change, {_count(len(conflicts), 'conflict')})")
            return "\n".join(lines)
        lines.append(f"recorded version {self.new.version} ({self.new.commit[:12]}) in "
                     f"{templatemod.ANSWERS}; nothing committed")
        if conflicts:
            lines.append(f"{_count(len(conflicts), 'conflict')}: "
                         + ", ".join(str(s.path) for s in conflicts)
                         + " (resolve the markers, `git add` them, then commit)")
        else:
            lines.append("review with `git diff --cached`, then commit")
        return "\n".join(lines)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def check_clean(git: Git, root: Path) -> None:
    if git.top != root:
        raise UpdateError(f"{root} is not the top of its git repository ({git.top} is)",
                          hint="run `torchship update` at the project's top folder")
    if git.head() is None:
        raise UpdateError(f"{root} has no commit yet", hint="commit the project first")
    changed = [c.path for c in git.status() if not c.untracked]
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise UpdateError(f"the work tree has uncommitted changes: {', '.join(changed[:3])}{more}",
                          hint="commit or stash them first: an update merges into what is "
                               "committed")


def check_tool(project: Mapping[str, Any], template: Mapping[str, Any], target: str) -> None:
    ours, theirs = tool_pin(project), tool_pin(template)
    a, b = pin_major(ours), pin_major(theirs)
    if a is not None and b is not None and a != b:
        raise UpdateError(f"the template at {target} pins torchship{theirs}, this project "
                          f"torchship{ours}: another major version of the tool",
                          hint=f"raise the project's pin to torchship{theirs}, following the "
                               "tool's CHANGELOG, and commit it first; or --to the last "
                               f"template version for torchship {a}.x")


def check_writable(git: Git, root: Path, found: list[Step]) -> None:
    """Where the update writes, only files git tracks may be: an untracked or ignored file, a
    folder or a link there is the user's, and is never touched."""
    tracked = set(git.out("ls-files", "-z").split("\0"))
    hit = []
    for step in found:
        if step.kind is Kind.KEPT_DELETED:
            continue
        target = root / step.path
        parents = [root / p for p in step.path.parents if str(p) != "."]
        if (target.is_symlink() or (target.exists() and not target.is_file())
                or (target.exists() and str(step.path) not in tracked)
                or any(p.is_symlink() or (p.exists() and not p.is_dir()) for p in parents)):
            hit.append(str(step.path))
    if hit:
        raise UpdateError(f"the update would write where git tracks no file: {', '.join(hit)}",
                          hint="an untracked or ignored file, a folder or a link is there: move "
                               "it or commit it first")


def plan_update(root: Path, source: Source, git: Git, record: Record, target: Target,
                *, scratch: Path) -> Update:
    """Render both versions, check the tool's major, and work out every step."""
    with source.checkout(record.commit) as old_t, source.checkout(target.commit) as new_t:
        template_py = configmod.Pyproject.read(new_t.root).data
        check_tool(configmod.Pyproject.read(root).data, template_py, target.ref)
        old_py = configmod.Pyproject.read(old_t.root).data
        # Both rendered with the project's own tool source, so that its choice is no change.
        mine = configmod.load(root, use_local=False).tool_source
        old = templatemod.plan(old_t, record.name, tool_version=render_version(old_py),
                               tool_source=mine, strict=False)
        new = templatemod.plan(new_t, record.name, tool_version=render_version(template_py),
                               tool_source=mine)

    def merge(ours: bytes, base: bytes, theirs: bytes) -> tuple[bytes, int]:
        return merge_file(git, scratch, ours, base, theirs, labels=(
            "yours", f"template {old_t.version} ({old_t.commit[:12]})",
            f"template {new_t.version} ({new_t.commit[:12]})"))

    found = steps(old, new, root, merge=merge)
    check_writable(git, root, found)
    from torchship import __version__

    made = templatemod.answers(new_t, name=record.name, tool_version=__version__)
    return Update(root, record.name, old_t, new_t, target, tuple(found), made, record.dirty)


def _hash(git: Git, scratch: Path, data: bytes) -> str:
    path = scratch / "blob"
    path.write_bytes(data)
    return git.out("hash-object", "-w", "--no-filters", str(path))


def apply(update: Update, git: Git, *, scratch: Path) -> None:
    """Write every step, stage the clean ones, leave the conflicts unmerged in the index (the
    three versions as stages 1-3, as `git merge` does), and record the new version."""
    for step in update.steps:
        step.write(update.root)
    clean = [str(s.path) for s in update.steps
             if s.kind not in (Kind.CONFLICT, Kind.KEPT_DELETED)]
    (update.root / templatemod.ANSWERS).write_text(update.answers, encoding="utf-8")
    # --force: a file the template tracks is the project's too, even where its .gitignore says
    # otherwise (check_writable refused any such file already there).
    git.run("add", "--all", "--force", "--", templatemod.ANSWERS, *clean)
    entries = []
    for step in update.conflicts:
        entries.append(f"0 {'0' * 40}\t{step.path}")
        for stage, side in ((1, step.base), (2, step.ours), (3, step.theirs)):
            if side.data is not None:
                mode = "100755" if (side.mode or 0) & 0o111 else "100644"
                entries.append(f"{mode} {_hash(git, scratch, side.data)} {stage}\t{step.path}")
    if entries:
        git.run("update-index", "--index-info", input="\n".join(entries) + "\n")


def verify(update: Update, git: Git) -> None:
    """Check the state again: every conflict unmerged, and nothing else."""
    unmerged = {c.path for c in git.status() if c.code in ("UU", "AA", "UD", "DU", "AU", "UA")}
    expected = {str(s.path) for s in update.conflicts}
    if unmerged != expected:
        raise UpdateError(f"after the merge git lists {sorted(unmerged)} as conflicts, "
                          f"expected {sorted(expected)}", hint="see `git status`")


def update(root: Path, *, to: str | None = None, template: str | None = None,
           dry_run: bool = False) -> Update:
    """Update the project at `root` to the template at `to`; with `dry_run`, only plan."""
    root = root.resolve()
    with Git.discover(root) as git:
        check_clean(git, root)
        record = read_record(root)
        where = template or record.source
        with cloned(where) as source:
            if not source.git.has_commit(record.commit):
                raise UpdateError(f"the template at {where} has no commit {record.commit[:12]} "
                                  f"(recorded in {templatemod.ANSWERS})",
                                  hint="pass --template DIR|URL of the template it came from")
            target = source.resolve(to, tag_prefix=source.tag_prefix())
            made = plan_update(root, source, git, record, target, scratch=source.scratch)
            if not dry_run and made.target.commit != record.commit:
                apply(made, git, scratch=source.scratch)
                verify(made, git)
        return made


# --- the command line ----------------------------------------------------------------------

def main(argv: Sequence[str] | None = None, *, root: Path | None = None) -> int:
    """`torchship update [--to VERSION|REF] [--dry-run] [--template DIR|URL]`."""
    parser = Parser(prog="torchship update",
                     description="Merge what the template changed since the project's recorded "
                                 "version into the project (three-way, with git); the "
                                 "project's own changes are kept, conflicts marked.")
    parser.add_argument("--to", metavar="VERSION|REF",
                        help="the template version (its tag) or any ref (default: the "
                             "template's default branch)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would change and conflict; change nothing")
    # No $TORCHSHIP_TEMPLATE default here (`new` has one): the project records where it came
    # from, and a variable set for `new` must not silently merge another template.
    parser.add_argument("--template", metavar="DIR|URL",
                        help=f"where the template is now (default: the source recorded in "
                             f"{templatemod.ANSWERS})")
    args = parser.parse_args(argv)

    def body() -> int:
        made = update(root or Path.cwd(), to=args.to, template=args.template,
                      dry_run=args.dry_run)
        if made.target.commit == made.old.commit:
            print(f"{made.name} is at the template's version {made.old.version} "
                  f"({made.old.commit[:12]}) already: nothing to do")
            return 0
        print(made.render(dry_run=args.dry_run))
        return 1 if made.conflicts and not args.dry_run else 0

    return guarded(body)
