"""A real fault at every step of a release: each must leave the repository byte for byte as before.

After a failure the user reads one line saying which step failed, why, and that the
repository is back as it was. A failure after something was published undoes nothing and
`--resume` finishes the release.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship.testing import require
from torchship.testing.gitrepo import INVOKE, Project, Snapshot, remote_refs

RELEASE = ("release", "--part", "patch", "--no-images")


def _rolled_back(p: Project, *args: str, says: str, push: bool = False) -> str:
    """Run a release that must fail at some step and roll everything back."""
    p.settle()
    before = p.snapshot()
    remote_before = remote_refs(p.remote, env=p.env)
    res = p.invoke(*args, *(["--push"] if push else []))
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), res.stderr
    assert says in lines[0], res.stderr
    assert "rolled back, the repository is as it was" in lines[0], res.stderr
    assert p.snapshot().diff(before) == []
    assert remote_refs(p.remote, env=p.env) == remote_before
    assert not (p.path / ".git/torchship-release.json").exists()
    return lines[0]


def _counting_signer(p: Project, fail_at: int) -> None:
    """gpg.program that works for the first `fail_at` signatures, then exits 1."""
    count = p.tmp / "sign-count"
    signer = p.script("signer", f'n=$(cat {count} 2>/dev/null || echo 0)\n'
                                f'echo $((n + 1)) > {count}\n'
                                f'if [ "$n" -ge {fail_at} ]; then '
                                f'echo "gpg: signing failed: Card removed" >&2; exit 1; fi\n'
                                f'exec gpg "$@"\n')
    p.git("config", "gpg.program", str(signer))


@pytest.fixture
def immutable() -> Iterator[list[str]]:
    """Files made immutable with chattr +i (root ignores permissions, not this); undone after."""
    require(shutil.which("chattr") is not None, "chattr is not installed (e2fsprogs)")
    paths: list[str] = []
    yield paths
    for path in paths:
        subprocess.run(["chattr", "-i", path], check=False)


def _chattr(immutable: list[str], path: str) -> None:
    res = subprocess.run(["chattr", "+i", path], capture_output=True, text=True, check=False)
    require(res.returncode == 0, f"this file system does not support chattr +i: {res.stderr}")
    immutable.append(path)


def test_bump_fails_when_a_version_file_cannot_be_written(project: Project, package: str,
                                                          immutable: list[str]) -> None:
    _chattr(immutable, str(project.path / f"src/{package}/__init__.py"))
    _rolled_back(project, *RELEASE, says=f"bump failed: cannot write src/{package}/__init__.py: "
                                          "Operation not permitted")


def test_changelog_cannot_be_written(project: Project, immutable: list[str]) -> None:
    _chattr(immutable, str(project.path / "CHANGELOG.md"))
    _rolled_back(project, *RELEASE,
                 says="changelog failed: cannot write CHANGELOG.md: Operation not permitted")


def test_a_hooks_edits_to_other_files_are_undone_too(project: Project) -> None:
    """A pre-commit hook that formats, deletes and creates files, then fails: the rollback
    takes back its changes as well as the release's own."""
    project.hook("pre-commit", "echo '# formatted' >> README.md\nrm noxfile.py\n"
                               "echo new > notes.txt\ngit add notes.txt\n"
                               'echo "pre-commit: reformatted 3 files" >&2\nexit 1\n')
    _rolled_back(project, *RELEASE, says="commit failed: git commit failed: pre-commit: "
                                         "reformatted 3 files")


def test_commit_refused_by_a_hook(project: Project) -> None:
    project.hook("pre-commit", 'echo "pre-commit: lint failed" >&2\nexit 1\n')
    _rolled_back(project, *RELEASE,
                 says="commit failed: git commit failed: pre-commit: lint failed")


def test_signer_fails_when_signing_the_commit(project: Project) -> None:
    _counting_signer(project, fail_at=1)  # the preflight test passes, the commit's fails
    _rolled_back(project, *RELEASE, "--sign-commit",
                 says="commit failed: git commit failed: error: gpg failed to sign the data")


def test_signer_fails_when_signing_the_tag(project: Project) -> None:
    _counting_signer(project, fail_at=1)  # the preflight test passes, the tag's fails
    _rolled_back(project, *RELEASE,
                 says="tag failed: git could not sign tag v0.1.1: error: gpg failed to sign the data")


def test_tag_created_behind_the_release_s_back(project: Project) -> None:
    project.hook("post-commit", "git tag v0.1.1\n")
    project.settle()
    before = project.snapshot()
    res = project.invoke(*RELEASE)
    assert res.returncode == 1
    assert "tag failed" in res.stderr, res.stderr
    assert "already exists" in res.stderr, res.stderr
    assert "rolled back" in res.stderr
    after = project.snapshot()
    # Everything is back except the foreign tag, which is not the release's to delete.
    assert [ref for ref in after.refs if ref not in before.refs] == [
        f"refs/tags/v0.1.1 {project.git('rev-parse', 'refs/tags/v0.1.1')}"]
    assert (after.head, after.index, after.files) == (before.head, before.index, before.files)
    assert project.git("status", "--porcelain") == ""


def test_signature_does_not_verify(project: Project) -> None:
    signer = project.script("signer", 'for a in "$@"; do [ "$a" = --verify ] && '
                                      '{ echo "gpg: BAD signature" >&2; exit 1; }; done\n'
                                      'exec gpg "$@"\n')
    project.git("config", "gpg.program", str(signer))
    _rolled_back(project, *RELEASE, says="verify failed: tag v0.1.1 does not verify")


def test_remote_rejects_the_push(project: Project) -> None:
    project.hook("pre-receive", 'echo "policy: releases need review" >&2\nexit 1\n', remote=True)
    _rolled_back(project, *RELEASE, says="push failed", push=True)


def test_tag_appears_on_the_remote_during_the_push(project: Project) -> None:
    # Someone else pushes v0.1.1 just before our push: --atomic refuses both refs.
    project.hook("pre-push", f"git --git-dir={project.remote} update-ref refs/tags/v0.1.1 "
                             f"$(git --git-dir={project.remote} rev-parse refs/heads/main)\n")
    project.settle()
    before = project.snapshot()
    res = project.invoke(*RELEASE, "--push")
    assert res.returncode == 1, res.stdout
    assert "push failed" in res.stderr, res.stderr
    assert "rolled back" in res.stderr, res.stderr
    assert project.snapshot().diff(before) == []
    remote = dict(line.split(" ") for line in remote_refs(project.remote, env=project.env))
    assert remote["refs/heads/main"] == project.git("rev-parse", "HEAD")  # main not moved


@contextlib.contextmanager
def _hung_tag_signature(p: Project) -> Iterator[tuple[subprocess.Popen[str], Snapshot]]:
    """A release whose signer signs the preflight test, then hangs on the tag's signature;
    with the repository's snapshot from before it started."""
    count, started, pid = (p.tmp / n for n in ("count", "started", "pid"))
    signer = p.script("signer", f'n=$(cat {count} 2>/dev/null || echo 0)\n'
                                f'echo $((n + 1)) > {count}\n'
                                f'if [ "$n" -ge 1 ]; then echo $$ > {pid}; touch {started};'
                                f' exec sleep 60; fi\nexec gpg "$@"\n')
    p.git("config", "gpg.program", str(signer))
    p.settle()
    before = p.snapshot()
    proc = subprocess.Popen([*INVOKE, *RELEASE], cwd=p.path, env=p.env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if started.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert started.exists(), proc.communicate()
        yield proc, before
    finally:
        if pid.exists():
            subprocess.run(["kill", pid.read_text().strip()], check=False)
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_interrupted_while_signing_the_tag(project: Project, sig: signal.Signals) -> None:
    with _hung_tag_signature(project) as (proc, before):
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip() == "error: interrupted; rolled back, the repository is as it was"
    assert project.snapshot().diff(before) == []


def test_killed_mid_release_then_resume_rolls_it_back(project: Project, package: str) -> None:
    # SIGKILL: no handler runs, nothing is undone in the process. The journal it wrote
    # before each step is all that is left, and --resume rolls the release back from it.
    with _hung_tag_signature(project) as (proc, before):
        proc.kill()
        proc.wait(timeout=60)
    assert project.git("log", "-1", "--format=%s") == "Release 0.1.1"  # left half-done
    journal = json.loads((project.path / ".git/torchship-release.json").read_text())
    assert [e["step"] for e in journal["steps"]] == ["bump", "changelog", "commit", "tag"]
    again = project.invoke(*RELEASE)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "error: the release of v0.1.1 stopped before it finished "
        f"({project.path / '.git/torchship-release.json'} is left) "
        "(`invoke release --resume` rolls it back)")
    resumed = project.invoke("release", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines() == [
        "rolling back the release of v0.1.1, which stopped at: tag",
        "  ↺ restored the index", "  ↺ removed the release commit from main",
        "  ↺ restored CHANGELOG.md", f"  ↺ restored src/{package}/__init__.py",
        "  ↺ restored pyproject.toml",
        "rolled back: the repository is as it was before the release"]
    assert project.snapshot().diff(before) == []
    project.git("config", "--unset", "gpg.program")  # the signer works again
    assert project.invoke(*RELEASE).returncode == 0  # and the release can be made again


def test_published_then_connection_lost_then_resume(project: Project) -> None:
    # The remote commits both refs, then its receive-pack dies before answering: the push
    # "fails", yet the release is published. Nothing may be undone; --resume finishes.
    project.hook("reference-transaction",
                 'if [ "$1" = committed ] && [ ! -e dropped ]; then touch dropped; '
                 'kill -9 $PPID; fi\n', remote=True)
    res = project.invoke(*RELEASE, "--push")
    assert res.returncode == 3, (res.stdout, res.stderr)
    line = res.stderr.strip()
    assert line.startswith("error: push failed after publishing (origin/main at "), line
    assert "tag v0.1.1 on origin" in line
    assert "nothing was undone" in line
    assert "invoke release --resume" in line
    state = json.loads((project.path / ".git/torchship-release.json").read_text())
    assert state["tag"] == "v0.1.1"
    assert project.git("describe", "--exact-match") == "v0.1.1"
    again = project.invoke(*RELEASE)
    assert again.returncode == 1
    assert "half-published" in again.stderr
    resumed = project.invoke("release", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "origin already has main and v0.1.1" in resumed.stdout
    assert "released 0.1.1" in resumed.stdout
    assert not (project.path / ".git/torchship-release.json").exists()


def test_remote_vanishes_mid_push_then_resume(project: Project) -> None:
    # The remote stores the refs, then disappears before anyone can ask what it has: the
    # release cannot know whether it is published, so it undoes nothing and says so.
    gone = project.tmp / "remote-gone.git"
    project.hook("reference-transaction",
                 f'if [ "$1" = committed ] && [ ! -e {gone} ]; then '
                 f'mv {project.remote} {gone}; kill -9 $PPID; fi\n', remote=True)
    res = project.invoke(*RELEASE, "--push")
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert "possibly origin/main and tag v0.1.1 (origin does not answer" in res.stderr
    assert "nothing was undone" in res.stderr
    assert project.git("describe", "--exact-match") == "v0.1.1"
    gone.rename(project.remote)  # the server is back
    resumed = project.invoke("release", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "origin already has main and v0.1.1" in resumed.stdout


def test_an_incomplete_rollback_is_finished_by_resume(project: Project, package: str,
                                                      immutable: list[str]) -> None:
    # The commit makes a version file immutable behind the release's back (a hook), then
    # the tag's signature fails: the rollback cannot restore that file, says so, and keeps
    # its journal; once the file can be written again, --resume finishes the rollback.
    target = project.path / f"src/{package}/__init__.py"
    probe = project.tmp / "probe"
    probe.write_text("")
    _chattr(immutable, str(probe))  # skips where this file system has no chattr +i
    immutable.append(str(target))  # the fixture makes it writable again at the end
    project.hook("post-commit", f"chattr +i {target}\n")
    _counting_signer(project, fail_at=1)
    project.settle()
    before = project.snapshot()
    res = project.invoke(*RELEASE)
    assert res.returncode == 1, res.stdout
    line = res.stderr.strip()
    assert line.startswith("error: tag failed: git could not sign tag v0.1.1"), line
    assert (f"rollback incomplete: undo bump: cannot write src/{package}/__init__.py: "
            "Operation not permitted") in line
    assert "`invoke release --resume` finishes the rollback" in line
    subprocess.run(["chattr", "-i", str(target)], check=True)
    assert "stopped before it finished" in project.invoke(*RELEASE).stderr
    resumed = project.invoke("release", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"  ↺ restored src/{package}/__init__.py" in resumed.stdout
    assert project.snapshot().diff(before) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A small file system of its own (tmpfs, 64 MiB), so that a test can fill it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)],
                         capture_output=True, text=True, check=False)
    require(res.returncode == 0, f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_mid_release_is_rolled_back_completely(project: Project,
                                                            small_disk: Path) -> None:
    """The disk fills up while the release commits (a hook fills it): the rollback needs no
    new space (the index comes back by renaming its copy) and leaves nothing staged."""
    repo = small_disk / "repo"
    shutil.copytree(project.path, repo, symlinks=True)
    on_disk = Project(repo, project.remote, project.env, project.tmp)
    fill = small_disk / "fill"
    on_disk.hook("pre-commit", f"dd if=/dev/zero of={fill} bs=1M >/dev/null 2>&1\nexit 0\n")
    on_disk.settle()
    before = on_disk.snapshot()
    res = on_disk.invoke(*RELEASE)
    full = shutil.disk_usage(small_disk).free
    fill.unlink()
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert full < 1024 * 1024, "the hook did not fill the disk"
    assert "rolled back, the repository is as it was" in res.stderr, res.stderr
    assert on_disk.snapshot().diff(before) == []
    assert on_disk.git("status", "--porcelain") == ""


def test_a_full_disk_as_git_writes_the_commit_message_says_the_disk_is_full(
        project: Project, small_disk: Path) -> None:
    """With no COMMIT_EDITMSG to reuse the space of, git's write of the message fails on the
    full disk, it reads the file back empty and says "Aborting commit due to empty commit
    message": the release says what happened instead."""
    repo = small_disk / "repo"
    shutil.copytree(project.path, repo, symlinks=True)
    (repo / ".git/COMMIT_EDITMSG").unlink()
    on_disk = Project(repo, project.remote, project.env, project.tmp)
    fill = small_disk / "fill"
    on_disk.hook("pre-commit", f"dd if=/dev/zero of={fill} bs=1M >/dev/null 2>&1\nexit 0\n")
    on_disk.settle()
    before = on_disk.snapshot()
    res = on_disk.invoke(*RELEASE)
    fill.unlink()
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "error: commit failed: git commit failed: the disk is full (" in res.stderr, res.stderr
    assert "empty commit message" not in res.stderr, res.stderr
    assert "rolled back, the repository is as it was" in res.stderr, res.stderr
    assert on_disk.snapshot().diff(before) == []


def test_killed_before_the_push_then_resume_says_what_it_pushed(project: Project) -> None:
    # The release dies (SIGKILL) as its git push starts, before anything leaves: --resume
    # finishes it, and its output names the remote and each ref it changed there.
    project.hook("pre-push", 'kill -9 "$(cut -d" " -f4 /proc/$PPID/stat)"; exit 1\n')
    remote_before = remote_refs(project.remote, env=project.env)
    res = project.invoke(*RELEASE, "--push")
    assert res.returncode == -signal.SIGKILL, (res.stdout, res.stderr)
    assert remote_refs(project.remote, env=project.env) == remote_before
    (project.path / ".git/hooks/pre-push").unlink()
    resumed = project.invoke("release", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    commit, tag = project.git("rev-parse", "HEAD"), project.git("rev-parse", "refs/tags/v0.1.1")
    assert resumed.stdout.splitlines()[:2] == [
        "resuming v0.1.1: its push was interrupted",
        f"• git push --atomic to origin ({project.remote}): branch main at {commit[:12]}, "
        f"tag v0.1.1 (tag object {tag[:12]} of {commit[:12]})"]
    refs = dict(line.split(" ") for line in remote_refs(project.remote, env=project.env))
    assert (refs["refs/heads/main"], refs["refs/tags/v0.1.1"]) == (commit, tag)
    assert not (project.path / ".git/torchship-release.json").exists()


def test_a_tag_signed_by_a_key_not_in_the_keyring_says_so(project: Project) -> None:
    """gpg's own reason (no public key), not the tag message's last line nor gpg's chatter."""
    ok = project.invoke(*RELEASE)
    assert ok.returncode == 0, ok.stderr
    empty = project.tmp / "empty-gnupg"
    empty.mkdir(mode=0o700)
    stranger = Project(project.path, project.remote, {**project.env, "GNUPGHOME": str(empty)},
                       project.tmp)
    res = stranger.invoke("release.verify", "v0.1.1")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: tag v0.1.1 does not verify: gpg: Can't check "
                               "signature: No public key"), res.stderr
