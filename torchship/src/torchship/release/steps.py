"""The steps of a release: one list (STEPS), printed by `--dry-run` and executed by a run.

Each step describes itself, does itself and undoes itself. Before a step acts, what its undo
needs is written to the journal on disk (.git/torchship-release.json); after it acts, its
result. So whatever stops a release — an error, Ctrl-C, SIGTERM, or a crash that
`invoke release --resume` rolls back later — the repository ends byte for byte as before:
HEAD, branch, tags, index and files. Once the push has begun, the remote is the truth: it is
asked (git ls-remote) before anything is undone, what it has is never undone, and `--resume`
finishes the release by running the planned steps from the last one that finished.

Every step that changes something outside the repository says so as it does it, naming
what changed and where: each image built into the local engine, each image pushed (tag and
digest), and the git push (remote, its URL, and each ref with the object it now points at).

Adding a step is one edit: a class below and its place in STEPS.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import urllib.parse
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from torchship import config as tsconfig
from torchship.adapters.git import Git, GitError
from torchship.adapters.proc import raise_interrupt, sheltered, signals
from torchship.errors import TorchshipError
from torchship.release import version
from torchship.release.journal import (
    BaselineUndo,
    CommitUndo,
    Contents,
    Entry,
    FilesUndo,
    ImagesUndo,
    NoUndo,
    Record,
    SavedFile,
    TagUndo,
    first_error,
    parse,
)
from torchship.release.plan import Plan, ReleaseError, image_step
from torchship.release.verify import pin_images, verify
from torchship.release.weights_records import ModelSignUndo, ModelUndo

JOURNAL_NAME = "torchship-release.json"
INDEX_COPY = "torchship-release.index"
# git commit leaves the message in COMMIT_EDITMSG: kept here so that a rollback restores it.
MSG_FILE, MSG_COPY = "COMMIT_EDITMSG", "torchship-release.editmsg"
BY_HAND = "repair or delete it after checking `git status` and `git tag -l` by hand"

Out = Callable[[str], None]


class Interrupted(ReleaseError):
    """Ctrl-C, SIGTERM or SIGHUP stopped the release, which rolled back: exit 130, as an
    interrupted preflight and every other interrupted command of the tool."""

    exit_code = 130


class PublishedError(TorchshipError):
    """Something was published before the failure: nothing was undone; --resume finishes."""

    exit_code = 3


# -- the journal --------------------------------------------------------------------------


@dataclass
class Journal:
    """The undo log and the resume state of one release, kept in the repository's git dir.

    Its header names the release (version, tag, branch, remote, the project's folder from the
    top, the steps planned) and what it made (commit, tag object, images, what is published);
    `steps` lists each step that started: what its undo needs, whether it finished, and its
    result. Typed (release/journal.py) and checked whenever it is read.
    """

    path: Path
    data: Contents

    @classmethod
    def begin(cls, git: Git, plan: Plan) -> Journal:
        journal = cls(git.git_dir / JOURNAL_NAME, Contents(
            version=plan.new, tag=plan.tag, branch=plan.branch, remote=plan.remote or "",
            project=plan.prefix, head=plan.head, commit="", tag_oid="", images=[],
            published=[], planned=[s.name for s in STEPS if s.active(plan)]))
        journal.save()
        return journal

    @classmethod
    def load(cls, git: Git) -> Journal | None:
        path = git.git_dir / JOURNAL_NAME
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ReleaseError(f"{path} cannot be read: {exc}", hint=BY_HAND) from exc
        try:
            data = parse(raw)
        except ValueError as exc:
            raise ReleaseError(f"{path} {exc}", hint=BY_HAND) from None
        journal = cls(path, data)
        problem = journal._problem(git)
        if problem:
            raise ReleaseError(f"{path} is not a journal this torchship can use: {problem}",
                               hint=BY_HAND)
        return journal

    def _problem(self, git: Git) -> str | None:
        """What a type cannot say: each entry's undo is its step's record, each step is one
        of STEPS, and every path it names stays inside the work tree and outside .git."""
        for name in [e.step for e in self.data.steps] + self.data.planned:
            if step_named(name) is None:
                return f"it names a step this torchship does not have: {name!r}"
        if not inside_work_tree(git, self.data.project or ".", top_ok=True):
            return (f"its project {self.data.project!r} is outside the work tree or inside "
                    ".git")
        for entry in self.data.steps:
            step = step_named(entry.step)
            assert step is not None  # checked above
            try:
                undo = step.Undo.model_validate(entry.undo)
            except ValidationError as exc:
                return f"its {entry.step} step's undo: {first_error(exc)}"
            for rel in undo.paths():
                if not inside_work_tree(git, rel):
                    return (f"its {entry.step} step names {rel!r}, which is outside the work "
                            "tree or inside .git")
        return None

    def foreign(self, cfg: tsconfig.Config) -> str | None:
        """What the journal names outside the project's own images and signatures (a
        rollback removes those: images from the engine and the registry, signature files),
        or None. Checked by --resume, which takes the journal from disk."""
        from torchship.errors import ConfigError
        from torchship.images import sign
        from torchship.images.reference import Reference

        d = self.data
        images = [*d.images, *d.digests]
        for entry in self.entries:
            if entry.step in (Images.name, TestImages.name):
                images += ImagesUndo.model_validate(entry.undo).planned
                images += [str(t) for t in entry.result.get("built") or []]
        for tag in images:
            try:
                ref = Reference.parse(tag)
            except ConfigError:
                ref = None
            if (ref is None or ref.name != Reference.parse(cfg.image).name
                    or not (ref.tag or "").startswith(f"{d.version}-")):
                return (f"it names the image {tag!r}, which is not one of this release's "
                        f"({cfg.image}:{d.version}-...)")
        if d.signatures:
            root = sign.Store.of(cfg).root.resolve()
            for path in d.signatures:
                full = Path(path).resolve()
                if root not in full.parents or not full.name.startswith("signature-"):
                    return (f"it names the signature file {path!r}, which is not in the "
                            f"signature store {root}")
        return None

    def save(self) -> None:
        """Write the journal whole, then rename it into place: never half a journal."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(self.data.model_dump_json(indent=2) + "\n")
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk: no half-written copy left behind
            raise
        os.replace(tmp, self.path)

    def start(self, step: str, undo: Record) -> Entry:
        entry = Entry(step=step, undo=undo.model_dump())
        self.data.steps.append(entry)
        self.save()
        return entry

    def finish(self, entry: Entry, result: dict[str, Any]) -> None:
        entry.done, entry.result = True, result
        self.save()

    def note(self, **values: Any) -> None:
        """Set header values (what a step made); written with the step's result."""
        for key, value in values.items():
            setattr(self.data, key, value)

    def publish(self, what: list[str]) -> None:
        self.data.published.extend(w for w in what if w not in self.data.published)
        self.save()

    @property
    def entries(self) -> list[Entry]:
        return list(self.data.steps)

    @property
    def published(self) -> list[str]:
        return list(self.data.published)

    def entry(self, name: str) -> Entry | None:
        return next((e for e in self.data.steps if e.step == name), None)

    @property
    def publishing(self) -> bool:
        """A publishing step started: from here on the release is finished, never undone
        (unless its process saw that nothing left the machine and began rolling back)."""
        if self.published:
            return True
        return not self.data.rolling_back and any(
            step.publishes for e in self.entries if (step := step_named(e.step)))

    def files(self) -> dict[str, SavedFile | None]:
        """Every file the release's steps wrote (from the top): the bytes they saved of it
        first, or None for one they created."""
        out: dict[str, SavedFile | None] = {}
        for entry in self.entries:
            step = step_named(entry.step)
            if step is not None and step.Undo is FilesUndo:
                undo = FilesUndo.model_validate(entry.undo)
                out.update(undo.files)
                if undo.created:
                    out[undo.created] = None
        return out

    def remove(self) -> None:
        (self.path.parent / INDEX_COPY).unlink(missing_ok=True)
        (self.path.parent / MSG_COPY).unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


def inside_work_tree(git: Git, rel: str, *, top_ok: bool = False) -> bool:
    """Whether `rel` (from the top, or absolute) is in the work tree and not in a git
    directory, symbolic links followed: what a journal may make a rollback write or remove."""
    path = (git.top / rel).resolve()
    try:
        inner = path.relative_to(git.top)
    except ValueError:
        return False
    if not inner.parts:
        return top_ok
    return inner.parts[0] != ".git" and path != git.git_dir and git.git_dir not in path.parents


# -- the steps ----------------------------------------------------------------------------


@dataclass
class Context:
    """What the steps of one run share. `--resume` has no plan (the repository has moved
    on since it was made): the steps it runs work from the journal alone (`resumable`)."""

    git: Git
    cfg: tsconfig.Config
    the_plan: Plan | None
    out: Out
    journal: Journal
    built: list[str] = field(default_factory=list)
    resumed: bool = False
    interrupted: str | None = None  # a stop signal that came while the push ran

    @property
    def plan(self) -> Plan:
        if self.the_plan is None:
            raise ReleaseError("this step needs the release's plan, which --resume does not "
                               "have", hint=BY_HAND)
        return self.the_plan


class Step:
    """One thing a release does."""

    name: ClassVar[str]
    publishes: ClassVar[bool] = False  # once it starts, nothing is undone
    resumable: ClassVar[bool] = False  # can run from the journal alone (--resume finishes it)
    Undo: ClassVar[type[Record]] = NoUndo  # what prepare() journals for undo()

    def active(self, plan: Plan) -> bool:
        """Whether a run of `plan` does this step (an inactive one only describes itself)."""
        return True

    def describe(self, plan: Plan) -> list[str]:
        """What `--dry-run` prints for this step: a line `name: ...`, then details."""
        raise NotImplementedError

    def prepare(self, ctx: Context) -> Record:
        """What undo needs, journaled before the step acts (an instance of `Undo`)."""
        return NoUndo()

    def do(self, ctx: Context) -> dict[str, Any]:
        """Act; return the result to journal."""
        raise NotImplementedError

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        """Undo what the step (maybe partly) did, from the journal alone; say what was undone.

        It runs in the process that failed, or after a crash in `--resume`: it looks at the
        repository rather than trusting memory, and does nothing twice.
        """
        return []


def _saved(plan: Plan, rels: list[str]) -> FilesUndo:
    """The exact bytes and mode of files the step is about to write (from the top)."""
    files = {}
    for rel in rels:
        path = plan.root / rel
        files[plan.in_repo(rel)] = SavedFile(
            mode=path.stat().st_mode, bytes=base64.b64encode(path.read_bytes()).decode("ascii"))
    return FilesUndo(files=files)


def _restore(git: Git, files: dict[str, SavedFile]) -> list[str]:
    done = []
    for rel in sorted(files, reverse=True):
        path = git.top / rel
        original = files[rel].data()
        changed = not path.exists() or path.read_bytes() != original
        if changed:
            path.write_bytes(original)
        if path.stat().st_mode != files[rel].mode:
            os.chmod(path, files[rel].mode)
            changed = True
        if changed:
            done.append(f"restored {rel}")
    return done


class Bump(Step):
    name = "bump"
    Undo = FilesUndo

    def describe(self, plan: Plan) -> list[str]:
        lines = [f"bump: version {plan.bump.current} -> {plan.new} (bump-my-version)"]
        for ch in plan.bump.changes:
            lines += [f"  {ch.path}:{ch.line}", f"    - {ch.old.strip()}",
                      f"    + {ch.new.strip()}"]
        return lines

    def prepare(self, ctx: Context) -> FilesUndo:
        return _saved(ctx.plan, sorted(ctx.plan.bump.files))

    def do(self, ctx: Context) -> dict[str, Any]:
        ctx.out(f"• version {ctx.plan.bump.current} -> {ctx.plan.new} (bump-my-version)")
        version.apply(ctx.plan.root, ctx.plan.bump)
        return {}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        return _restore(git, FilesUndo.model_validate(entry.undo).files)


class Changelog(Step):
    name = "changelog"
    Undo = FilesUndo

    def describe(self, plan: Plan) -> list[str]:
        return [f"changelog: [Unreleased] -> [{plan.new}]", f"  {plan.changelog_path}:",
                *(f"    {ln}" for ln in plan.changelog_changes)]

    def prepare(self, ctx: Context) -> FilesUndo:
        return _saved(ctx.plan, [ctx.plan.changelog_path])

    def do(self, ctx: Context) -> dict[str, Any]:
        ctx.out(f"• {ctx.plan.changelog_path}: [Unreleased] -> [{ctx.plan.new}]")
        (ctx.plan.root / ctx.plan.changelog_path).write_bytes(ctx.plan.changelog_new)
        return {}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        return _restore(git, FilesUndo.model_validate(entry.undo).files)


class ModelCard(Step):
    """The model card, written from the evidence into the release commit (release/modelcard.py)."""

    name = "model card"
    Undo = FilesUndo

    def active(self, plan: Plan) -> bool:
        return plan.card_new is not None or plan.tested

    def describe(self, plan: Plan) -> list[str]:
        if plan.tested and plan.card_new is None:
            return [f"model card: {plan.card_path or 'the model card'}, from the matrix run "
                    "in the release's images (step test images)"]
        if plan.card_new is None or plan.card_path is None:
            return [f"model card: none ({plan.evidence_note.strip().removeprefix('Evidence: ')})"]
        how = "updated (the author's sections kept)" if plan.card_existed else "written"
        source = (f"from matrix run {plan.evidence.run_id}" if plan.evidence
                  else "with the weights' digests")
        return [f"model card: {plan.card_path} {how}, {source}"]

    def prepare(self, ctx: Context) -> FilesUndo:
        assert ctx.plan.card_path is not None
        if ctx.plan.card_existed:
            return _saved(ctx.plan, [ctx.plan.card_path])
        return FilesUndo(created=ctx.plan.in_repo(ctx.plan.card_path),
                         dirs=_missing_dirs(ctx.plan.root / ctx.plan.card_path))

    def do(self, ctx: Context) -> dict[str, Any]:
        plan = ctx.plan
        assert plan.card_path is not None
        assert plan.card_new is not None
        ctx.out(f"• {plan.card_path}: model card "
                + (f"from matrix run {plan.evidence.run_id}" if plan.evidence
                   else "with the weights' digests"))
        path = plan.root / plan.card_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(plan.card_new)
        return {}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        u = FilesUndo.model_validate(entry.undo)
        done = _restore(git, u.files)
        if u.created and (git.top / u.created).exists():
            (git.top / u.created).unlink()
            done.append(f"removed {u.created}")
        _remove_empty(u.dirs)
        return done


class Commit(Step):
    name = "commit"
    Undo = CommitUndo

    def describe(self, plan: Plan) -> list[str]:
        signed = " (signed)" if plan.sign_commit else ""
        return [f"commit: {plan.commit_message.strip()!r}{signed}, of "
                + ", ".join(plan.in_repo(p) for p in plan.paths)]

    def prepare(self, ctx: Context) -> CommitUndo:
        index = ctx.git.git_dir / "index"
        had_index = index.exists()
        if had_index:
            shutil.copyfile(index, ctx.git.git_dir / INDEX_COPY)
        msg = ctx.git.git_dir / MSG_FILE
        had_msg = msg.exists()
        if had_msg:
            shutil.copyfile(msg, ctx.git.git_dir / MSG_COPY)
        return CommitUndo(ref=f"refs/heads/{ctx.plan.branch}", head=ctx.plan.head,
                          index=had_index, subject=ctx.plan.commit_message.splitlines()[0],
                          editmsg=had_msg)

    def do(self, ctx: Context) -> dict[str, Any]:
        plan = ctx.plan
        ctx.git.add([plan.in_repo(p) for p in plan.paths])
        commit = ctx.git.commit(plan.commit_message, sign=plan.sign_commit)
        ctx.journal.note(commit=commit, tree=ctx.git.tree_of(commit) or "")
        ctx.out(f"• commit {commit[:12]} {plan.commit_message.strip()!r}")
        return {"commit": commit}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        done = []
        u = CommitUndo.model_validate(entry.undo)
        index, copy = git.git_dir / "index", git.git_dir / INDEX_COPY
        if not u.index:
            if index.exists():
                index.unlink()
                done.append("restored the index")
        elif copy.exists() and (not index.exists() or index.read_bytes() != copy.read_bytes()):
            os.replace(copy, index)  # a rename: no new space needed (a full disk)
            done.append("restored the index")
        _restore_editmsg(git, u.editmsg)
        now = git.ref(u.ref)
        if now is None or now == u.head:
            return done
        if not_the_release_commit(git, journal, now) is None:  # never someone else's commit
            git.move_ref(u.ref, u.head, now)
            done.append(f"removed the release commit from {u.ref.removeprefix('refs/heads/')}")
        return done


def not_the_release_commit(git: Git, journal: Journal, oid: str) -> str | None:
    """Why commit `oid` is not the release commit the journal describes, or None when it is.

    That commit sits on the release's starting commit, has the release's subject, changes
    only the files the release's steps wrote, from the very bytes they saved (and, once
    recorded, has the recorded tree). A journal naming a commit makes it no release commit.
    """
    entry = journal.entry(Commit.name)
    if entry is None:
        return "the release made no commit"
    u = CommitUndo.model_validate(entry.undo)
    info = git.commit_info(oid)
    if info is None:
        return "no such commit"
    if info.parents != [u.head]:
        return f"its parent is not {u.head[:12]}, where the release started"
    if info.subject != u.subject:
        return f"its subject is {info.subject!r}, not {u.subject!r}"
    if oid == journal.data.commit and journal.data.tree and git.tree_of(oid) != journal.data.tree:
        return "its tree is not the one the release recorded"
    written = journal.files()
    changed = git.changed_paths(u.head, oid)
    if others := [p for p in changed if p not in written]:
        return f"it changes {', '.join(others[:3])}, which the release did not write"
    for rel, saved in written.items():
        if saved is not None and rel in changed:
            try:
                before = git.show(u.head, rel)
            except GitError:
                return f"{rel} is not in its parent"
            if before != saved.data():
                return f"{rel} in its parent is not what the release saved of it"
    return None


def _restore_editmsg(git: Git, had: bool) -> None:
    """COMMIT_EDITMSG as it was before the release commit (absent, or the copy)."""
    msg, copy = git.git_dir / MSG_FILE, git.git_dir / MSG_COPY
    if not had:
        msg.unlink(missing_ok=True)
    elif copy.exists():
        os.replace(copy, msg)  # a rename: no new space needed


class Tag(Step):
    name = "tag"
    Undo = TagUndo

    def describe(self, plan: Plan) -> list[str]:
        signed = "signed" if plan.sign else "unsigned"
        pinned = " (each image pinned @sha256:<digest> as pushed)" if plan.push and plan.images else ""
        return [f"tag: {plan.tag} (annotated, {signed}), message{pinned}:",
                *(f"  | {ln}" if ln else "  |" for ln in plan.tag_message.splitlines())]

    def prepare(self, ctx: Context) -> TagUndo:
        return TagUndo(name=ctx.plan.tag, subject=ctx.plan.tag_message.splitlines()[0])

    def do(self, ctx: Context) -> dict[str, Any]:
        plan = ctx.plan
        # The images pushed just before: each recorded by its digest, under the signature.
        message = pin_images(plan.tag_message, ctx.journal.data.digests)
        # The model too (release/weights.py), when one was pushed.
        pushed_model = ctx.journal.entry(PushModel.name)
        if pushed_model is not None and pushed_model.done:
            from torchship.release import weights

            message = weights.pin(message, pushed_model.result.get("digest"))
        oid = ctx.git.tag(plan.tag, message, sign=plan.sign)
        ctx.journal.note(tag_oid=oid)
        ctx.out(f"• tag {plan.tag} ({'signed' if plan.sign else 'unsigned'})")
        return {"oid": oid}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        u = TagUndo.model_validate(entry.undo)
        name, ref = u.name, f"refs/tags/{u.name}"
        now = git.ref(ref)
        if now is None:
            return []
        info = git.tag_info(name)
        commit = journal.data.commit
        # Ours: the journal's tag, with the release's subject, on the release commit (one
        # the journal merely names is not enough). Another tag is not ours to delete.
        ours = (name == journal.data.tag and info is not None and info.subject == u.subject
                and commit != "" and info.target == commit
                and not_the_release_commit(git, journal, commit) is None)
        if not ours:
            return []
        git.delete_ref(ref, now)
        return [f"deleted tag {name}"]


class Baseline(Step):
    """The evidence's record kept as the release's baseline: the only way one is made (later
    matrix runs compare their benchmarks with the last release's)."""

    name = "baseline"
    Undo = BaselineUndo

    def active(self, plan: Plan) -> bool:
        return (plan.evidence is not None and plan.baseline is not None) or plan.tested

    def describe(self, plan: Plan) -> list[str]:
        if plan.tested and plan.evidence is None:
            return [f"baseline: the matrix run in the release's images -> "
                    f"results/releases/{plan.tag}"]
        if plan.evidence is None or plan.baseline is None:
            return ["baseline: none (no evidence)"]
        return [f"baseline: {plan.evidence.rel(plan.root)} -> {plan.baseline}"]

    def prepare(self, ctx: Context) -> BaselineUndo:
        assert ctx.plan.baseline is not None
        folder = ctx.plan.root / ctx.plan.baseline
        return BaselineUndo(folder=str(folder), dirs=_missing_dirs(folder))

    def do(self, ctx: Context) -> dict[str, Any]:
        plan = ctx.plan
        assert plan.evidence is not None
        assert plan.baseline is not None
        shutil.copytree(plan.evidence.folder, plan.root / plan.baseline)
        ctx.out(f"• baseline: {plan.evidence.rel(plan.root)} kept as {plan.baseline}")
        return {}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        u = BaselineUndo.model_validate(entry.undo)
        folder = Path(u.folder)
        if not folder.exists():
            return []
        shutil.rmtree(folder)  # made by this step: the plan refused a folder already there
        _remove_empty(u.dirs)
        return [f"removed {folder}"]


def _missing_dirs(path: Path) -> list[str]:
    """The folders above `path` that do not exist yet (a step that writes it makes them),
    deepest first: what its undo removes again when they are empty."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(str(parent))
    return missing


def _remove_empty(dirs: list[str]) -> None:
    """Remove the folders a step made (deepest first) where nothing else came into them."""
    for folder in dirs:
        with suppress(OSError):  # not empty (something else is there now), or gone
            Path(folder).rmdir()


class Images(Step):
    name = "images"
    Undo = ImagesUndo

    def active(self, plan: Plan) -> bool:
        return bool(plan.images) and not plan.tested

    def describe(self, plan: Plan) -> list[str]:
        if plan.tested:
            return ["images: none built here: those the test images step built and tested "
                    "are pushed (0 s building)"]
        return [f"images: {plan.images_note}", *(f"  {t}" for t in plan.images)]

    def prepare(self, ctx: Context) -> ImagesUndo:
        return ImagesUndo(planned=ctx.plan.images)

    def do(self, ctx: Context) -> dict[str, Any]:
        built = image_step(ctx.cfg).build(ctx.plan.new, ctx.journal.data.commit)
        ctx.built[:] = built
        ctx.journal.note(images=built)
        ctx.out(f"• images: built {len(built)} in the local Docker engine (not pushed): "
                f"{', '.join(built)}")
        return {"built": built}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        if entry.failed:
            return []  # a build that fails removes what it built itself
        # Done: what it built. Stopped mid-build (a crash): whatever of the plan exists.
        tags = (entry.result.get("built") if entry.done
                else ImagesUndo.model_validate(entry.undo).planned)
        if not tags:
            return []
        image_step(tsconfig.load(git.top / journal.data.project)).remove(tags)
        return ["removed this release's images"]


class Verify(Step):
    name = "verify"

    def describe(self, plan: Plan) -> list[str]:
        pushed = plan.push and bool(plan.images)
        what = ["annotated", *(["signature verifies"] if plan.sign else []),
                "versions and changelog at the tag",
                *(["image digests in the registry, their signatures and labels"] if pushed
                  else ["image labels"] if plan.images else [])]
        return [f"verify: {plan.tag} {', '.join(what)} (as `invoke release.verify`)"]

    def do(self, ctx: Context) -> dict[str, Any]:
        for line in verify(ctx.git, ctx.cfg, ctx.plan.tag, require_signature=ctx.plan.sign,
                           images=ctx.built):
            ctx.out(f"  ✓ {line}")
        return {}


class PushImages(Step):
    """Push the images before the tag is made, so that the signed tag records their
    digests. Not publishing yet: no release names them until the git push, and the undo
    deletes them from the registry."""

    name = "push images"

    def active(self, plan: Plan) -> bool:
        return plan.push and bool(plan.images)

    def describe(self, plan: Plan) -> list[str]:
        if not plan.push:
            return ["push images: nothing (no --push)"]
        return ["push images: "
                + ("the images above, each confirmed by digest; the digests go into the tag"
                   if plan.images else "none")]

    def do(self, ctx: Context) -> dict[str, Any]:
        digests = ctx.journal.data.digests

        def landed(tag: str, digest: str) -> None:
            digests[tag] = digest
            ctx.journal.save()  # in the registry now: the undo must find it after a crash

        def pushed(tag: str, digest: str) -> None:
            ctx.out(f"• pushed image {tag} {digest} (pulled back, same image)")

        image_step(ctx.cfg).push(list(ctx.built), pushed, landed)
        return {"digests": dict(digests)}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        from torchship.images import released

        return released.delete(journal.data.digests)


class SignImages(Step):
    """Sign each pushed image's digest with the key that signs the tag (skopeo, GPG simple
    signing), into the lookaside store ([tool.torchship.signatures])."""

    name = "sign images"

    def active(self, plan: Plan) -> bool:
        return plan.push and plan.sign and bool(plan.images)

    def describe(self, plan: Plan) -> list[str]:
        if not (plan.push and plan.images):
            return ["sign images: nothing (no images pushed)"]
        if not plan.sign:
            return ["sign images: nothing (--no-sign)"]
        return ["sign images: each digest, with the tag's GPG key (skopeo simple signing, "
                "lookaside store)"]

    def do(self, ctx: Context) -> dict[str, Any]:
        from torchship.images import released, sign

        key = sign.signing_key(ctx.git.top)
        made = ctx.journal.data.signatures

        def signed(path: str) -> None:
            made.append(path)
            ctx.journal.save()

        released.sign_all(ctx.cfg, ctx.journal.data.digests, key, signed)
        ctx.out(f"• signed {len(made)} image tag(s) with {key[-16:]} into "
                f"{sign.Store.of(ctx.cfg).root}")
        return {"signatures": list(made)}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        from torchship.images import sign

        gone = sign.remove(journal.data.signatures)
        return [f"removed {len(gone)} image signature(s)"] if gone else []


# -- the model (release/weights.py): pushed before the tag records it, signed after ----------


class PushModel(Step):
    """Push the trained weights, the run's record and the card as a CNCF ModelPack artifact
    before the tag, which records its digest. Not publishing yet: the undo deletes it."""

    name = "push model"
    Undo = ModelUndo

    def active(self, plan: Plan) -> bool:
        return plan.push and plan.weights is not None

    def describe(self, plan: Plan) -> list[str]:
        if plan.weights is None:
            return ["push model: none (no [tool.torchship.release] weights)"]
        if not plan.push:
            return [f"push model: nothing (no --push): the tag lists {plan.weights.ref} "
                    "without a digest"]
        return [f"push model: {plan.weights.ref} (CNCF ModelPack), its digest goes into the tag:",
                *(f"  {w.name} {w.digest} ({w.note})" for w in plan.weights.weights),
                f"  {plan.weights.record}, {plan.weights.card}"]

    def prepare(self, ctx: Context) -> Record:
        assert ctx.plan.weights is not None
        return ModelUndo(ref=ctx.plan.weights.ref)

    def do(self, ctx: Context) -> dict[str, Any]:
        from torchship.release import weights

        shipped = ctx.plan.weights
        assert shipped is not None
        digest = weights.push(ctx.cfg, shipped, commit=ctx.journal.data.commit,
                              version=ctx.plan.new)
        ctx.out(f"• pushed model {shipped.ref} {digest} (CNCF ModelPack: "
                f"{', '.join(w.name for w in shipped.weights)}, {shipped.record}, {shipped.card})")
        return {"digest": digest}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        from torchship.release import weights

        u = ModelUndo.model_validate(entry.undo)
        return weights.remove(u.ref, journal.data.commit)


class SignModel(Step):
    """Sign the model's digest as the images are signed: the tag's GPG key, skopeo simple
    signing, the lookaside store."""

    name = "sign model"
    Undo = ModelSignUndo

    def active(self, plan: Plan) -> bool:
        return plan.push and plan.sign and plan.weights is not None

    def describe(self, plan: Plan) -> list[str]:
        if plan.weights is None or not plan.push:
            return ["sign model: nothing (no model pushed)"]
        if not plan.sign:
            return ["sign model: nothing (--no-sign)"]
        return ["sign model: its digest, with the tag's GPG key (skopeo simple signing, "
                "lookaside store)"]

    def _pushed(self, journal: Journal) -> tuple[str, str]:
        entry = journal.entry(PushModel.name)
        assert entry is not None
        assert entry.done
        return (ModelUndo.model_validate(entry.undo).ref,
                str(entry.result["digest"]))

    def prepare(self, ctx: Context) -> Record:
        from torchship.release import weights

        ref, digest = self._pushed(ctx.journal)
        return ModelSignUndo(path=weights.next_signature(ctx.cfg, ref, digest))

    def do(self, ctx: Context) -> dict[str, Any]:
        from torchship.images import sign
        from torchship.release import weights

        ref, digest = self._pushed(ctx.journal)
        key = sign.signing_key(ctx.git.top)
        path = weights.sign_artifact(ctx.cfg, ref, digest, key)
        ctx.out(f"• signed model {ref} with {key[-16:]} into {sign.Store.of(ctx.cfg).root}")
        return {"signature": path}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        from torchship.images import sign

        gone = sign.remove([ModelSignUndo.model_validate(entry.undo).path])
        return ["removed the model's signature"] if gone else []


class Push(Step):
    """The point of no return: once git push starts, only the remote knows whether the
    release is published, so it is asked (git ls-remote) before anything is undone.

    git push runs sheltered (adapters/proc.sheltered): a Ctrl-C to the terminal's group or
    a signal to this process does not cut it off. A first stop signal is held until the
    remote has answered (a second one stops waiting): taken, the release is finished and
    says so; refused, it rolls back. --resume runs it again from the journal, pushing what
    the remote lacks.
    """

    name = "push"
    publishes = True
    resumable = True

    def active(self, plan: Plan) -> bool:
        return plan.push

    def describe(self, plan: Plan) -> list[str]:
        if not plan.push:
            return ["push: nothing (no --push)"]
        return [f"push: git push --atomic {plan.remote} {plan.branch} {plan.tag}"]

    def do(self, ctx: Context) -> dict[str, Any]:
        journal, d = ctx.journal, ctx.journal.data
        refs = {f"refs/heads/{d.branch}": d.commit, f"refs/tags/{d.tag}": d.tag_oid}
        if ctx.resumed:  # what the remote has already is not pushed again
            there = ctx.git.remote_refs(d.remote)
            refs = {ref: oid for ref, oid in refs.items() if there.get(ref) != oid}
            if not refs:
                journal.publish(on_remote(ctx.git, journal))
                ctx.out(f"• {d.remote} already has {d.branch} and {d.tag}: nothing pushed")
                return {}
        # Atomic: both refs land or neither. A push the remote refuses lands nothing, and the
        # release rolls back, its pushed images and signatures included; once the refs are
        # there (on_remote, here or in _failed), the release is published and never undone.
        # A crash in between leaves this step started: --resume then finishes the release.
        held = _Held(ctx.out, d.remote)
        try:
            with signals(held), sheltered():
                ctx.git.push_atomic(d.remote, list(refs))
        except GitError:
            ctx.interrupted = held.signal
            raise
        ctx.interrupted = held.signal
        now = on_remote(ctx.git, journal)
        journal.publish(now)
        if len(now) != 2:
            raise ReleaseError(f"{d.remote} does not show both {d.branch} and "
                               f"{d.tag} after the push")
        ctx.out(pushed_line(ctx.git, journal, list(refs)))
        return {}


class _Held:
    """A signal handler for the push: the first stop signal waits for the remote's answer
    (said in one line), the second stops waiting (KeyboardInterrupt, as any other)."""

    def __init__(self, out: Out, remote: str) -> None:
        self.out, self.remote = out, remote
        self.signal: str | None = None

    def __call__(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.signal is not None:
            raise KeyboardInterrupt(name)
        self.signal = name
        self.out(f"! {name}: the push to {self.remote} has begun, and {self.remote} decides "
                 "whether the release is published: waiting for its answer (interrupt again "
                 "to stop waiting)")


def _finished_note(remote: str) -> str:
    return (f"note: interrupted during the push, but {remote} had taken it: the release is "
            "published, so it is finished, not undone")


def shown_url(url: str) -> str:
    """A remote's URL as output may show it: a password or token in it is left out."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        keep = f"{user}@" if user and ":" not in userinfo and parts.scheme == "ssh" else ""
        return urllib.parse.urlunsplit(parts._replace(netloc=keep + host))
    return url


def where(git: Git, remote: str) -> str:
    """`origin (URL)`: the remote a push changed, by name and by where it is."""
    url = git.config(f"remote.{remote}.url")
    return f"{remote} ({shown_url(url)})" if url else remote


def pushed_line(git: Git, journal: Journal, refs: list[str]) -> str:
    """What a git push of this release changed on the remote, ref by ref."""
    d = journal.data
    said = []
    for ref in refs:
        if ref.startswith("refs/tags/"):
            said.append(f"tag {ref.removeprefix('refs/tags/')} "
                        f"(tag object {d.tag_oid[:12]} of {d.commit[:12]})")
        else:
            said.append(f"branch {ref.removeprefix('refs/heads/')} at {d.commit[:12]}")
    return f"• git push --atomic to {where(git, d.remote)}: {', '.join(said)}"


# -- tested images (i23r) ----------------------------------------------------------------


class TestImages(Step):
    """--matrix with images: the release's images built once, from the release tree (version
    and changelog written, nothing committed yet), the matrix run in them, and the plan
    completed from that run (evidence, model card, baseline, the tag message with each
    tested image ID). Pushed, signed and tagged later are these very images: nothing builds
    them again. Labelled with the commit the release is cut from (the release commit, which
    adds the card written from this run, cannot be known before it)."""

    name = "test images"
    Undo = ImagesUndo

    def active(self, plan: Plan) -> bool:
        return plan.tested

    def describe(self, plan: Plan) -> list[str]:
        if not plan.tested:
            return ["test images: nothing (no images shipped with --matrix evidence)"]
        return [f"test images: build its images ({len(plan.images)} tags) from the release "
                f"tree (labelled {plan.new}, {plan.head[:12]}), run the matrix in them (nox -s "
                "gpu_tests): the evidence; these images are what ships",
                *(f"  {t}" for t in plan.images)]

    def prepare(self, ctx: Context) -> ImagesUndo:
        return ImagesUndo(planned=ctx.plan.images)

    def do(self, ctx: Context) -> dict[str, Any]:
        import time

        from torchship.images import publish
        from torchship.matrix import records
        from torchship.release import evidence
        from torchship.release import plan as planmod

        plan = ctx.plan
        built: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {}
        spent = [0.0]

        def builder(cfg: tsconfig.Config, env: str, variant: str, /, *,
                    display: Any = None, logs: Path | None = None) -> str:
            t0 = time.monotonic()
            one = publish.build_release_image(cfg, plan.new, plan.head, env=env,
                                              variant=variant, display=display, logs=logs)
            spent[0] += time.monotonic() - t0
            built[(env, variant)] = (one.spec.tags, one.image_id)
            ctx.journal.note(images=[t for tags, _ in built.values() for t in tags])
            ctx.journal.save()  # in the engine now: the undo must find it after a crash
            return one.tag

        t0 = time.monotonic()
        folder = evidence.run_matrix(plan.root, cfg=ctx.cfg, builder=builder)
        took = time.monotonic() - t0
        run = records.load(folder)
        found = evidence.judged(ctx.cfg, folder, run, plan.head)
        tested = tested_images(run, built)
        missing = [t for t in plan.images if t not in tested]
        if missing:
            raise ReleaseError(f"{missing[0]} was not tested by matrix run {run.run_id}",
                               hint="every pinned environment must pass: see "
                                    f"{found.rel(plan.root)}/compare.md")
        _still_tested(tested)
        proof = planmod.proof_of(ctx.cfg, found, head=plan.head, new=plan.new, tag=plan.tag)
        proof = planmod.with_weights(proof, ctx.cfg, plan.weights, new=plan.new, tag=plan.tag)
        text = proof.text + tested_block(tested, run)
        subject = plan.commit_message.strip()
        message = planmod.tag_message(subject, plan.section, text,
                                      planmod.manifest(ctx.cfg, plan.images))
        if plan.weights is not None:
            message += plan.weights.message()
        ctx.the_plan = replace(
            plan, evidence=proof.evidence, evidence_note=text, card_path=proof.card_path,
            card_new=proof.card_new, card_existed=proof.card_existed, baseline=proof.baseline,
            tag_message=message)
        ctx.built[:] = [t for t in plan.images if t in tested]
        ctx.journal.note(images=list(ctx.built))
        ctx.out(f"• images: built {len(built)} from the release tree in {spent[0]:.1f} s "
                f"(not pushed): {', '.join(ctx.built)}")
        ctx.out(f"• evidence: matrix run {run.run_id} passed in them ({took - spent[0]:.0f} s "
                "of suites): these image IDs are what ships")
        return {"built": list(ctx.built), "tested": tested, "build_seconds": round(spent[0], 2)}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        # Whatever of the plan exists: built before the matrix failed, or before a crash.
        tags = (entry.result.get("built") if entry.done
                else ImagesUndo.model_validate(entry.undo).planned)
        if not tags:
            return []
        image_step(tsconfig.load(git.top / journal.data.project)).remove(tags)
        return ["removed this release's images"]


def tested_images(run: Any, built: dict[tuple[str, str], tuple[tuple[str, ...], str]],
                  ) -> dict[str, str]:
    """{tag: image ID} of the images the run passed in: a devel image whose environment's
    suites passed, a runtime image whose smoke passed (not run: not tested)."""
    out: dict[str, str] = {}
    for record in run.records:
        if record.failures or record.image is None:
            continue
        for variant in ("devel", "runtime"):
            if (record.env, variant) not in built:
                continue
            if variant == "runtime" and (record.smoke is None or not record.smoke.ok):
                continue
            tags, image_id = built[(record.env, variant)]
            out.update((t, image_id) for t in tags)
    return out


def _still_tested(tested: dict[str, str]) -> None:
    """Each tag still names the image the matrix ran (no other build took it meanwhile)."""
    from torchship.adapters.docker import require_engine

    docker = require_engine()
    for tag, image_id in tested.items():
        now = docker("image", "inspect", "--format", "{{.Id}}", tag, check=False).stdout.strip()
        if now != image_id:
            raise ReleaseError(f"{tag} names {now[:19] or 'nothing'} now, not the image "
                               f"{image_id[:19]} the matrix tested: another build took it",
                               hint="release again (one build of this project at a time)")


TESTED = "Tested:"


def tested_block(tested: dict[str, str], run: Any) -> str:
    """The tag message's record of the tested images: `- TAG = IMAGE-ID (env variant: what
    passed in which run)`; release.verify holds each shipped image to it."""
    lines = [TESTED]
    for tag, image_id in tested.items():
        variant = "runtime" if tag.endswith("-runtime") else "devel"
        what = "smoke passed" if variant == "runtime" else "suites passed"
        lines.append(f"- {tag} = {image_id} ({variant}: {what} in matrix run {run.run_id})")
    return "\n".join(lines) + "\n"


# The release, in order. --dry-run prints each one's description; a run does the active ones.
# Images come before the tag, which records their digests (pushed) and is signed with them;
# the model card is in the release commit, the baseline is the tag's evidence.
# A tested release (--matrix with images) builds and tests its images before the card and
# the commit (test images), and the images step then builds nothing. The images and the model
# are pushed before the tag, which records their digests, and signed after it.
STEPS: tuple[Step, ...] = (Bump(), Changelog(), TestImages(), ModelCard(), Commit(), Images(),
                           PushImages(), PushModel(), Tag(), Baseline(), SignImages(),
                           SignModel(), Verify(), Push())


def step_named(name: str) -> Step | None:
    """The step a journal entry names (looked up in STEPS, the one list)."""
    return next((step for step in STEPS if step.name == name), None)


def render(plan: Plan) -> str:
    """The plan as a person reads it (what --dry-run prints): each step's description."""
    lines = [f"release {plan.bump.current} -> {plan.new} on {plan.branch} ({plan.head[:12]})"]
    if plan.prefix:
        lines.append(f"project: {plan.prefix}/ (a folder of the repository; files below are "
                     "named from it)")
    lines.append("")
    for n, step in enumerate(STEPS, 1):
        first, *rest = step.describe(plan)
        lines.append(f"{n}. {first}")
        lines.extend(rest)
    return "\n".join(lines) + "\n"


# -- running them -------------------------------------------------------------------------


def on_remote(git: Git, journal: Journal) -> list[str]:
    """What of this release the remote has (two entries: all of it); unknown when it does
    not answer (one entry, saying so)."""
    d = journal.data
    remote, branch, tag = d.remote, d.branch, d.tag
    try:
        refs = git.remote_refs(remote)
    except GitError:
        # Unknown is not "nothing": the push may have landed before the line dropped.
        return [f"possibly {remote}/{branch} and tag {tag} ({remote} does not "
                "answer, so this cannot be checked)"]
    out = []
    if refs.get(f"refs/heads/{branch}") == d.commit:
        out.append(f"{remote}/{branch} at {d.commit[:12]}")
    if refs.get(f"refs/tags/{tag}") == d.tag_oid:
        out.append(f"tag {tag} on {remote}")
    return out


def rollback(git: Git, journal: Journal) -> tuple[list[str], list[str]]:
    """Undo every journaled step, newest first; drop the journal unless an undo failed.

    Returns what was undone and what could not be. Signals wait meanwhile, and the git (and
    other) processes it starts are sheltered from them: a second Ctrl-C, or one to the whole
    process group, must not leave half a rollback.
    """
    done: list[str] = []
    failed: list[str] = []
    with signals(signal.SIG_IGN), sheltered():
        journal.data.rolling_back = True  # should it stop half-way, --resume goes on with it
        with suppress(OSError):
            # A full disk must not stop the rollback, which needs no new space: the journal
            # on disk still lists every step, and --resume would roll those back the same way.
            journal.save()
        for entry in reversed(journal.entries):
            step = step_named(entry.step)
            if step is None:
                failed.append(f"unknown step {entry.step!r} in {journal.path}")
                continue
            try:
                done.extend(step.undo(git, journal, entry))
            except Exception as exc:  # keep undoing the rest; report each failure
                failed.append(f"undo {step.name}: {cause(exc, git.top)}")
        if not failed:
            journal.remove()
    return done, failed


def apply(git: Git, cfg: tsconfig.Config, plan: Plan, out: Out) -> None:
    """Do the active steps in order; on any failure undo everything done so far, in reverse
    (or, once the push may have reached the remote, finish or keep what the remote says)."""
    try:
        journal = Journal.begin(git, plan)
    except OSError as exc:
        raise ReleaseError(f"cannot write the release journal: {cause(exc, git.top)}",
                           hint="is the repository's .git writable?") from exc
    _run(Context(git, cfg, plan, out, journal), [s for s in STEPS if s.active(plan)])
    journal.remove()


def finish(git: Git, cfg: tsconfig.Config, journal: Journal, out: Out) -> None:
    """`--resume` of a release that may be published: the planned steps from the last one
    that finished, each from the journal alone (the push pushes only what the remote lacks)."""
    entries = journal.entries
    planned = journal.data.planned or [
        *(e.step for e in entries),
        *(s.name for s in STEPS if s.publishes and s.name not in {e.step for e in entries})]
    last = entries[-1] if entries else None
    start = 0
    if last is not None and last.step in planned:
        start = planned.index(last.step) + (1 if last.done else 0)
    todo = [step for name in planned[start:] if (step := step_named(name)) is not None]
    if stuck := [s.name for s in todo if not s.resumable]:
        raise ReleaseError(f"--resume cannot finish the step {stuck[0]!r} from the journal",
                           hint=BY_HAND)
    ctx = Context(git, cfg, None, out, journal, built=list(journal.data.images), resumed=True)
    _run(ctx, todo)


def _run(ctx: Context, todo: Sequence[Step]) -> None:
    """Do `todo` in order, each journaled before it acts; on a stop, `_failed` decides."""
    current: Step | None = None
    entry: Entry | None = None
    try:
        with signals(raise_interrupt):
            for step in todo:
                current, entry = step, None
                entry = ctx.journal.start(step.name, step.prepare(ctx))
                ctx.journal.finish(entry, step.do(ctx))
    except BaseException as exc:
        if entry is not None and not entry.done:
            entry.failed = True  # it raised: it cleaned up after itself where it could
        _failed(ctx, current, exc, todo[todo.index(current) + 1:] if current else [])
        return
    if ctx.interrupted:
        ctx.out(_finished_note(ctx.journal.data.remote))


def _failed(ctx: Context, step: Step | None, exc: BaseException, rest: Sequence[Step]) -> None:
    """A step stopped: undo the release, unless the remote may have it. Returns only when
    the remote had taken the release, which is then finished (`rest` done)."""
    git, journal, out = ctx.git, ctx.journal, ctx.out
    d = journal.data
    name = step.name if step else "start"
    root = ctx.the_plan.root if ctx.the_plan else git.top
    if step is not None and step.publishes and d.remote:
        with signals(signal.SIG_IGN), sheltered():  # the remote's answer, uninterrupted
            there = on_remote(git, journal)
        journal.publish(there)
        if isinstance(exc, KeyboardInterrupt):
            # The push was cut off (a second interrupt): what it did is the remote's to say.
            if len(there) == 2:
                _run(ctx, rest)
                out(_finished_note(d.remote))
                return
            if not there:
                journal.save()
                raise PublishedError(
                    f"interrupted during the push, before {d.remote} answered: it does not "
                    f"show {d.branch} and {d.tag} now, but may still take them; nothing was "
                    "undone", hint=f"`invoke release --resume` asks {d.remote} and finishes "
                                   "the release") from exc
    if journal.published:
        journal.save()
        raise PublishedError(
            f"{name} failed after publishing ({'; '.join(journal.published)}): "
            f"{cause(exc, root)}; nothing was undone",
            hint="fix the cause, then `invoke release --resume` finishes the release") from exc
    if ctx.resumed:  # a release that may be published is finished, never undone, by --resume
        raise ReleaseError(f"{name} failed: {cause(exc, root)}; nothing was undone",
                           hint="fix the cause, then `invoke release --resume` again") from exc
    done, failed = rollback(git, journal)
    if not failed and ctx.the_plan is not None:
        done += _hooks_leftovers(git, ctx.the_plan)
    for what in done:
        out(f"  ↺ {what}")
    if failed:
        raise ReleaseError(f"{name} failed: {cause(exc, root)}; rollback incomplete: "
                           f"{'; '.join(failed)}",
                           hint="fix these by hand (git status, git tag -l), then "
                                "`invoke release --resume` finishes the rollback") from exc
    if isinstance(exc, KeyboardInterrupt) or ctx.interrupted:
        raise Interrupted("interrupted; rolled back, the repository is as it was") from exc
    hint = exc.hint if isinstance(exc, TorchshipError) else None
    raise ReleaseError(f"{name} failed: {cause(exc, root)}; rolled back, the "
                       "repository is as it was", hint=hint) from exc


def _hooks_leftovers(git: Git, plan: Plan) -> list[str]:
    """Undo what git hooks run by the release (a formatter in pre-commit, a post-commit
    script) changed besides the release's own files.

    Only in the process that ran the release, right after its rollback: preflight found the
    tree clean a moment ago, so every difference from the release's starting commit is the
    hooks'. (`--resume`, possibly days later, does not do this: by then a difference may be
    the user's own work.)
    """
    own = {plan.in_repo(p) for p in plan.paths}
    done = []
    with signals(signal.SIG_IGN), sheltered():
        for change in git.status():
            if change.path in own:
                continue
            path = git.top / change.path
            try:
                if change.untracked:
                    path.unlink()
                    done.append(f"removed {change.path} (a hook created it)")
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(git.show(plan.head, change.path))
                    done.append(f"restored {change.path} (a hook changed it)")
            except (OSError, TorchshipError):
                continue  # left for `git status` to show; the rest still comes back
    return done


def cause(exc: BaseException, root: Path | None = None) -> str:
    """An exception as the one line the user reads."""
    if isinstance(exc, TorchshipError):
        return exc.message
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        name = os.fspath(exc.filename)
        rel = os.path.relpath(name, root) if root and os.path.isabs(name) else name
        return f"cannot write {rel}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"
