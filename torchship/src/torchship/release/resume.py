"""`invoke release --resume`: recover a release that stopped, from its journal and the world.

First, the repository must be where the release stopped: HEAD on the release's branch, at the
commit the journal left, the index unchanged, the tag (once made) the release's. Anything
else is the user's work since, and resuming would undo it: refused, saying what moved.

Stopped after the push started: only the remote knows what landed, so the planned steps from
the last finished one run again (steps.finish): the push pushes what the remote lacks. Stopped
before that (a crash, a killed process): roll it back from the journal, as a failure in the
process would have.
"""

from __future__ import annotations

from torchship import config as tsconfig
from torchship.adapters.git import Git
from torchship.release.plan import ReleaseError
from torchship.release.steps import (
    BY_HAND,
    Commit,
    Journal,
    Out,
    finish,
    not_the_release_commit,
    rollback,
)


def resume(git: Git, out: Out) -> None:
    journal = Journal.load(git)
    if journal is None:
        raise ReleaseError("nothing to resume: no interrupted release in this repository",
                           hint="start one with `invoke release --part ...`")
    d = journal.data
    # Images and signatures are outside the repository: checked against the project's own.
    cfg = tsconfig.load(git.top / d.project) if d.images or d.digests or d.signatures else None
    foreign = cfg and journal.foreign(cfg)
    if foreign:
        raise ReleaseError(f"{journal.path} is not a journal this torchship can use: {foreign}",
                           hint=BY_HAND)
    problem = moved(git, journal)
    if problem:
        raise ReleaseError(f"cannot resume the release of {d.tag}: {problem}",
                           hint="put the repository back where the release stopped, or "
                                f"delete {journal.path} after cleaning up by hand")
    if not journal.publishing:
        last = journal.entries[-1].step if journal.entries else "start"
        out(f"rolling back the release of {d.tag}, which stopped at: {last}")
        done, failed = rollback(git, journal)
        for what in done:
            out(f"  ↺ {what}")
        if failed:
            raise ReleaseError(f"rollback incomplete: {'; '.join(failed)}",
                               hint="fix these by hand (git status, git tag -l), then "
                                    "`invoke release --resume` again")
        out("rolled back: the repository is as it was before the release")
        return
    cfg = cfg or tsconfig.load(git.top / d.project)
    published = journal.published
    out(f"resuming {d.tag}: "
        + (f"already published: {'; '.join(published)}" if published
           else "its push was interrupted"))
    finish(git, cfg, journal, out)
    journal.remove()
    out(f"released {d.version}")


def moved(git: Git, journal: Journal) -> str | None:
    """What in the repository is no longer where the release stopped, in a few words, or None.

    The branch must be checked out; it must point at the release's starting commit (no commit
    made yet) or at the release commit the journal describes (once made); the index must hold
    that commit's tree; and the tag, once the journal records it, must be the release's.
    A rollback that stopped half-way may have put the branch back already.
    """
    d = journal.data
    branch = git.branch()
    if branch != d.branch:
        where = f"on branch {branch!r}" if branch else "detached"
        return f"HEAD moved: it is {where}, not on {d.branch} where the release stopped"
    head = git.head() or ""
    commit = journal.entry(Commit.name)
    made = commit is not None and (commit.done or bool(d.commit) or head != d.head)
    expected = {d.commit or head} if made else {d.head}
    if d.rolling_back or (commit is not None and not commit.done):
        expected.add(d.head)  # not made yet, or already removed again
    if head not in expected:
        info = git.commit_info(head)
        subject = f" ({info.subject!r})" if info else ""
        want = (f"the release commit {d.commit[:12]}" if made and d.commit
                else d.head[:12])
        return (f"{d.branch} moved: it is at {head[:12]}{subject}, not at {want} where the "
                "release stopped")
    if head != d.head:
        why = not_the_release_commit(git, journal, head)
        if why:
            return f"commit {head[:12]} is not the release commit the journal describes ({why})"
    if commit is None or commit.done or d.rolling_back:
        staged = git.staged(head)
        if staged and d.rolling_back and head != d.head:
            staged = git.staged(d.head)  # the rollback restored the index, not yet the branch
        if staged:
            return ("the index changed since the release stopped (staged: "
                    f"{', '.join(staged[:3])}{', ...' if len(staged) > 3 else ''})")
    if journal.publishing and d.tag_oid and git.ref(f"refs/tags/{d.tag}") != d.tag_oid:
        return f"tag {d.tag} is no longer the one the release made ({d.tag_oid[:12]})"
    return None
