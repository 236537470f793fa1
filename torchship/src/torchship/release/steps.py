"""The steps of a release: one list (STEPS), printed by `--dry-run` and executed by a run.

Each step describes itself, does itself and undoes itself. Before a step acts, what its undo
needs is written to the journal on disk (.git/torchship-release.json); after it acts, its
result. So whatever stops a release — an error, Ctrl-C, SIGTERM, or a crash that
`invoke release --resume` rolls back later — the repository ends byte for byte as before:
HEAD, branch, tags, index and files. Once something has left the machine (a push), nothing is
undone: the journal says what is published, and `--resume` finishes the release.

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
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from torchship import config as tsconfig
from torchship.adapters.git import Git, GitError
from torchship.adapters.proc import raise_interrupt, signals
from torchship.errors import TorchshipError
from torchship.release import version
from torchship.release.plan import Plan, ReleaseError, image_step
from torchship.release.verify import pin_images, verify

JOURNAL_NAME = "torchship-release.json"
INDEX_COPY = "torchship-release.index"
# git commit leaves the message in COMMIT_EDITMSG: kept here so that a rollback restores it.
MSG_FILE, MSG_COPY = "COMMIT_EDITMSG", "torchship-release.editmsg"

Out = Callable[[str], None]
Entry = dict[str, Any]


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
    top) and what it made (commit, tag object, images, what is published); `steps` lists each
    step that started: what its undo needs, whether it finished, and its result.
    """

    path: Path
    data: dict[str, Any]

    @classmethod
    def begin(cls, git: Git, plan: Plan) -> Journal:
        journal = cls(git.git_dir / JOURNAL_NAME, {
            "version": plan.new, "tag": plan.tag, "branch": plan.branch,
            "remote": plan.remote or "", "project": plan.prefix, "head": plan.head,
            "commit": "", "tag_oid": "", "images": [], "published": [], "steps": []})
        journal.save()
        return journal

    @classmethod
    def load(cls, git: Git) -> Journal | None:
        path = git.git_dir / JOURNAL_NAME
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ReleaseError(f"{path} cannot be read: {exc}",
                               hint="repair or delete it after checking `git status` and "
                                    "`git tag -l` by hand") from exc
        if not isinstance(data, dict):
            raise ReleaseError(f"{path} is not a release journal (a JSON object)",
                               hint="repair or delete it after checking `git status` and "
                                    "`git tag -l` by hand")
        data.setdefault("steps", [])  # a journal from before steps were journaled
        data.setdefault("project", "")
        _check_shape(path, data)
        return cls(path, data)

    def save(self) -> None:
        """Write the journal whole, then rename it into place: never half a journal."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk: no half-written copy left behind
            raise
        os.replace(tmp, self.path)

    def start(self, step: str, undo: dict[str, Any]) -> Entry:
        entry: Entry = {"step": step, "undo": undo, "done": False}
        self.data["steps"].append(entry)
        self.save()
        return entry

    def finish(self, entry: Entry, result: dict[str, Any]) -> None:
        entry.update(done=True, result=result)
        self.save()

    def note(self, **values: Any) -> None:
        """Set header values (what a step made); written with the step's result."""
        self.data.update(values)

    def publish(self, what: list[str]) -> None:
        self.data["published"].extend(w for w in what if w not in self.data["published"])
        self.save()

    @property
    def entries(self) -> list[Entry]:
        return list(self.data["steps"])

    @property
    def published(self) -> list[str]:
        return list(self.data["published"])

    @property
    def publishing(self) -> bool:
        """A publishing step started: from here on the release is finished, never undone
        (unless its process saw that nothing left the machine and began rolling back)."""
        if self.published:
            return True
        return not self.data.get("rolling_back") and any(
            step.publishes for e in self.entries if (step := step_named(e["step"])))

    def remove(self) -> None:
        (self.path.parent / INDEX_COPY).unlink(missing_ok=True)
        (self.path.parent / MSG_COPY).unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


# What every journal holds, by type: anything else is not one the tool wrote.
_HEADER: dict[str, type | tuple[type, ...]] = {
    "version": str, "tag": str, "branch": str, "remote": str, "project": str, "head": str,
    "commit": str, "tag_oid": str, "images": list, "published": list, "steps": list}


def _check_shape(path: Path, data: dict[str, Any]) -> None:
    """Refuse, in one line, a journal another version or a hand wrote wrongly, rather than
    fail on it half-way through a rollback."""
    for key, kind in _HEADER.items():
        if not isinstance(data.get(key), kind):
            problem = "is missing" if key not in data else "has the wrong type"
            raise ReleaseError(f"{path} is not a journal this torchship can use: {key!r} "
                               f"{problem}",
                               hint="repair or delete it after checking `git status` and "
                                    "`git tag -l` by hand")
    for entry in data["steps"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("step"), str)
                and isinstance(entry.get("undo", {}), dict)):
            raise ReleaseError(f"{path} is not a journal this torchship can use: a step "
                               f"entry is {json.dumps(entry)[:60]}",
                               hint="repair or delete it after checking `git status` and "
                                    "`git tag -l` by hand")


# -- the steps ----------------------------------------------------------------------------


@dataclass
class Context:
    """What the steps of one run share."""

    git: Git
    cfg: tsconfig.Config
    plan: Plan
    out: Out
    journal: Journal
    built: list[str] = field(default_factory=list)


class Step:
    """One thing a release does."""

    name: ClassVar[str]
    publishes: ClassVar[bool] = False  # once it starts, nothing is undone

    def active(self, plan: Plan) -> bool:
        """Whether a run of `plan` does this step (an inactive one only describes itself)."""
        return True

    def describe(self, plan: Plan) -> list[str]:
        """What `--dry-run` prints for this step: a line `name: ...`, then details."""
        raise NotImplementedError

    def prepare(self, ctx: Context) -> dict[str, Any]:
        """What undo needs, journaled before the step acts (JSON data)."""
        return {}

    def do(self, ctx: Context) -> dict[str, Any]:
        """Act; return the result to journal."""
        raise NotImplementedError

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        """Undo what the step (maybe partly) did, from the journal alone; say what was undone.

        It runs in the process that failed, or after a crash in `--resume`: it looks at the
        repository rather than trusting memory, and does nothing twice.
        """
        return []


def _saved(plan: Plan, rels: list[str]) -> dict[str, Any]:
    """The exact bytes and mode of files the step is about to write (from the top)."""
    files = {}
    for rel in rels:
        path = plan.root / rel
        files[plan.in_repo(rel)] = {"mode": path.stat().st_mode,
                                    "bytes": base64.b64encode(path.read_bytes()).decode("ascii")}
    return {"files": files}


def _restore(git: Git, files: dict[str, Any]) -> list[str]:
    done = []
    for rel in sorted(files, reverse=True):
        path = git.top / rel
        original = base64.b64decode(files[rel]["bytes"])
        changed = not path.exists() or path.read_bytes() != original
        if changed:
            path.write_bytes(original)
        if path.stat().st_mode != files[rel]["mode"]:
            os.chmod(path, files[rel]["mode"])
            changed = True
        if changed:
            done.append(f"restored {rel}")
    return done


class Bump(Step):
    name = "bump"

    def describe(self, plan: Plan) -> list[str]:
        lines = [f"bump: version {plan.bump.current} -> {plan.new} (bump-my-version)"]
        for ch in plan.bump.changes:
            lines += [f"  {ch.path}:{ch.line}", f"    - {ch.old.strip()}",
                      f"    + {ch.new.strip()}"]
        return lines

    def prepare(self, ctx: Context) -> dict[str, Any]:
        return _saved(ctx.plan, sorted(ctx.plan.bump.files))

    def do(self, ctx: Context) -> dict[str, Any]:
        ctx.out(f"• version {ctx.plan.bump.current} -> {ctx.plan.new} (bump-my-version)")
        version.apply(ctx.plan.root, ctx.plan.bump)
        return {}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        return _restore(git, entry["undo"]["files"])


class Changelog(Step):
    name = "changelog"

    def describe(self, plan: Plan) -> list[str]:
        return [f"changelog: [Unreleased] -> [{plan.new}]", f"  {plan.changelog_path}:",
                *(f"    {ln}" for ln in plan.changelog_changes)]

    def prepare(self, ctx: Context) -> dict[str, Any]:
        return _saved(ctx.plan, [ctx.plan.changelog_path])

    def do(self, ctx: Context) -> dict[str, Any]:
        ctx.out(f"• {ctx.plan.changelog_path}: [Unreleased] -> [{ctx.plan.new}]")
        (ctx.plan.root / ctx.plan.changelog_path).write_bytes(ctx.plan.changelog_new)
        return {}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        return _restore(git, entry["undo"]["files"])


class ModelCard(Step):
    """The model card, written from the evidence into the release commit (release/modelcard.py)."""

    name = "model card"

    def active(self, plan: Plan) -> bool:
        return plan.card_new is not None

    def describe(self, plan: Plan) -> list[str]:
        if plan.card_new is None or plan.card_path is None:
            return [f"model card: none ({plan.evidence_note.strip().removeprefix('Evidence: ')})"]
        how = "updated (the author's sections kept)" if plan.card_existed else "written"
        return [f"model card: {plan.card_path} {how}, from matrix run "
                f"{plan.evidence.run_id if plan.evidence else '?'}"]

    def prepare(self, ctx: Context) -> dict[str, Any]:
        assert ctx.plan.card_path is not None
        if ctx.plan.card_existed:
            return _saved(ctx.plan, [ctx.plan.card_path])
        return {"files": {}, "created": ctx.plan.in_repo(ctx.plan.card_path),
                "dirs": _missing_dirs(ctx.plan.root / ctx.plan.card_path)}

    def do(self, ctx: Context) -> dict[str, Any]:
        plan = ctx.plan
        assert plan.card_path is not None
        assert plan.card_new is not None
        ctx.out(f"• {plan.card_path}: model card from matrix run "
                f"{plan.evidence.run_id if plan.evidence else '?'}")
        path = plan.root / plan.card_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(plan.card_new)
        return {}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        done = _restore(git, entry["undo"]["files"])
        created = entry["undo"].get("created")
        if created and (git.top / created).exists():
            (git.top / created).unlink()
            done.append(f"removed {created}")
        _remove_empty(entry["undo"].get("dirs", []))
        return done


class Commit(Step):
    name = "commit"

    def describe(self, plan: Plan) -> list[str]:
        signed = " (signed)" if plan.sign_commit else ""
        return [f"commit: {plan.commit_message.strip()!r}{signed}, of "
                + ", ".join(plan.in_repo(p) for p in plan.paths)]

    def prepare(self, ctx: Context) -> dict[str, Any]:
        index = ctx.git.git_dir / "index"
        had_index = index.exists()
        if had_index:
            shutil.copyfile(index, ctx.git.git_dir / INDEX_COPY)
        msg = ctx.git.git_dir / MSG_FILE
        had_msg = msg.exists()
        if had_msg:
            shutil.copyfile(msg, ctx.git.git_dir / MSG_COPY)
        return {"ref": f"refs/heads/{ctx.plan.branch}", "head": ctx.plan.head,
                "index": had_index, "subject": ctx.plan.commit_message.splitlines()[0],
                "editmsg": had_msg}

    def do(self, ctx: Context) -> dict[str, Any]:
        plan = ctx.plan
        ctx.git.add([plan.in_repo(p) for p in plan.paths])
        commit = ctx.git.commit(plan.commit_message, sign=plan.sign_commit)
        ctx.journal.note(commit=commit)
        ctx.out(f"• commit {commit[:12]} {plan.commit_message.strip()!r}")
        return {"commit": commit}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        done = []
        u = entry["undo"]
        index, copy = git.git_dir / "index", git.git_dir / INDEX_COPY
        if not u["index"]:
            if index.exists():
                index.unlink()
                done.append("restored the index")
        elif copy.exists() and (not index.exists() or index.read_bytes() != copy.read_bytes()):
            os.replace(copy, index)  # a rename: no new space needed (a full disk)
            done.append("restored the index")
        _restore_editmsg(git, bool(u.get("editmsg")))
        now = git.ref(u["ref"])
        if now is None or now == u["head"]:
            return done
        info = git.commit_info(now)
        ours = now == journal.data["commit"] or (
            info is not None and info.parents == [u["head"]] and info.subject == u["subject"])
        if ours:  # never someone else's commit
            git.move_ref(u["ref"], u["head"], now)
            done.append(f"removed the release commit from {u['ref'].removeprefix('refs/heads/')}")
        return done


def _restore_editmsg(git: Git, had: bool) -> None:
    """COMMIT_EDITMSG as it was before the release commit (absent, or the copy)."""
    msg, copy = git.git_dir / MSG_FILE, git.git_dir / MSG_COPY
    if not had:
        msg.unlink(missing_ok=True)
    elif copy.exists():
        os.replace(copy, msg)  # a rename: no new space needed


class Tag(Step):
    name = "tag"

    def describe(self, plan: Plan) -> list[str]:
        signed = "signed" if plan.sign else "unsigned"
        pinned = " (each image pinned @sha256:<digest> as pushed)" if plan.push and plan.images else ""
        return [f"tag: {plan.tag} (annotated, {signed}), message{pinned}:",
                *(f"  | {ln}" if ln else "  |" for ln in plan.tag_message.splitlines())]

    def prepare(self, ctx: Context) -> dict[str, Any]:
        return {"name": ctx.plan.tag, "subject": ctx.plan.tag_message.splitlines()[0]}

    def do(self, ctx: Context) -> dict[str, Any]:
        plan = ctx.plan
        # The images pushed just before: each recorded by its digest, under the signature.
        message = pin_images(plan.tag_message, ctx.journal.data.get("digests", {}))
        oid = ctx.git.tag(plan.tag, message, sign=plan.sign)
        ctx.journal.note(tag_oid=oid)
        ctx.out(f"• tag {plan.tag} ({'signed' if plan.sign else 'unsigned'})")
        return {"oid": oid}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        name, subject = entry["undo"]["name"], entry["undo"]["subject"]
        ref = f"refs/tags/{name}"
        now = git.ref(ref)
        if now is None:
            return []
        info = git.tag_info(name)
        ours = now == journal.data["tag_oid"] or (
            info is not None and info.target == journal.data["commit"] != ""
            and info.subject == subject)
        if not ours:  # a tag someone else made in the meantime is not ours to delete
            return []
        git.delete_ref(ref, now)
        return [f"deleted tag {name}"]


class Baseline(Step):
    """The evidence's record kept as the release's baseline: the only way one is made (later
    matrix runs compare their benchmarks with the last release's)."""

    name = "baseline"

    def active(self, plan: Plan) -> bool:
        return plan.evidence is not None and plan.baseline is not None

    def describe(self, plan: Plan) -> list[str]:
        if plan.evidence is None or plan.baseline is None:
            return ["baseline: none (no evidence)"]
        return [f"baseline: {plan.evidence.rel(plan.root)} -> {plan.baseline}"]

    def prepare(self, ctx: Context) -> dict[str, Any]:
        assert ctx.plan.baseline is not None
        folder = ctx.plan.root / ctx.plan.baseline
        return {"folder": str(folder), "dirs": _missing_dirs(folder)}

    def do(self, ctx: Context) -> dict[str, Any]:
        plan = ctx.plan
        assert plan.evidence is not None
        assert plan.baseline is not None
        shutil.copytree(plan.evidence.folder, plan.root / plan.baseline)
        ctx.out(f"• baseline: {plan.evidence.rel(plan.root)} kept as {plan.baseline}")
        return {}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        folder = Path(entry["undo"]["folder"])
        if not folder.exists():
            return []
        shutil.rmtree(folder)  # made by this step: the plan refused a folder already there
        _remove_empty(entry["undo"].get("dirs", []))
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

    def active(self, plan: Plan) -> bool:
        return bool(plan.images)

    def describe(self, plan: Plan) -> list[str]:
        return [f"images: {plan.images_note}", *(f"  {t}" for t in plan.images)]

    def prepare(self, ctx: Context) -> dict[str, Any]:
        return {"planned": ctx.plan.images}

    def do(self, ctx: Context) -> dict[str, Any]:
        built = image_step(ctx.cfg).build(ctx.plan.new, ctx.journal.data["commit"])
        ctx.built[:] = built
        ctx.journal.note(images=built)
        ctx.out(f"• images: built {len(built)} in the local Docker engine (not pushed): "
                f"{', '.join(built)}")
        return {"built": built}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        if entry.get("failed"):
            return []  # a build that fails removes what it built itself
        # Done: what it built. Stopped mid-build (a crash): whatever of the plan exists.
        tags = entry.get("result", {}).get("built") if entry["done"] else entry["undo"]["planned"]
        if not tags:
            return []
        image_step(tsconfig.load(git.top / journal.data["project"])).remove(tags)
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
        digests = ctx.journal.data.setdefault("digests", {})

        def landed(tag: str, digest: str) -> None:
            digests[tag] = digest
            ctx.journal.save()  # in the registry now: the undo must find it after a crash

        def pushed(tag: str, digest: str) -> None:
            ctx.out(f"• pushed image {tag} {digest} (pulled back, same image)")

        image_step(ctx.cfg).push(list(ctx.built), pushed, landed)
        return {"digests": dict(digests)}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        from torchship.images import released

        return released.delete(journal.data.get("digests", {}))


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
        made = ctx.journal.data.setdefault("signatures", [])

        def signed(path: str) -> None:
            made.append(path)
            ctx.journal.save()

        released.sign_all(ctx.cfg, ctx.journal.data.get("digests", {}), key, signed)
        ctx.out(f"• signed {len(made)} image tag(s) with {key[-16:]} into "
                f"{sign.Store.of(ctx.cfg).root}")
        return {"signatures": list(made)}

    def undo(self, git: Git, journal: Journal, entry: Entry) -> list[str]:
        from torchship.images import sign

        gone = sign.remove(journal.data.get("signatures", []))
        return [f"removed {len(gone)} image signature(s)"] if gone else []


class Push(Step):
    name = "push"
    publishes = True

    def active(self, plan: Plan) -> bool:
        return plan.push

    def describe(self, plan: Plan) -> list[str]:
        if not plan.push:
            return ["push: nothing (no --push)"]
        return [f"push: git push --atomic {plan.remote} {plan.branch} {plan.tag}"]

    def do(self, ctx: Context) -> dict[str, Any]:
        plan, journal = ctx.plan, ctx.journal
        assert plan.remote is not None  # make_plan refuses --push without a remote
        # Atomic: both refs land or neither. A push the remote refuses lands nothing, and the
        # release rolls back, its pushed images and signatures included; once the refs are
        # there (on_remote, here or in _failed), the release is published and never undone.
        # A crash in between leaves this step started: --resume then finishes the release.
        ctx.git.push_atomic(plan.remote, [f"refs/heads/{plan.branch}", f"refs/tags/{plan.tag}"])
        now = on_remote(ctx.git, journal)
        journal.publish(now)
        if len(now) != 2:
            raise ReleaseError(f"{plan.remote} does not show both {plan.branch} and "
                               f"{plan.tag} after the push")
        ctx.out(pushed_line(ctx.git, journal, [f"refs/heads/{plan.branch}",
                                               f"refs/tags/{plan.tag}"]))
        return {}


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
                        f"(tag object {d['tag_oid'][:12]} of {d['commit'][:12]})")
        else:
            said.append(f"branch {ref.removeprefix('refs/heads/')} at {d['commit'][:12]}")
    return f"• git push --atomic to {where(git, d['remote'])}: {', '.join(said)}"


# The release, in order. --dry-run prints each one's description; a run does the active ones.
# Images come before the tag, which records their digests (pushed) and is signed with them;
# the model card is in the release commit, the baseline is the tag's evidence.
STEPS: tuple[Step, ...] = (Bump(), Changelog(), ModelCard(), Commit(), Images(), PushImages(),
                           Tag(), Baseline(), SignImages(), Verify(), Push())


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
    """What of this release the remote has; unknown when it does not answer."""
    d = journal.data
    remote, branch, tag = d["remote"], d["branch"], d["tag"]
    try:
        refs = git.remote_refs(remote)
    except GitError:
        # Unknown is not "nothing": the push may have landed before the line dropped.
        return [f"possibly {remote}/{branch} and tag {tag} ({remote} does not "
                "answer, so this cannot be checked)"]
    out = []
    if refs.get(f"refs/heads/{branch}") == d["commit"]:
        out.append(f"{remote}/{branch} at {d['commit'][:12]}")
    if refs.get(f"refs/tags/{tag}") == d["tag_oid"]:
        out.append(f"tag {tag} on {remote}")
    return out


def rollback(git: Git, journal: Journal) -> tuple[list[str], list[str]]:
    """Undo every journaled step, newest first; drop the journal unless an undo failed.

    Returns what was undone and what could not be. Signals wait meanwhile: a second Ctrl-C
    must not leave half a rollback.
    """
    done: list[str] = []
    failed: list[str] = []
    with signals(signal.SIG_IGN):
        for entry in reversed(journal.entries):
            step = step_named(entry["step"])
            if step is None:
                failed.append(f"unknown step {entry['step']!r} in {journal.path}")
                continue
            try:
                done.extend(step.undo(git, journal, entry))
            except Exception as exc:  # keep undoing the rest; report each failure
                failed.append(f"undo {step.name}: {cause(exc, git.top)}")
        if not failed:
            journal.remove()
    return done, failed


def apply(git: Git, cfg: tsconfig.Config, plan: Plan, out: Out) -> None:
    """Do the active steps in order; on any failure undo everything done so far, in reverse."""
    try:
        journal = Journal.begin(git, plan)
    except OSError as exc:
        raise ReleaseError(f"cannot write the release journal: {cause(exc, git.top)}",
                           hint="is the repository's .git writable?") from exc
    ctx = Context(git, cfg, plan, out, journal)
    current: Step | None = None
    entry: Entry | None = None
    try:
        with signals(raise_interrupt):
            for step in STEPS:
                if step.active(plan):
                    current, entry = step, None
                    entry = journal.start(step.name, step.prepare(ctx))
                    journal.finish(entry, step.do(ctx))
    except BaseException as exc:
        if entry is not None and not entry["done"]:
            entry["failed"] = True  # it raised: it cleaned up after itself where it could
        _failed(git, plan, journal, current, exc, out)
    journal.remove()


def _failed(git: Git, plan: Plan, journal: Journal, step: Step | None, exc: BaseException,
            out: Out) -> NoReturn:
    name = step.name if step else "start"
    if step is not None and step.publishes and plan.remote is not None:
        journal.publish(on_remote(git, journal))
    if journal.published:
        journal.save()
        raise PublishedError(
            f"{name} failed after publishing ({'; '.join(journal.published)}): "
            f"{cause(exc, plan.root)}; nothing was undone",
            hint="fix the cause, then `invoke release --resume` finishes the release") from exc
    journal.data["rolling_back"] = True  # should it stop half-way, --resume goes on with it
    with suppress(OSError):
        # A full disk must not stop the rollback, which needs no new space: the journal on
        # disk still lists every step, and --resume would roll those back the same way.
        journal.save()
    done, failed = rollback(git, journal)
    if not failed:
        done += _hooks_leftovers(git, plan)
    for what in done:
        out(f"  ↺ {what}")
    if failed:
        raise ReleaseError(f"{name} failed: {cause(exc, plan.root)}; rollback incomplete: "
                           f"{'; '.join(failed)}",
                           hint="fix these by hand (git status, git tag -l), then "
                                "`invoke release --resume` finishes the rollback") from exc
    if isinstance(exc, KeyboardInterrupt):
        raise Interrupted("interrupted; rolled back, the repository is as it was") from exc
    hint = exc.hint if isinstance(exc, TorchshipError) else None
    raise ReleaseError(f"{name} failed: {cause(exc, plan.root)}; rolled back, the "
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
    with signals(signal.SIG_IGN):
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
