"""A release: plan -> apply with an undo log -> verify; resumable once something is published.

Nothing is written until the whole plan exists (every preflight check passed). Each step
records how to undo itself *before* it acts, so a failure anywhere (or Ctrl-C) runs the undo
log backwards and the repository is byte for byte as before: HEAD, branch, tags, index and
files. Once something has left the machine (a push), nothing is silently undone: a state file
records what is published and `invoke release --resume` finishes the rest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from torchship import config as tsconfig
from torchship.adapters.git import Git, GitError
from torchship.errors import TorchshipError
from torchship.release import changelog, version

if TYPE_CHECKING:
    from filelock import BaseFileLock

LOCK_NAME = "torchship-release.lock"
STATE_NAME = "torchship-release.json"

Out = Callable[[str], None]


class ReleaseError(TorchshipError):
    """The release cannot start, or failed and was rolled back."""


class PublishedError(TorchshipError):
    """Something was published before the failure: nothing was undone; --resume finishes."""

    exit_code = 3


# -- the image hook ---------------------------------------------------------------------


@runtime_checkable
class ImageStep(Protocol):
    """What a release needs from the images module (torchship.images.publish.release_step(config))."""

    def planned(self, version: str) -> list[str]:
        """Image tags a release of `version` would build (for the plan)."""
        ...

    def check(self) -> None:
        """Raise TorchshipError when images cannot be built (e.g. the engine does not answer)."""
        ...

    def build(self, version: str, commit: str) -> list[str]:
        """Build and label the release images; return their tags.

        On failure it removes whatever it built itself before raising: the release only
        knows the tags a successful build returned.
        """
        ...

    def push(self, tags: list[str]) -> None:
        """Push the built images (and confirm each by digest)."""
        ...

    def remove(self, tags: list[str]) -> None:
        """Remove images this release built (undo of build)."""
        ...

    def verify(self, tags: list[str], commit: str) -> None:
        """Raise TorchshipError unless each image's labels point at `commit`."""
        ...


def image_step(cfg: tsconfig.Config) -> ImageStep:
    """The images module's release hook (imported here: only a release with images needs it)."""
    from torchship.images import publish as images

    return images.release_step(cfg)


# -- the plan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    part: str | None = None
    pre: str | None = None
    final: bool = False
    dry_run: bool = False
    push: bool = False
    images: bool = True
    sign: bool = True
    sign_commit: bool = False
    resume: bool = False
    remote: str | None = None


@dataclass(frozen=True)
class Plan:
    root: Path
    branch: str
    head: str
    remote: str | None
    bump: version.Bump
    tag: str
    changelog_path: str
    changelog_new: bytes
    changelog_changes: tuple[str, ...]
    section: str
    tag_message: str
    commit_message: str
    images: list[str]
    images_note: str
    push: bool
    sign: bool
    sign_commit: bool

    @property
    def new(self) -> str:
        return str(self.bump.new)

    @property
    def paths(self) -> list[str]:
        return sorted({*self.bump.files, self.changelog_path})


def manifest(cfg: tsconfig.Config, images: list[str]) -> str:
    """The environment manifest that goes into the tag message."""
    lines = ["Environment:"]
    if not cfg.bases:
        lines.append("- no pinned bases configured ([tool.torchship.bases])")
    for env, base in cfg.bases.items():
        for variant in tsconfig.VARIANTS:
            lines.append(f"- {env} {variant}: {base.ref(variant)}")
    lines.append("Images:" if images else "Images: none built by this release")
    lines.extend(f"- {tag}" for tag in images)
    return "\n".join(lines) + "\n"


def _lock(git: Git) -> BaseFileLock:
    from filelock import FileLock, Timeout

    lock = FileLock(str(git.git_dir / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise ReleaseError("another release is running in this repository",
                           hint=f"wait for it to finish (lock: {lock.lock_file})") from exc
    return lock


def _preflight_git(git: Git, cfg: tsconfig.Config) -> tuple[str, str]:
    git.identity()
    branch = git.branch()
    if branch is None:
        raise ReleaseError("HEAD is detached",
                           hint=f"check out the release branch: git switch {cfg.release.branch}")
    if branch != cfg.release.branch:
        raise ReleaseError(f"on branch {branch!r}, not the release branch "
                           f"{cfg.release.branch!r}",
                           hint=f"git switch {cfg.release.branch} (or set "
                                "[tool.torchship.release] branch)")
    head = git.head()
    if head is None:
        raise ReleaseError("the repository has no commit yet", hint="commit your project first")
    changes = git.status()
    untracked = [c.path for c in changes if c.untracked]
    dirty = [c.path for c in changes if not c.untracked]
    if dirty:
        raise ReleaseError(f"uncommitted changes: {', '.join(dirty[:3])}"
                           f"{' ...' if len(dirty) > 3 else ''}",
                           hint="commit or stash them first")
    if untracked:
        raise ReleaseError(f"untracked files would be released: {', '.join(untracked[:3])}"
                           f"{' ...' if len(untracked) > 3 else ''}",
                           hint="commit them, delete them, or add them to .gitignore")
    return branch, head


def _preflight_remote(git: Git, branch: str, head: str, tag: str, opts: Options) -> str | None:
    upstream = git.upstream(branch)
    remote = opts.remote or (upstream.remote if upstream else None)
    if remote is None and git.config("remote.origin.url"):
        remote = "origin"
    if remote is None:
        if opts.push:
            raise ReleaseError("--push, but the repository has no remote",
                               hint="git remote add origin URL, or release without --push")
        return None
    refs = git.remote_refs(remote)
    if f"refs/tags/{tag}" in refs:
        raise ReleaseError(f"tag {tag} already exists on {remote}",
                           hint="that version is released; pick another --part")
    theirs = refs.get(upstream.ref if upstream and upstream.remote == remote
                      else f"refs/heads/{branch}")
    if theirs and theirs != head and not (git.has_commit(theirs)
                                          and git.is_ancestor(theirs, head)):
        raise ReleaseError(f"{branch} is behind {remote}/{branch}",
                           hint=f"git pull {remote} {branch} first")
    return remote


def make_plan(git: Git, cfg: tsconfig.Config, opts: Options) -> Plan:
    """Every preflight check, then the plan as data; nothing is written."""
    branch, head = _preflight_git(git, cfg)
    bump = version.plan(git.root, part=opts.part, pre=opts.pre, final=opts.final)
    new = str(bump.new)
    tag = f"{cfg.release.tag_prefix}{new}"
    if git.ref(f"refs/tags/{tag}") is not None:
        raise ReleaseError(f"tag {tag} already exists",
                           hint="that version is released; pick another --part")
    log_path = git.root / cfg.release.changelog
    rel_log = cfg.release.changelog
    try:
        text = log_path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise changelog.ChangelogError(rel_log, "not found",
                                       hint="add a Keep a Changelog file with an [Unreleased] "
                                            "section") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise changelog.ChangelogError(rel_log, f"cannot be read: {exc}") from exc
    log = changelog.parse(text, path=rel_log)
    section = log.body(changelog.unreleased(log))
    promoted = changelog.promote(log, new, tag=tag, day=date.today())
    if rel_log in bump.files:
        raise ReleaseError(f"{rel_log} is also a [tool.bumpversion] file",
                           hint="remove it from [[tool.bumpversion.files]]")
    remote = _preflight_remote(git, branch, head, tag, opts)
    if opts.sign or opts.sign_commit:
        git.sign_test()
    if not opts.images:
        planned: list[str] = []
        note = "skipped (--no-images)"
    else:
        step = image_step(cfg)
        step.check()
        planned = step.planned(new)
        note = f"{len(planned)} to build"
    message = f"Release {new}\n\n{section}\n{manifest(cfg, planned)}"
    return Plan(root=git.root, branch=branch, head=head, remote=remote, bump=bump, tag=tag,
                changelog_path=rel_log, changelog_new=promoted.encode("utf-8"),
                changelog_changes=_diff(text, promoted),
                section=section, tag_message=message, commit_message=f"Release {new}\n",
                images=planned, images_note=note, push=opts.push, sign=opts.sign,
                sign_commit=opts.sign_commit)


def _diff(before: str, after: str) -> tuple[str, ...]:
    """The changed lines of a file as `N: - old` / `N: + new` (N: line in the new file)."""
    import difflib

    old, new = before.splitlines(), after.splitlines()
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        out.extend(f"{a0 + k + 1}: - {ln}".rstrip() for k, ln in enumerate(old[a0:a1]))
        out.extend(f"{b0 + k + 1}: + {ln}".rstrip() for k, ln in enumerate(new[b0:b1]))
    return tuple(out)


def render(plan: Plan) -> str:
    """The plan as a person reads it (what --dry-run prints)."""
    lines = [f"release {plan.bump.current} -> {plan.new} on {plan.branch} "
             f"({plan.head[:12]})", "", "files:"]
    for ch in plan.bump.changes:
        lines.append(f"  {ch.path}:{ch.line}")
        lines.append(f"    - {ch.old.strip()}")
        lines.append(f"    + {ch.new.strip()}")
    lines.append(f"  {plan.changelog_path}:")
    lines.extend(f"    {ln}" for ln in plan.changelog_changes)
    signed = "signed" if plan.sign else "unsigned"
    lines += ["", f"commit: {plan.commit_message.strip()!r}"
                  f"{' (signed)' if plan.sign_commit else ''}",
              f"tag: {plan.tag} (annotated, {signed}), message:"]
    lines += [f"  | {ln}" if ln else "  |" for ln in plan.tag_message.splitlines()]
    lines.append(f"images: {plan.images_note}")
    lines.extend(f"  {t}" for t in plan.images)
    if plan.push:
        what = f"git push --atomic {plan.remote} {plan.branch} {plan.tag}"
        lines.append(f"push: {'images, then ' if plan.images else ''}{what}")
    else:
        lines.append("push: nothing (no --push)")
    return "\n".join(lines) + "\n"


# -- applying it ------------------------------------------------------------------------


@dataclass
class UndoLog:
    """Undo actions, run newest first; each returns whether it had anything to undo."""

    actions: list[tuple[str, Callable[[], bool]]] = field(default_factory=list)

    def add(self, what: str, action: Callable[[], bool]) -> None:
        self.actions.append((what, action))

    def run(self) -> tuple[list[str], list[str]]:
        done: list[str] = []
        failed: list[str] = []
        for what, action in reversed(self.actions):
            try:
                if action():
                    done.append(what)
            except Exception as exc:  # keep undoing the rest; report each failure
                failed.append(f"{what}: {exc}")
        self.actions.clear()
        return done, failed


def _restore_file(path: Path, original: bytes, mode: int) -> Callable[[], bool]:
    def undo() -> bool:
        changed = path.read_bytes() != original
        if changed:
            path.write_bytes(original)
        if path.stat().st_mode != mode:
            os.chmod(path, mode)
            changed = True
        return changed
    return undo


def _restore_index(index: Path, original: bytes | None) -> Callable[[], bool]:
    def undo() -> bool:
        if original is None:
            existed = index.exists()
            index.unlink(missing_ok=True)
            return existed
        if index.exists() and index.read_bytes() == original:
            return False
        tmp = index.with_name("index.torchship-restore")
        tmp.write_bytes(original)
        os.replace(tmp, index)
        return True
    return undo


@dataclass(frozen=True)
class State:
    """What a half-published release left for --resume (kept in .git/)."""

    version: str
    tag: str
    tag_oid: str
    commit: str
    branch: str
    remote: str
    images: list[str]
    published: list[str]


def _state_path(git: Git) -> Path:
    return git.git_dir / STATE_NAME


def _published(git: Git, plan_remote: str, branch: str, tag: str, commit: str,
               tag_oid: str) -> list[str]:
    """What of this release the remote has; unknown when it does not answer."""
    try:
        refs = git.remote_refs(plan_remote)
    except GitError:
        # Unknown is not "nothing": the push may have landed before the line dropped.
        return [f"possibly {plan_remote}/{branch} and tag {tag} ({plan_remote} does not "
                "answer, so this cannot be checked)"]
    out = []
    if refs.get(f"refs/heads/{branch}") == commit:
        out.append(f"{plan_remote}/{branch} at {commit[:12]}")
    if refs.get(f"refs/tags/{tag}") == tag_oid:
        out.append(f"tag {tag} on {plan_remote}")
    return out


def apply(git: Git, cfg: tsconfig.Config, plan: Plan, out: Out) -> None:
    """Do the plan; on any failure undo everything done so far, in reverse."""
    undo = UndoLog()
    step_name = "start"
    built: list[str] = []
    published: list[str] = []
    commit = tag_oid = ""
    try:
        step_name = "bump"
        index = git.git_dir / "index"
        index_before = index.read_bytes() if index.exists() else None
        for rel in plan.paths:
            p = plan.root / rel
            undo.add(f"restored {rel}", _restore_file(p, p.read_bytes(), p.stat().st_mode))
        out(f"• version {plan.bump.current} -> {plan.new} (bump-my-version)")
        version.apply(plan.root, plan.bump)

        step_name = "changelog"
        out(f"• {plan.changelog_path}: [Unreleased] -> [{plan.new}]")
        (plan.root / plan.changelog_path).write_bytes(plan.changelog_new)

        step_name = "commit"
        ref = f"refs/heads/{plan.branch}"

        def undo_commit() -> bool:
            now = git.ref(ref)
            if now is None or now == plan.head:
                return False
            git.move_ref(ref, plan.head, now)
            return True
        undo.add(f"removed the release commit from {plan.branch}", undo_commit)
        undo.add("restored the index", _restore_index(index, index_before))
        git.add(plan.paths)
        commit = git.commit(plan.commit_message, sign=plan.sign_commit)
        out(f"• commit {commit[:12]} {plan.commit_message.strip()!r}")

        step_name = "tag"
        tag_oid = git.tag(plan.tag, plan.tag_message, sign=plan.sign)

        def undo_tag() -> bool:
            git.delete_ref(f"refs/tags/{plan.tag}", tag_oid)
            return True
        undo.add(f"deleted tag {plan.tag}", undo_tag)
        out(f"• tag {plan.tag} ({'signed' if plan.sign else 'unsigned'})")

        step = image_step(cfg) if plan.images else None
        if step is not None:
            step_name = "images"
            images_step = step

            def undo_images() -> bool:
                images_step.remove(built)
                return bool(built)
            undo.add("removed this release's images", undo_images)
            built.extend(step.build(plan.new, commit))
            out(f"• images: {', '.join(built)}")

        step_name = "verify"
        for line in verify(git, plan.tag, require_signature=plan.sign, images=built):
            out(f"  ✓ {line}")

        if plan.push:
            assert plan.remote is not None
            if step is not None and built:
                step_name = "push images"
                step.push(built)
                published.extend(built)
            step_name = "push"
            git.push_atomic(plan.remote, [f"refs/heads/{plan.branch}",
                                          f"refs/tags/{plan.tag}"])
            now = _published(git, plan.remote, plan.branch, plan.tag, commit, tag_oid)
            published.extend(now)
            if len(now) != 2:
                raise ReleaseError(f"{plan.remote} does not show both {plan.branch} and "
                                   f"{plan.tag} after the push")
            out(f"• pushed {plan.branch} and {plan.tag} to {plan.remote} (atomic)")
    except BaseException as exc:
        if step_name.startswith("push") and plan.remote is not None:
            published.extend(p for p in _published(git, plan.remote, plan.branch, plan.tag,
                                                   commit, tag_oid) if p not in published)
        if published:
            state = State(plan.new, plan.tag, tag_oid, commit, plan.branch,
                          plan.remote or "", built, published)
            _state_path(git).write_text(json.dumps(asdict(state), indent=2) + "\n")
            raise PublishedError(
                f"{step_name} failed after publishing ({'; '.join(published)}): "
                f"{_cause(exc, plan.root)}; nothing was undone",
                hint="fix the cause, then `invoke release --resume` finishes the release") \
                from exc
        done, failed = undo.run()
        for what in done:
            out(f"  ↺ {what}")
        if failed:
            raise ReleaseError(f"{step_name} failed: {_cause(exc, plan.root)}; rollback "
                               f"incomplete: {'; '.join(failed)}",
                               hint="fix these by hand (git status, git tag -l)") from exc
        if isinstance(exc, KeyboardInterrupt):
            raise ReleaseError("interrupted; rolled back, the repository is as it was") from exc
        hint = exc.hint if isinstance(exc, TorchshipError) else None
        raise ReleaseError(f"{step_name} failed: {_cause(exc, plan.root)}; rolled back, the "
                           "repository is as it was", hint=hint) from exc


def _cause(exc: BaseException, root: Path | None = None) -> str:
    if isinstance(exc, TorchshipError):
        return exc.message
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        name = os.fspath(exc.filename)
        rel = os.path.relpath(name, root) if root and os.path.isabs(name) else name
        return f"cannot write {rel}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


# -- verify -----------------------------------------------------------------------------


def verify(git: Git, tag: str, *, require_signature: bool = True,
           images: list[str] | None = None) -> list[str]:
    """Check a release tag; return what was checked, or raise ReleaseError."""
    cfg = tsconfig.load(git.root)
    if git.ref(f"refs/tags/{tag}") is None:
        raise ReleaseError(f"tag {tag} does not exist",
                           hint="git fetch --tags, or check `git tag -l`")
    if git.tag_type(tag) != "tag":
        raise ReleaseError(f"tag {tag} is not annotated (a lightweight tag)",
                           hint="releases are annotated, signed tags made by `invoke release`")
    checked = [f"{tag} is annotated"]
    if require_signature:
        body = git.out("cat-file", "tag", tag)
        if "-----BEGIN" not in body:
            raise ReleaseError(f"tag {tag} is not signed", hint="release with signing on")
        git.verify_tag(tag)
        checked.append(f"{tag} signature verifies ({git.signing_format()})")
    ver = tag[len(cfg.release.tag_prefix):] if tag.startswith(cfg.release.tag_prefix) else tag
    import tomllib

    try:
        data = tomllib.loads(git.show(tag, "pyproject.toml").decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ReleaseError(f"pyproject.toml at {tag} is not valid TOML: {exc}") from exc
    found = version.at_rev(data)
    if found != ver:
        raise ReleaseError(f"{tag}: [tool.bumpversion] current_version is {found!r}, not {ver}")
    for rel, pattern in version.file_patterns(data, ver):
        text = git.show(tag, rel).decode("utf-8")
        if not pattern.search(text):
            raise ReleaseError(f"{tag}: {rel} does not hold version {ver}")
    checked.append(f"version {ver} in pyproject.toml and every [tool.bumpversion] file")
    log_text = git.show(tag, cfg.release.changelog).decode("utf-8")
    log = changelog.parse(log_text, path=f"{cfg.release.changelog} at {tag}")
    sec = log.section(ver)
    if sec is None or not sec.date:
        raise ReleaseError(f"{cfg.release.changelog} at {tag} has no dated [{ver}] section")
    checked.append(f"{cfg.release.changelog} has [{ver}] - {sec.date}")
    if images is None:  # the tag message lists the release's images
        images = _images_in(git.out("cat-file", "tag", tag))
    if images:
        step = image_step(cfg)
        commit = git.out("rev-parse", f"{tag}^{{commit}}")
        step.verify(images, commit)
        checked.append(f"{len(images)} image(s) labelled with {commit[:12]}")
    return checked


def _images_in(message: str) -> list[str]:
    lines = message.splitlines()
    if "Images:" not in lines:
        return []
    out = []
    for line in lines[lines.index("Images:") + 1:]:
        if not line.startswith("- "):
            break
        out.append(line[2:].strip())
    return out


# -- the entry points -------------------------------------------------------------------


def _resume(git: Git, cfg: tsconfig.Config, out: Out) -> None:
    path = _state_path(git)
    if not path.exists():
        raise ReleaseError("nothing to resume: no half-published release in this repository",
                           hint="start one with `invoke release --part ...`")
    state = State(**json.loads(path.read_text()))
    if git.head() != state.commit or git.ref(f"refs/tags/{state.tag}") != state.tag_oid:
        raise ReleaseError(f"the repository no longer matches the release of {state.tag} "
                           f"(commit {state.commit[:12]})",
                           hint=f"check out {state.branch} at {state.commit[:12]} with tag "
                                f"{state.tag}, or delete {path} after cleaning up by hand")
    out(f"resuming {state.tag}: already published: {'; '.join(state.published)}")
    if state.images:
        image_step(cfg).push(state.images)
    refs = git.remote_refs(state.remote)
    todo = []
    if refs.get(f"refs/heads/{state.branch}") != state.commit:
        todo.append(f"refs/heads/{state.branch}")
    if refs.get(f"refs/tags/{state.tag}") != state.tag_oid:
        todo.append(f"refs/tags/{state.tag}")
    if todo:
        git.push_atomic(state.remote, todo)
        out(f"• pushed {' '.join(todo)} to {state.remote}")
    else:
        out(f"• {state.remote} already has {state.branch} and {state.tag}")
    for line in verify(git, state.tag, require_signature="-----BEGIN" in
                       git.out("cat-file", "tag", state.tag), images=state.images):
        out(f"  ✓ {line}")
    path.unlink()
    out(f"released {state.version}")


def run(root: Path | str, opts: Options, *, out: Out | None = None) -> Plan | None:
    """`invoke release`: preflight, plan, then (unless --dry-run) apply and verify."""
    write: Out = out or (lambda s: print(s, flush=True))
    git = Git.discover(root)
    cfg = tsconfig.load(git.root)
    lock = _lock(git)
    try:
        if opts.resume:
            _resume(git, cfg, write)
            return None
        if _state_path(git).exists():
            raise ReleaseError("a release is half-published in this repository",
                               hint="finish it with `invoke release --resume`")
        # [tool.torchship.release] sets the team's policy; flags narrow it for one run.
        opts = replace(opts, sign=opts.sign and cfg.release.sign,
                       sign_commit=opts.sign_commit or cfg.release.sign_commit)
        plan = make_plan(git, cfg, opts)
        if opts.dry_run:
            write(render(plan) + "dry run: nothing was changed")
            return plan
        write(f"release {plan.bump.current} -> {plan.new}")
        apply(git, cfg, plan, write)
        write(f"released {plan.new}: tag {plan.tag}"
              + ("" if plan.push else f" (push with: git push --atomic "
                                      f"{plan.remote or 'origin'} {plan.branch} {plan.tag})"))
        return plan
    finally:
        lock.release()


def verify_cli(root: Path | str, tag: str, *, out: Out | None = None) -> None:
    """`invoke release.verify TAG`."""
    write: Out = out or (lambda s: print(s, flush=True))
    git = Git.discover(root)
    for line in verify(git, tag):
        write(f"✓ {line}")
    write(f"{tag} verifies")

