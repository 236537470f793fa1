"""A newer template into a project: `torchship update [--to VERSION|REF] [--allow-downgrade]
[--dry-run] [--template DIR|URL]`.

A three-way merge done by git, as cruft does it, not copier: the template is a runnable,
tested project at its repository's root, and copier's templating (Jinja in file and folder
names, `{{ }}` in files) would stop it from being one. Instead both template versions are
rendered exactly as `torchship new` renders them (the same `plan()`: the example package
renamed to the project's), written as git trees into the project's object store, and merged
by `git merge-tree --write-tree` (merge-ort, what `git merge` runs):

- base: the template at the commit recorded in ANSWERS, rendered;
- theirs: the template at the target (`--to`, else its newest release tag), rendered;
- ours: the project's HEAD.

So renames are found as git finds them, on both sides: the template's change lands in a file
the project renamed, a folder the project moved gets the template's changes and new files, a
file the template renamed moves with the project's edits; what git cannot place (both sides
renamed it, one deleted what the other changed) is a listed conflict with every path, as
`git merge` leaves it (the sides as unmerged index entries), never a silent skip. README.md,
CHANGELOG.md, ANSWERS and the paths of `[tool.torchship.update] skip` are the project's: the
merge sees no template change there. Nothing is committed and no ref moves (the merge's
commits are scratch objects): the user reviews (`git diff --cached`), resolves, commits.
ANSWERS records the new version when the merge is done, with conflicts too (as cruft does),
so that a second update starts from the new version rather than merging the same change
twice.
"""

from __future__ import annotations

import fnmatch
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any

from torchship import config as configmod
from torchship import project as projectmod
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
    ref: str                    # what names it: a tag, a branch, a commit
    commit: str
    version: str | None = None  # the release it is (a tag of the prefix); None: untagged

    def label(self) -> str:
        """`0.2.0 (abc…)` for a release; `commit abc… (main, untagged)` for anything else."""
        if self.version is not None:
            return f"{self.version} ({self.commit[:12]})"
        return f"commit {self.commit[:12]} ({self.ref}, untagged)"

    def describe(self) -> str:
        if self.version is not None:
            return f"version {self.version} ({self.ref}, {self.commit[:12]})"
        return self.label()


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

    def releases(self, tag_prefix: str, *merged: str) -> list[tuple[str, str]]:
        """(tag, version) of every release tag (with `merged`: of those in the default
        branch's history), newest first; a tag that is no version is no release."""
        from packaging.version import InvalidVersion
        from packaging.version import Version as Release

        found = []
        for tag in self.git.out("tag", "--list", *merged, f"{tag_prefix}*").split():
            try:
                found.append((Release(tag.removeprefix(tag_prefix)), tag))
            except InvalidVersion:
                continue
        return [(tag, str(version)) for version, tag in sorted(found, reverse=True)]

    def _version_of(self, commit: str, tag_prefix: str) -> str | None:
        for tag, version in self.releases(tag_prefix):
            if self.git.commit_of(f"refs/tags/{tag}") == commit:
                return version
        return None

    def resolve(self, to: str | None, *, tag_prefix: str) -> Target:
        """`to` as the template's tag `<prefix>VERSION`, `vVERSION` or any ref; None: its
        newest release (its default branch, named as a commit, when it has none)."""
        if to is None:
            releases = self.releases(tag_prefix, "--merged", "HEAD")
            if releases:
                tag, version = releases[0]
                commit = self.git.commit_of(f"refs/tags/{tag}")
                assert commit is not None  # a listed tag names a commit
                return Target(tag, commit, version)
            head = self.git.head()
            assert head is not None  # a clone has a HEAD
            return Target(self.git.branch() or "HEAD", head)
        for ref in dict.fromkeys([f"refs/tags/{tag_prefix}{to}", f"refs/tags/v{to}",
                                  f"refs/tags/{to}", f"refs/remotes/origin/{to}", to]):
            commit = self.git.commit_of(ref)
            if commit is not None:
                return Target(ref.removeprefix("refs/tags/").removeprefix("refs/remotes/"),
                              commit, self._version_of(commit, tag_prefix))
        tags = [tag for tag, _ in self.releases(tag_prefix)]
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


# --- the merge: git's own, with rename detection -------------------------------------------

class Kind(Enum):
    ADD = "add"             # new in the template, absent here
    UPDATE = "update"       # the project had the old version: the template's new one
    MERGE = "merge"         # both changed it (or the project renamed it): merged
    RENAME = "rename"       # the template renamed it: moved, with the project's edits
    REMOVE = "remove"       # the template removed it, the project had the old version
    MODE = "mode"           # only the file mode changed
    CONFLICT = "conflict"   # git could not merge it: markers, or both paths of a rename


# What each kind says, in a run and in a dry run.
_DONE = {Kind.ADD: "added", Kind.UPDATE: "updated", Kind.MERGE: "merged", Kind.RENAME: "renamed",
         Kind.REMOVE: "removed", Kind.MODE: "mode", Kind.CONFLICT: "CONFLICT"}
_WOULD = {Kind.ADD: "would add", Kind.UPDATE: "would update", Kind.MERGE: "would merge",
          Kind.RENAME: "would rename", Kind.REMOVE: "would remove", Kind.MODE: "would chmod",
          Kind.CONFLICT: "CONFLICT"}

# Each merge's commits are made with one fixed identity and date: they are scratch objects
# (never on a branch), and the same merge makes the same objects.
_SCRATCH_COMMIT = {"GIT_AUTHOR_NAME": "torchship update", "GIT_AUTHOR_EMAIL": "update@torchship",
                   "GIT_COMMITTER_NAME": "torchship update",
                   "GIT_COMMITTER_EMAIL": "update@torchship",
                   "GIT_AUTHOR_DATE": "@0 +0000", "GIT_COMMITTER_DATE": "@0 +0000"}
# merge-ort's directory rename detection moves a file the template adds into a folder the
# project renamed (its default, "conflict", would mark every such file as a conflict).
_MERGE_CONFIG = {"GIT_CONFIG_COUNT": "2",
                 "GIT_CONFIG_KEY_0": "merge.directoryRenames", "GIT_CONFIG_VALUE_0": "true",
                 "GIT_CONFIG_KEY_1": "merge.renames", "GIT_CONFIG_VALUE_1": "true"}
_MARKER = re.compile(rb"^(<{7}|>{7}|\|{7}) ([0-9a-f]{40})(?=[:\n]|$)", re.MULTILINE)


@dataclass(frozen=True)
class Version:
    """A file's bytes and mode (data None: absent)."""

    data: bytes | None
    mode: int | None = None


@dataclass(frozen=True)
class Stage:
    """One side of a conflict, as `git merge` leaves it in the index (1 base, 2 ours, 3
    theirs)."""

    stage: int
    mode: str
    oid: str


@dataclass(frozen=True)
class Step:
    """One path of the update: what the project's file becomes and why."""

    path: PurePosixPath
    kind: Kind
    result: Version                          # the work tree's file afterwards (None: no file)
    source: PurePosixPath | None = None      # a rename's old path (removed)
    stages: tuple[Stage, ...] = ()           # a conflict's sides, for the index
    note: str = ""

    def describe(self, *, dry_run: bool) -> str:
        verb = (_WOULD if dry_run else _DONE)[self.kind]
        where = f"{self.source} -> {self.path}" if self.source else str(self.path)
        return f"  {verb:<13} {where}" + (f"  ({self.note})" if self.note else "")

    def write(self, root: Path) -> None:
        """The work tree's side of the step."""
        if self.source is not None:
            (root / self.source).unlink(missing_ok=True)
        target = root / self.path
        if self.result.data is None:
            if target.is_file() or target.is_symlink():
                target.unlink()
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != self.result.data:
            target.write_bytes(self.result.data)
        if self.result.mode is not None:
            target.chmod(self.result.mode)


def git_mode(mode: int | None) -> int | None:
    """A file mode as git records it: executable (0o755) or not (0o644)."""
    return None if mode is None else 0o755 if mode & 0o111 else 0o644


def owned(rel: PurePosixPath, skip: Sequence[str]) -> bool:
    """The project's own path: README, CHANGELOG, ANSWERS, or one its `skip` list names (a
    path, a folder, or a glob)."""
    if rel in PROJECTS_OWN:
        return True
    text = rel.as_posix()
    return any(fnmatch.fnmatchcase(text, pattern) or text.startswith(pattern.rstrip("/") + "/")
               for pattern in skip)


def theirs_files(old: templatemod.Plan, new: templatemod.Plan,
                 skip: Sequence[str]) -> tuple[dict[PurePosixPath, bytes], dict[PurePosixPath, int]]:
    """The new render, with the project's own paths as the old render had them: the merge
    sees no template change there, and keeps the project's file whatever it is."""
    files = {rel: data for rel, data in new.files.items() if not owned(rel, skip)}
    modes = {rel: mode for rel, mode in new.modes.items() if rel in files}
    for rel, data in old.files.items():
        if owned(rel, skip):
            files[rel] = data
            if rel in old.modes:
                modes[rel] = old.modes[rel]
    return files, modes


def write_tree(git: Git, scratch: Path, files: Mapping[PurePosixPath, bytes],
               modes: Mapping[PurePosixPath, int], *, name: str) -> str:
    """A git tree of `files` in the project's object store (a scratch index; nothing else of
    the repository is touched)."""
    folder = scratch / f"tree-{name}"
    order = sorted(files)
    for i, rel in enumerate(order):
        (folder / str(i)).parent.mkdir(parents=True, exist_ok=True)
        (folder / str(i)).write_bytes(files[rel])
    oids = git.run("hash-object", "-w", "--no-filters", "--stdin-paths",
                   input="".join(f"{folder / str(i)}\n" for i in range(len(order)))
                   ).stdout.split() if order else []
    env = {"GIT_INDEX_FILE": str(scratch / f"index-{name}")}
    info = "".join(f"{'100755' if (git_mode(modes.get(rel)) or 0) & 0o111 else '100644'} "
                   f"{oid}\t{rel.as_posix()}\0" for rel, oid in zip(order, oids, strict=True))
    git.run("update-index", "-z", "--add", "--index-info", input=info, env=env)
    return git.run("write-tree", env=env).stdout.strip()


def _commit(git: Git, tree: str, *parents: str) -> str:
    args = [x for p in parents for x in ("-p", p)]
    return git.run("commit-tree", "--no-gpg-sign", tree, *args, "-m", "torchship update",
                   env=_SCRATCH_COMMIT).stdout.strip()


@dataclass(frozen=True)
class Merged:
    """`git merge-tree --write-tree` of the project (ours) and the new render (theirs) on the
    old render (their base): the result tree, the unmerged entries, git's messages."""

    base: str                  # commits
    ours: str
    theirs: str
    tree: str
    unmerged: dict[str, list[Stage]]
    messages: list[tuple[list[str], str, str]]   # (paths, type, text)


def merge_trees(git: Git, base_tree: str, theirs_tree: str) -> Merged:
    """git's three-way merge of HEAD and the new render, as `git merge` does it (merge-ort:
    renames and moved folders found by content on both sides), without touching the work
    tree, the index or any ref."""
    base = _commit(git, base_tree)
    ours = _commit(git, git.out("rev-parse", "HEAD^{tree}"), base)
    theirs = _commit(git, theirs_tree, base)
    res = git.run("merge-tree", "--write-tree", "-z", ours, theirs, check=False, env=_MERGE_CONFIG)
    if res.status not in (0, 1):
        raise UpdateError(f"git merge-tree failed: {res.stderr.strip() or res.stdout.strip()}",
                          hint="torchship update needs git 2.38 or newer")
    head, _, rest = res.stdout.partition("\0\0") if res.status else (res.stdout, "", "")
    fields = head.split("\0")
    tree = fields[0]
    unmerged: dict[str, list[Stage]] = {}
    for entry in fields[1:]:
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, oid, stage = meta.split()
        unmerged.setdefault(path, []).append(Stage(int(stage), mode, oid))
    messages = []
    items = rest.split("\0") if rest else []
    i = 0
    while i < len(items) and items[i]:
        count = int(items[i])
        paths = items[i + 1:i + 1 + count]
        kind, text = items[i + 1 + count], items[i + 2 + count]
        messages.append((paths, kind, text.strip()))
        i += 3 + count
    return Merged(base, ours, theirs, tree.strip(), unmerged, messages)


def _renames(git: Git, old: str, new: str) -> dict[str, str]:
    """new path -> old path of every rename git finds from tree-ish `old` to `new`."""
    out = git.run("diff-tree", "-r", "-z", "-M", "--diff-filter=R", old, new).stdout.split("\0")
    found, i = {}, 0
    while i + 2 < len(out):
        if out[i].startswith(":"):
            found[out[i + 2]] = out[i + 1]
            i += 3
        else:
            i += 1
    return found


def _tree_files(git: Git, tree: str) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob) of every file of `tree`."""
    found = {}
    for entry in git.run("ls-tree", "-r", "-z", tree).stdout.split("\0"):
        if entry:
            meta, path = entry.split("\t", 1)
            mode, _kind, oid = meta.split()
            found[path] = (mode, oid)
    return found


def steps(git: Git, merged: Merged, labels: Mapping[str, str]) -> list[Step]:
    """What the merge changes in the project, path by path: git's result tree against HEAD,
    its unmerged paths as conflicts (noted with git's own message), renames named."""
    ours, result = _tree_files(git, merged.ours), _tree_files(git, merged.tree)
    base = _tree_files(git, merged.base)
    template_renames = _renames(git, merged.base, merged.theirs)
    our_renames = _renames(git, merged.base, merged.ours)

    def name(text: str) -> str:
        for oid, label in labels.items():
            text = text.replace(oid, label)
        return text

    def data(path: str) -> bytes:
        raw = git.show(merged.tree, path)
        return _MARKER.sub(lambda m: m.group(1) + b" " + labels.get(
            m.group(2).decode(), m.group(2).decode()).encode(), raw)

    def version(path: str) -> Version:
        if path not in result:
            return Version(None)
        return Version(data(path), 0o755 if result[path][0] == "100755" else 0o644)

    notes: dict[str, list[str]] = {}
    for paths, kind, text in merged.messages:
        if kind.startswith("CONFLICT"):
            for path in paths:
                notes.setdefault(path, []).append(name(text))
    out, consumed = [], set()
    for path in sorted(merged.unmerged):
        stages = tuple(sorted(merged.unmerged[path], key=lambda s: s.stage))
        result_v = version(path)
        markers = result_v.data.count(b"\n<<<<<<< ") + result_v.data.startswith(b"<<<<<<< ") \
            if result_v.data else 0
        sides = {s.stage for s in stages}
        if markers and sides == {1, 2, 3}:
            note = f"both changed: {markers} conflict{'s' if markers > 1 else ''} marked"
        elif markers and sides == {2, 3}:
            note = (f"added here and in the template: {markers} "
                    f"conflict{'s' if markers > 1 else ''} marked")
        elif sides == {1, 3}:
            note = ("deleted here; the template changed it: `git rm` it to keep it deleted (and "
                    "list it in [tool.torchship.update] skip), or move the change to where it "
                    "is now")
        elif sides == {1, 2}:
            note = "the template removed it, it changed here: `git add` keeps yours, `git rm` drops it"
        else:
            note = "; ".join(notes.get(path, [])) or "git could not merge it"
        out.append(Step(PurePosixPath(path), Kind.CONFLICT, result_v, stages=stages, note=note))
        consumed.add(path)
    for path in sorted(set(result) - set(ours) - consumed):
        source = template_renames.get(path)
        if source is not None and source in ours and source not in result \
                and source not in merged.unmerged:
            consumed.add(source)
            edited = ours[source][1] != base.get(source, ("", ""))[1]
            out.append(Step(PurePosixPath(path), Kind.RENAME, version(path), PurePosixPath(source),
                            note="renamed in the template" + (", with your edits" if edited
                                                              else "")))
        else:
            out.append(Step(PurePosixPath(path), Kind.ADD, version(path)))
    for path in sorted(set(ours) - consumed):
        if path not in result:
            out.append(Step(PurePosixPath(path), Kind.REMOVE, Version(None)))
        elif result[path] != ours[path]:
            if result[path][1] == ours[path][1]:
                out.append(Step(PurePosixPath(path), Kind.MODE, version(path)))
                continue
            renamed = our_renames.get(path)
            kept_old = base.get(path, ("", ""))[1] == ours[path][1]
            out.append(Step(PurePosixPath(path), Kind.UPDATE if kept_old else Kind.MERGE,
                            version(path),
                            note=f"the template's changes to {renamed}" if renamed else ""))
    return sorted(out, key=lambda s: str(s.path))


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
                f"({self.old.commit[:12]}) -> {self.target.describe()} from {self.new.source}")

    def render(self, *, dry_run: bool) -> str:
        lines = [self.header()]
        if self.dirty_base:
            lines.append(f"  (the project was made from uncommitted changes of the template: "
                         f"the merge's base is its commit {self.old.commit[:12]})")
        lines += [s.describe(dry_run=dry_run) for s in self.steps] or ["  no file changes"]
        conflicts = self.conflicts
        if dry_run:
            lines.append(f"dry run: nothing changed ({_count(len(self.steps), 'file')} would "
                         f"change, {_count(len(conflicts), 'conflict')})")
            return "\n".join(lines)
        lines.append(f"recorded {self.target.label()} in {templatemod.ANSWERS}; nothing "
                     "committed")
        if conflicts:
            lines.append(f"{_count(len(conflicts), 'conflict')}: "
                         + ", ".join(str(s.path) for s in conflicts)
                         + " (resolve them as `git status` lists them: the markers, or `git rm`/"
                           "`git add` for a path only one side has; then commit)")
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
        if step.result.data is None:
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


def check_direction(source: Source, record: Record, target: Target, *,
                    allow_downgrade: bool) -> None:
    """Going back to an older template version undoes its changes: only when asked."""
    if allow_downgrade or target.commit == record.commit:
        return
    older = source.git.is_ancestor(target.commit, record.commit)
    if not older and target.version is not None:
        from packaging.version import InvalidVersion
        from packaging.version import Version as Release

        try:
            older = Release(target.version) < Release(record.version)
        except InvalidVersion:
            older = False
    if older:
        raise UpdateError(f"{target.describe()} is older than the project's template version "
                          f"{record.version} ({record.commit[:12]})",
                          hint="pass --allow-downgrade to undo the template's changes since "
                               "then, or --to a newer version")


def plan_update(root: Path, source: Source, git: Git, record: Record, target: Target,
                *, scratch: Path, project: configmod.Config) -> Update:
    """Render both versions, check the tool's major, merge with git (no file, index or ref
    of the project changes), and list every step. `project`: its configuration as committed
    (no torchship.local.toml)."""
    with source.checkout(record.commit) as old_t, source.checkout(target.commit) as new_t:
        template_py = configmod.Pyproject.read(new_t.root).data
        check_tool(project.pyproject.data, template_py, target.ref)
        old_py = configmod.Pyproject.read(old_t.root).data
        # Both rendered with the project's own tool source, so that its choice is no change.
        old = templatemod.plan(old_t, record.name, tool_version=render_version(old_py),
                               tool_source=project.tool_source, strict=False)
        new = templatemod.plan(new_t, record.name, tool_version=render_version(template_py),
                               tool_source=project.tool_source)
    files, modes = theirs_files(old, new, project.update_skip)
    merged = merge_trees(git, write_tree(git, scratch, old.files, old.modes, name="base"),
                         write_tree(git, scratch, files, modes, name="theirs"))
    found = steps(git, merged, {merged.ours: "yours",
                                merged.theirs: f"template {target.label()}",
                                merged.base: f"template {old_t.version} ({old_t.commit[:12]})"})
    check_writable(git, root, found)
    from torchship import __version__

    made = templatemod.answers(new_t, name=record.name, tool_version=__version__)
    if target.version is None:  # an untagged commit is recorded as one, not as a version
        made = made.replace(f'version = "{new_t.version}"',
                            f'version = "{new_t.version}+g{new_t.commit[:12]}"', 1)
    return Update(root, record.name, old_t, new_t, target, tuple(found), made, record.dirty)


def apply(update: Update, git: Git) -> None:
    """Write every step, stage the clean ones, leave the conflicts unmerged in the index (the
    sides as stages 1-3, as `git merge` does), and record the new version."""
    for step in update.steps:
        step.write(update.root)
    clean = [p for s in update.steps if s.kind is not Kind.CONFLICT
             for p in (str(s.path), *([str(s.source)] if s.source else []))]
    (update.root / templatemod.ANSWERS).write_text(update.answers, encoding="utf-8")
    # --force: a file the template tracks is the project's too, even where its .gitignore says
    # otherwise (check_writable refused any such file already there).
    git.run("add", "--all", "--force", "--", templatemod.ANSWERS, *clean)
    entries = []
    for step in update.conflicts:
        entries.append(f"0 {'0' * 40}\t{step.path}")
        entries += [f"{s.mode} {s.oid} {s.stage}\t{step.path}" for s in step.stages]
    if entries:
        git.run("update-index", "--index-info", input="\n".join(entries) + "\n")


def verify(update: Update, git: Git) -> None:
    """Check the state again: every conflict unmerged, and nothing else."""
    unmerged = {c.path for c in git.status()
                if c.code in ("UU", "AA", "UD", "DU", "AU", "UA", "DD")}
    expected = {str(s.path) for s in update.conflicts}
    if unmerged != expected:
        raise UpdateError(f"after the merge git lists {sorted(unmerged)} as conflicts, "
                          f"expected {sorted(expected)}", hint="see `git status`")


def update(root: Path, *, to: str | None = None, template: str | None = None,
           dry_run: bool = False, allow_downgrade: bool = False) -> Update:
    """Update the project at `root` to the template at `to`; with `dry_run`, only plan."""
    root = root.resolve()
    with projectmod.find(root, use_local=False) as proj:
        git = proj.git
        check_clean(git, root)
        record = read_record(root)
        where = template or record.source
        with cloned(where) as source:
            if not source.git.has_commit(record.commit):
                raise UpdateError(f"the template at {where} has no commit {record.commit[:12]} "
                                  f"(recorded in {templatemod.ANSWERS})",
                                  hint="pass --template DIR|URL of the template it came from")
            target = source.resolve(to, tag_prefix=source.tag_prefix())
            check_direction(source, record, target, allow_downgrade=allow_downgrade)
            made = plan_update(root, source, git, record, target, scratch=source.scratch,
                               project=proj.config)
            if not dry_run and made.target.commit != record.commit:
                apply(made, git)
                verify(made, git)
        return made


# --- the command line ----------------------------------------------------------------------

def main(argv: Sequence[str] | None = None, *, root: Path | None = None) -> int:
    """`torchship update [--to VERSION|REF] [--allow-downgrade] [--dry-run] [--template DIR|URL]`."""
    parser = Parser(prog="torchship update",
                     description="Merge what the template changed since the project's recorded "
                                 "version into the project (three-way, with git's merge: "
                                 "renames and moved folders are followed on both sides); the "
                                 "project's own changes are kept, conflicts marked. Exit 1 "
                                 "when there are conflicts (with --dry-run: would be).")
    parser.add_argument("--to", metavar="VERSION|REF",
                        help="the template version (its tag) or any ref (default: the "
                             "template's newest release tag)")
    parser.add_argument("--allow-downgrade", action="store_true",
                        help="allow --to an older template version (its later changes are "
                             "undone)")
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
                      dry_run=args.dry_run, allow_downgrade=args.allow_downgrade)
        if made.target.commit == made.old.commit:
            print(f"{made.name} is at the template's version {made.old.version} "
                  f"({made.old.commit[:12]}) already: nothing to do")
            return 0
        print(made.render(dry_run=args.dry_run))
        return 1 if made.conflicts else 0

    return guarded(body)
