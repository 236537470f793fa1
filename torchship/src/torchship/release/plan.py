"""The release plan: every preflight check, then what the release will do, as data.

Nothing is written here. `make_plan` checks the repository, the version files, the changelog,
the remote and signing, and returns a Plan; torchship.release.steps turns it into the one list
of steps that `--dry-run` prints and a real run executes.

A project is the folder of its pyproject.toml; the repository's top may lie above it (this
repository holds two projects: the template at the top, the tool in torchship/). Files are
named from the project in what a person reads, and from the top where git needs them.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from torchship import config as tsconfig
from torchship.errors import TorchshipError
from torchship.release import changelog, version

if TYPE_CHECKING:
    from torchship.adapters.git import Git
    from torchship.release.evidence import Evidence
    from torchship.release.weights import Shipped


T = TypeVar("T")


class ReleaseError(TorchshipError):
    """The release cannot start, or failed and was rolled back."""


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

    def push(self, tags: list[str],
             on_pushed: Callable[[str, str], None] | None = None,
             on_landed: Callable[[str, str], None] | None = None) -> None:
        """Push the built images (and confirm each by digest); call `on_landed(tag, digest)`
        the moment the registry names each one, `on_pushed(tag, digest)` once confirmed."""
        ...

    def remove(self, tags: list[str]) -> None:
        """Remove images this release built (undo of build; missing ones are fine)."""
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
    evidence: bool = True       # --no-evidence: release without a matrix record (said in the tag)
    matrix: bool = False        # --matrix: run the matrix first, as `nox -s gpu_tests` does


@dataclass(frozen=True)
class Plan:
    root: Path                  # the project: the folder of its pyproject.toml
    prefix: str                 # that folder from the repository's top ("" at the top), posix
    branch: str
    head: str
    remote: str | None
    bump: version.Bump
    tag: str
    changelog_path: str         # from the project
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
    # The evidence (None: released without, and `evidence_note` says why in the tag message),
    # the model card written from it, and where its record is kept as the release's baseline.
    evidence: Evidence | None = None
    evidence_note: str = ""
    card_path: str | None = None     # from the project
    card_new: bytes | None = None
    card_existed: bool = False
    baseline: str | None = None      # from the project: results/releases/<tag>
    # The trained weights it ships as a ModelPack artifact (release/weights.py); None: none.
    weights: Shipped | None = None
    # -- tested images (i23r): the release builds its images from the release tree, runs its
    # evidence (the matrix) in them, and ships those very digests. The evidence, card and tag
    # message above are then completed by the `test images` step (steps.TestImages).
    tested: bool = False

    @property
    def new(self) -> str:
        return str(self.bump.new)

    @property
    def paths(self) -> list[str]:
        """Every file the release writes, from the project."""
        card = ([self.card_path] if self.card_path and (self.card_new is not None
                                                         or self.tested) else [])
        return sorted({*self.bump.files, self.changelog_path, *card})

    def in_repo(self, rel: str) -> str:
        """A project path as git names it (from the repository's top)."""
        return posixpath.join(self.prefix, rel) if self.prefix else rel


def prefix_of(git: Git, project: Path) -> str:
    rel = project.relative_to(git.top).as_posix()
    return "" if rel == "." else rel


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


def _preflight_git(git: Git, cfg: tsconfig.Config) -> tuple[str, str]:
    git.identity()
    # First: a stopped rebase detaches HEAD, and a staged merge leaves a clean tree that the
    # release commit would conclude (making "Release X" a merge commit).
    busy = git.in_progress()
    if busy is not None:
        what, end = busy
        raise ReleaseError(f"{what} is in progress in this repository", hint=f"finish it first: {end}")
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
    # The whole work tree, not only the project's folder: the release commit takes the whole
    # index, and the tag names a commit of the whole repository.
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


def check_tag_name(git: Git, tag: str, prefix: str) -> None:
    """Refuse, before anything is written, a tag name git cannot make (tag_prefix)."""
    if tag.startswith("-") or not git.run("check-ref-format", f"refs/tags/{tag}", check=False).ok:
        raise ReleaseError(f"[tool.torchship.release] tag_prefix {prefix!r} makes the tag "
                           f"{tag!r}, which git cannot use as a tag name",
                           hint="see `git help check-ref-format`: no spaces, ~^:?*[\\, '..' "
                                "or a leading '-'")


def _background(work: Callable[[], T]) -> Callable[[], T]:
    """Start `work` in a thread now; calling the result waits for it (and re-raises).

    Preflight runs git's slow questions (the remote, the signer) this way, while Python
    reads the version files and the changelog: their errors still come in the same order.
    """
    box: list[T] = []
    err: list[BaseException] = []

    def target() -> None:
        try:
            box.append(work())
        except BaseException as exc:  # handed to the caller, who decides
            err.append(exc)

    thread = threading.Thread(target=target, name="torchship-preflight", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if err:
            raise err[0]
        return box[0]
    return result


def _remote_name(git: Git, branch: str, opts: Options) -> str | None:
    if opts.remote is not None and not opts.remote.strip():
        raise ReleaseError("--remote is empty", hint="name a remote (see `git remote -v`), "
                           "or leave --remote out for the branch's upstream")
    upstream = git.upstream(branch)
    remote = opts.remote or (upstream.remote if upstream else None)
    if remote is None and git.config("remote.origin.url"):
        remote = "origin"
    return remote


def _preflight_remote(git: Git, branch: str, head: str, tag: str, opts: Options,
                      remote: str | None, refs: Callable[[], dict[str, str]] | None,
                      ) -> str | None:
    if remote is None or refs is None:
        if opts.push:
            raise ReleaseError("--push, but the repository has no remote",
                               hint="git remote add origin URL, or release without --push")
        return None
    upstream = git.upstream(branch)
    theirs_refs = refs()
    if f"refs/tags/{tag}" in theirs_refs:
        raise ReleaseError(f"tag {tag} already exists on {remote}",
                           hint="that version is released; pick another --part")
    theirs = theirs_refs.get(upstream.ref if upstream and upstream.remote == remote
                             else f"refs/heads/{branch}")
    if theirs and theirs != head and not (git.has_commit(theirs)
                                          and git.is_ancestor(theirs, head)):
        if not git.has_commit(theirs):
            raise ReleaseError(f"{branch} is behind {remote}/{branch}: it has commits not "
                               "fetched here", hint=f"git pull {remote} {branch} first")
        if git.is_ancestor(head, theirs):
            raise ReleaseError(f"{branch} is behind {remote}/{branch}",
                               hint=f"git pull {remote} {branch} first")
        raise ReleaseError(f"{branch} and {remote}/{branch} have diverged: each has commits "
                           "the other lacks",
                           hint=f"git pull {remote} {branch} (merge or rebase), then release")
    return remote


def _read_changelog(path: Path, rel: str) -> str:
    """The changelog's text; a UTF-8 byte order mark (some Windows editors write one) is
    not part of it (plan() writes it back)."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise changelog.ChangelogError(rel, "not found",
                                       hint="add a Keep a Changelog file with an [Unreleased] "
                                            "section") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise changelog.ChangelogError(rel, f"cannot be read: {exc}") from exc


def _bom(path: Path) -> bytes:
    """The UTF-8 byte order mark `path` starts with, kept in what the release writes."""
    import codecs

    with path.open("rb") as fh:
        return codecs.BOM_UTF8 if fh.read(3) == codecs.BOM_UTF8 else b""


def make_plan(git: Git, cfg: tsconfig.Config, opts: Options) -> Plan:
    """Every preflight check, then the plan as data; nothing is written.

    The project is `cfg.root`; it must lie inside `git`'s work tree.
    """
    # The evidence of HEAD is looked for meanwhile (it only reads results/ and asks git for
    # the last tag): its imports and its comparison run while git's answers are waited for.
    # Its refusal still comes where it did, after every check before it.
    early = git.head() if opts.evidence and cfg.release.evidence else None
    found = _background(partial(_find_evidence, cfg, early, git)) if early else None
    try:
        branch, head = _preflight_git(git, cfg)
    except TorchshipError:
        _settle(found)
        raise
    if found is not None and head != early:  # HEAD moved meanwhile: HEAD's evidence decides
        _settle(found)
        found = _background(partial(_find_evidence, cfg, head, git))
    remote = _remote_name(git, branch, opts)
    refs = _background(partial(git.remote_refs, remote)) if remote is not None else None
    signed = _background(git.sign_test) if opts.sign or opts.sign_commit else None
    try:
        return _plan(git, cfg, opts, branch, head, remote, refs, signed, found)
    except TorchshipError:
        # Let git's answers still on their way arrive: no process outlives the refusal.
        for later in (refs, signed):
            if later is not None:
                with suppress(TorchshipError):
                    later()
        _settle(found)
        raise


def _settle(later: Callable[[], object] | None) -> None:
    """Wait for a background question whose answer is no longer needed (a refusal came
    first): nothing it started outlives the refusal, and its own refusal is dropped."""
    if later is not None:
        with suppress(Exception):
            later()


def _plan(git: Git, cfg: tsconfig.Config, opts: Options, branch: str, head: str,
          remote: str | None, refs: Callable[[], dict[str, str]] | None,
          signed: Callable[[], None] | None,
          found: Callable[[], Evidence] | None = None) -> Plan:
    project = cfg.root
    prefix = prefix_of(git, project)
    bump = version.plan(project, part=opts.part, pre=opts.pre, final=opts.final)
    new = str(bump.new)
    tag = f"{cfg.release.tag_prefix}{new}"
    check_tag_name(git, tag, cfg.release.tag_prefix)
    if git.ref(f"refs/tags/{tag}") is not None:
        raise ReleaseError(f"tag {tag} already exists",
                           hint="that version is released; pick another --part")
    rel_log = cfg.release.changelog
    text = _read_changelog(project / rel_log, rel_log)
    log = changelog.parse(text, path=rel_log)
    section = log.body(changelog.unreleased(log))
    promoted = changelog.promote(log, new, tag=tag, day=date.today())
    if rel_log in bump.files:
        raise ReleaseError(f"{rel_log} is also a [tool.bumpversion] file",
                           hint="remove it from [[tool.bumpversion.files]]")
    remote = _preflight_remote(git, branch, head, tag, opts, remote, refs)
    if signed is not None:
        signed()
    if not opts.images:
        planned: list[str] = []
        note = "skipped (--no-images)"
    else:
        step = image_step(cfg)
        step.check()
        planned = step.planned(new)
        note = f"{len(planned)} to build"
        if planned and opts.push and opts.sign:
            # Checked now, not after the images are built, pushed and tagged: the sign step's
            # needs (skopeo, a GPG key git signs with) must not wait for a rollback to say so.
            from torchship.adapters import skopeo
            from torchship.images import sign

            skopeo.exe()
            sign.signing_key(git.top)
    tested = _tested(cfg, opts, planned, tag)
    if tested:  # its evidence is made by the release (steps.TestImages), not looked for
        _settle(found)
        proof = _Proof(text=TESTED_LATER, card_path=cfg.release.model_card)
    else:
        proof = _evidence(cfg, opts, head=head, new=new, tag=tag, looked_up=found)
    # The trained weights ([tool.torchship.release] weights): checked against HEAD, and
    # recorded by their digests in the card (release/weights.py). None configured: untouched.
    # A tested release writes its card after the test (steps.TestImages), with them too.
    shipped = None
    if cfg.release.weights:
        from torchship.release import weights

        shipped = weights.plan(cfg, head=head, version=new)
        if not tested:
            proof = with_weights(proof, cfg, shipped, new=new, tag=tag)
    # In a repository of several projects, the subject says which one is released.
    subject = f"Release {prefix} {new}" if prefix else f"Release {new}"
    message = tag_message(subject, section, proof.text, manifest(cfg, planned))
    if shipped is not None:
        message += shipped.message()
    return Plan(root=project, prefix=prefix, branch=branch, head=head, remote=remote,
                bump=bump, tag=tag, changelog_path=rel_log,
                changelog_new=_bom(project / rel_log) + promoted.encode("utf-8"),
                changelog_changes=_diff(text, promoted), section=section,
                tag_message=message, commit_message=f"{subject}\n", images=planned,
                images_note=note, push=opts.push, sign=opts.sign,
                sign_commit=opts.sign_commit, evidence=proof.evidence,
                evidence_note=proof.text, card_path=proof.card_path, card_new=proof.card_new,
                card_existed=proof.card_existed, baseline=proof.baseline, tested=tested,
                weights=shipped)


def with_weights(proof: _Proof, cfg: tsconfig.Config, shipped: Shipped | None, *, new: str,
                 tag: str) -> _Proof:
    """`proof` with the weights' section in its card (release/weights.py); as it is when the
    release ships no weights."""
    if shipped is None:
        return proof
    from torchship.release import modelcard, weights

    return weights.with_card(proof, cfg, shipped, name=modelcard.project_name(cfg), version=new,
                             tag=tag)


def tag_message(subject: str, section: str, evidence: str, environment: str) -> str:
    """The release tag's message: subject, changelog section, evidence, environment."""
    return f"{subject}\n\n{section}\n{evidence}\n{environment}"


# -- tested images (i23r) ----------------------------------------------------------------

TESTED_LATER = ("Evidence: the matrix run in the images below, which the release builds from "
                "the release tree, tests, then ships (made by the release)\n")


def _tested(cfg: tsconfig.Config, opts: Options, planned: list[str], tag: str) -> bool:
    """Whether the release tests the images it ships (--matrix with images and evidence).

    A release that ships images and takes evidence must take it in those images: a record
    made before the release (in the images of the commit before, or on the host) tested
    other bytes than the release pushes. So it needs --matrix; refused otherwise, before
    anything is written, as is what the test images step would refuse after the matrix: a
    baseline folder left over, a card that cannot be updated without losing an edit."""
    if not planned or not (opts.evidence and cfg.release.evidence):
        return False
    if not opts.matrix:
        raise ReleaseError("a release that ships images takes its evidence in those images, "
                           "and a matrix record of this commit tested other ones (built "
                           "before the version changed)",
                           hint="release with --matrix (the release builds its images once, "
                                "runs the matrix in them and ships those digests), or "
                                "--no-images, or --no-evidence")
    from torchship.release import modelcard

    _, rel, previous = _card_and_baseline(cfg, tag)
    if previous is not None:
        _, body = modelcard._split(previous, rel)
        modelcard._parse_body(body, rel, previous[:len(previous) - len(body)].count("\n") + 1)
    return True


def _card_and_baseline(cfg: tsconfig.Config, tag: str) -> tuple[str, str, str | None]:
    """Where the release's baseline goes (refused when a stopped release left it), the model
    card's path and its text (None: no card yet; refused when it cannot be read)."""
    from torchship.matrix.run import RELEASES, RESULTS

    baseline = f"{RESULTS}/{RELEASES}/{tag}"
    if (cfg.root / baseline).exists():
        raise ReleaseError(f"{baseline} already exists, but tag {tag} does not: a release "
                           "that stopped left it", hint=f"delete {baseline}, then release")
    rel = cfg.release.model_card
    path = cfg.root / rel
    try:
        previous = path.read_text(encoding="utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"{rel} cannot be read: {exc}") from exc
    return baseline, rel, previous


@dataclass(frozen=True)
class _Proof:
    text: str                       # the tag message's evidence paragraph
    evidence: Evidence | None = None
    card_path: str | None = None
    card_new: bytes | None = None
    card_existed: bool = False
    baseline: str | None = None


def _find_evidence(cfg: tsconfig.Config, head: str, git: Git | None = None) -> Evidence:
    """evidence.find, with the modules a release with evidence needs imported first (run
    in the background by make_plan)."""
    from torchship.release import evidence, modelcard  # noqa: F401  (imported for _evidence)

    return evidence.find(cfg, head, repo=git)


def _evidence(cfg: tsconfig.Config, opts: Options, *, head: str, new: str, tag: str,
              looked_up: Callable[[], Evidence] | None = None) -> _Proof:
    """The evidence for HEAD, the model card made from it and where its baseline goes; or
    the note saying the release has none. Refuses stale or failing evidence (nothing written).
    `looked_up`: the evidence looked for in the background (make_plan), else looked for now."""
    if not opts.evidence or not cfg.release.evidence:
        why = "--no-evidence" if not opts.evidence else "evidence = false in [tool.torchship.release]"
        return _Proof(text=f"Evidence: none ({why}): no matrix record, model card or baseline\n")
    found = looked_up() if looked_up is not None else _find_evidence(cfg, head)
    return proof_of(cfg, found, head=head, new=new, tag=tag)


def proof_of(cfg: tsconfig.Config, found: Evidence, *, head: str, new: str, tag: str,
             ) -> _Proof:
    """The tag message's evidence paragraph, the model card and the baseline of `found`."""
    from torchship.release import modelcard

    baseline, rel, previous = _card_and_baseline(cfg, tag)
    if found.run is not None:
        run = found.run  # the record evidence.find read and judged
    else:
        from torchship.matrix.records import load

        run = load(found.folder)
    card = modelcard.render(modelcard.CardInput(
        name=modelcard.project_name(cfg), version=new, tag=tag, commit=head,
        run=run, reference=found.reference,
        headline=[h.metric for h in found.headline], cfg=cfg), previous, path=rel)
    return _Proof(text="\n".join(found.lines(cfg.root)) + "\n", evidence=found, card_path=rel,
                  card_new=card.encode("utf-8"), card_existed=previous is not None,
                  baseline=baseline)


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
