"""`invoke release --resume`: recover a release that stopped, from its journal and the world.

Stopped after something was published (a push started): finish it — push what the remote
lacks (images first, then the branch and tag together), verify, done. Stopped before that (a
crash, a killed process): roll it back from the journal, as a failure in the process would
have. What is already done is worked out by looking: the refs on the remote, the local refs.
"""

from __future__ import annotations

from torchship import config as tsconfig
from torchship.adapters.git import Git
from torchship.release.plan import ReleaseError, image_step
from torchship.release.steps import Journal, Out, pushed_line, rollback
from torchship.release.verify import verify


def resume(git: Git, out: Out) -> None:
    journal = Journal.load(git)
    if journal is None:
        raise ReleaseError("nothing to resume: no interrupted release in this repository",
                           hint="start one with `invoke release --part ...`")
    d = journal.data
    if not journal.publishing:
        last = journal.entries[-1]["step"] if journal.entries else "start"
        out(f"rolling back the release of {d['tag']}, which stopped at: {last}")
        done, failed = rollback(git, journal)
        for what in done:
            out(f"  ↺ {what}")
        if failed:
            raise ReleaseError(f"rollback incomplete: {'; '.join(failed)}",
                               hint="fix these by hand (git status, git tag -l), then "
                                    "`invoke release --resume` again")
        out("rolled back: the repository is as it was before the release")
        return
    tag, commit, remote, branch = d["tag"], d["commit"], d["remote"], d["branch"]
    if git.head() != commit or git.ref(f"refs/tags/{tag}") != d["tag_oid"]:
        raise ReleaseError(f"the repository no longer matches the release of {tag} "
                           f"(commit {commit[:12]})",
                           hint=f"check out {branch} at {commit[:12]} with tag "
                                f"{tag}, or delete {journal.path} after cleaning up by hand")
    cfg = tsconfig.load(git.top / d["project"])
    published = journal.published
    out(f"resuming {tag}: "
        + (f"already published: {'; '.join(published)}" if published
           else "its push was interrupted"))
    # A release records its images' digests after pushing them (before the tag): those are
    # in the registry already, and verify below checks them there.
    if d["images"] and not d.get("digests"):
        image_step(cfg).push(d["images"], lambda tag, digest: out(
            f"• pushed image {tag} {digest} (pulled back, same image)"))
    refs = git.remote_refs(remote)
    todo = []
    if refs.get(f"refs/heads/{branch}") != commit:
        todo.append(f"refs/heads/{branch}")
    if refs.get(f"refs/tags/{tag}") != d["tag_oid"]:
        todo.append(f"refs/tags/{tag}")
    if todo:
        git.push_atomic(remote, todo)
        out(pushed_line(git, journal, todo))
    else:
        out(f"• {remote} already has {branch} and {tag}: nothing pushed")
    signed = "-----BEGIN" in git.tag_body(tag)
    for line in verify(git, cfg, tag, require_signature=signed, images=d["images"]):
        out(f"  ✓ {line}")
    journal.remove()
    out(f"released {d['version']}")
