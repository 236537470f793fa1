"""Stops the release cannot undo blindly: an interrupt while `git push` runs (the remote decides
what happened), a `--resume` after the user moved on, and a journal the tool did not write.

Each is the real thing: a bare remote whose pre-receive hook blocks until the test decides, the
release run as a user runs it (a subprocess of its own, signalled alone or as a whole process
group, as a terminal's Ctrl-C does), and the repository and the remote compared afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship.testing import one_error
from torchship.testing.gitrepo import INVOKE, Project, Snapshot, remote_refs

RELEASE = ("release", "--part", "patch", "--no-images")
JOURNAL = ".git/torchship-release.json"


def _refs(p: Project) -> dict[str, str]:
    return dict(line.split(" ") for line in remote_refs(p.remote, env=p.env))


@contextlib.contextmanager
def _held_push(p: Project) -> Iterator[tuple[subprocess.Popen[str], Path, Snapshot]]:
    """A release with --push whose remote holds the push in its pre-receive hook until the
    test writes the hook's exit status (0: take it, 1: refuse it) to the returned file; with
    the repository's snapshot from just before it started.

    The release runs in a process group of its own, as a command started from a shell does;
    the remote's receive-pack runs in a session of its own (`setsid`), as on a server: a
    signal to the release's group does not reach it.
    """
    started, decision = p.tmp / "hook-started", p.tmp / "hook-decision"
    p.hook("pre-receive", f"touch {started}\n"
                          f'while [ ! -e {decision} ]; do sleep 0.05; done\n'
                          f'exit "$(cat {decision})"\n', remote=True)
    # In the global config (the test's own HOME): .git/config stays byte for byte the same.
    p.git("config", "--global", "remote.origin.receivepack", "setsid git receive-pack")
    p.settle()
    before = p.snapshot()
    proc = subprocess.Popen([*INVOKE, *RELEASE, "--push"], cwd=p.path, env=p.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        for _ in range(1200):
            if started.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert started.exists(), proc.communicate()
        yield proc, decision, before
    finally:
        if not decision.exists():
            decision.write_text("1")
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def _decide(decision: Path, status: int) -> None:
    time.sleep(0.5)  # the release has taken the signal by now (it is delivered at once)
    decision.write_text(str(status))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_an_interrupt_during_the_push_that_the_remote_takes_finishes_the_release(
        project: Project, sig: signal.Signals) -> None:
    """Defect 1: the remote takes the push after the interrupt. The release is published, so
    it is finished and said to be, never reported as rolled back."""
    with _held_push(project) as (proc, decision, _):
        proc.send_signal(sig)
        _decide(decision, 0)
        out, err = proc.communicate(timeout=120)
    assert "rolled back" not in out + err, (out, err)
    assert proc.returncode == 0, (out, err)
    assert "interrupted during the push, but origin had taken it" in out, out
    assert "released 0.1.1" in out
    # Both sides hold the release: the remote's refs are the local ones, and nothing is left.
    local_commit = project.git("rev-parse", "HEAD")
    local_tag = project.git("rev-parse", "refs/tags/v0.1.1")
    assert project.git("log", "-1", "--format=%s") == "Release 0.1.1"
    refs = _refs(project)
    assert (refs["refs/heads/main"], refs["refs/tags/v0.1.1"]) == (local_commit, local_tag)
    assert not (project.path / JOURNAL).exists()
    assert project.git("status", "--porcelain") == ""


def test_an_interrupt_during_a_push_the_remote_refuses_rolls_back_truthfully(
        project: Project) -> None:
    remote_before = remote_refs(project.remote, env=project.env)
    with _held_push(project) as (proc, decision, before):
        proc.send_signal(signal.SIGTERM)
        _decide(decision, 1)
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip() == "error: interrupted; rolled back, the repository is as it was"
    assert remote_refs(project.remote, env=project.env) == remote_before
    assert project.snapshot().diff(before) == []


def test_a_second_interrupt_stops_waiting_and_keeps_the_journal_for_resume(
        project: Project) -> None:
    """Stopped before the remote answered, the release cannot know whether it is published:
    it undoes nothing and keeps its journal. The remote then takes the push; --resume sees
    that and finishes without pushing again."""
    with _held_push(project) as (proc, decision, _):
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 3, (out, err)
        assert err.strip().startswith("error: interrupted during the push, before origin "
                                      "answered: it does not show main and v0.1.1 now, but "
                                      "may still take them; nothing was undone"), err
        assert "rolled back" not in out + err
        assert (project.path / JOURNAL).exists()
        assert project.git("log", "-1", "--format=%s") == "Release 0.1.1"
        decision.write_text("0")  # the server, still holding the pushed refs, takes them
        for _ in range(200):
            if "refs/tags/v0.1.1" in _refs(project):
                break
            time.sleep(0.05)
    assert "half-published" in project.invoke(*RELEASE).stderr
    resumed = project.invoke("release", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines() == [
        "resuming v0.1.1: its push was interrupted",
        "• origin already has main and v0.1.1: nothing pushed",
        "released 0.1.1"]
    refs = _refs(project)
    assert refs["refs/heads/main"] == project.git("rev-parse", "HEAD")
    assert refs["refs/tags/v0.1.1"] == project.git("rev-parse", "refs/tags/v0.1.1")
    assert not (project.path / JOURNAL).exists()


@pytest.mark.parametrize("status", [1, 0])
def test_ctrl_c_to_the_whole_process_group_during_the_push(project: Project,
                                                           status: int) -> None:
    """Defect 6: Ctrl-C reaches every process of the terminal's group (git push, git's
    persistent cat-file). The push still ends with the remote's answer, and the rollback
    after a refusal runs to its end: no child of the release died with the signal."""
    remote_before = remote_refs(project.remote, env=project.env)
    with _held_push(project) as (proc, decision, before):
        os.killpg(proc.pid, signal.SIGINT)
        _decide(decision, status)
        out, err = proc.communicate(timeout=120)
    assert "rollback incomplete" not in err, err
    if status:  # refused: nothing left the machine, all of it is undone
        assert proc.returncode == 130, (out, err)
        assert err.strip() == "error: interrupted; rolled back, the repository is as it was"
        assert remote_refs(project.remote, env=project.env) == remote_before
        assert project.snapshot().diff(before) == []
    else:  # taken: published, so finished
        assert proc.returncode == 0, (out, err)
        assert "released 0.1.1" in out
        refs = _refs(project)
        assert refs["refs/tags/v0.1.1"] == project.git("rev-parse", "refs/tags/v0.1.1")
        assert refs["refs/heads/main"] == project.git("rev-parse", "HEAD")
        assert not (project.path / JOURNAL).exists()


# -- --resume after a SIGKILL -----------------------------------------------------------------


def _killed_after_the_commit(p: Project) -> Snapshot:
    """A release SIGKILLed while its tag is being signed (the commit step done): what a
    power cut or an OOM kill leaves. The signer works again afterwards. Returns the
    repository's snapshot from just before the release started."""
    count, started = p.tmp / "count", p.tmp / "started"
    signer = p.script("signer", f'n=$(cat {count} 2>/dev/null || echo 0)\n'
                                f'echo $((n + 1)) > {count}\n'
                                f'if [ "$n" -ge 1 ]; then touch {started}; exec sleep 60; fi\n'
                                f'exec gpg "$@"\n')
    p.git("config", "--global", "gpg.program", str(signer))  # .git/config stays as it was
    p.settle()
    before = p.snapshot()
    proc = subprocess.Popen([*INVOKE, *RELEASE], cwd=p.path, env=p.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        for _ in range(1200):
            if started.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert started.exists(), proc.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the release and its hanging signer
        proc.communicate()
    p.git("config", "--global", "--unset", "gpg.program")
    assert p.git("log", "-1", "--format=%s") == "Release 0.1.1"
    assert (p.path / JOURNAL).exists()
    return before


@pytest.mark.parametrize(("move", "says"), [
    ("commit", "main moved: it is at {head} ('my own work'), not at the release commit "
               "{release} where the release stopped"),
    ("switch", "HEAD moved: it is on branch 'elsewhere', not on main where the release "
               "stopped"),
    ("stage", "the index changed since the release stopped (staged: notes.txt)"),
])
def test_resume_refuses_when_the_user_moved_on(project: Project, move: str, says: str) -> None:
    """Defect 2: after the SIGKILL the user works on. --resume must not roll back under
    them: it refuses in one line that says what moved, and changes nothing."""
    before = _killed_after_the_commit(project)
    release = project.git("rev-parse", "HEAD")
    if move == "commit":
        project.commit("notes.txt", "mine\n", "my own work")
    elif move == "switch":
        project.git("switch", "-q", "-c", "elsewhere")
    else:
        (project.path / "notes.txt").write_text("mine\n")
        project.git("add", "notes.txt")
    project.settle()
    moved = project.snapshot()
    res = project.invoke("release", "--resume")
    line = one_error(res)
    head = project.git("rev-parse", "HEAD")
    assert line.startswith("error: cannot resume the release of v0.1.1: "), line
    assert says.format(head=head[:12], release=release[:12]) in line, line
    assert project.snapshot().diff(moved) == []
    if move == "switch":  # back where the release stopped: --resume rolls it back
        project.git("switch", "-q", "main")
        project.git("branch", "-q", "-D", "elsewhere")
        resumed = project.invoke("release", "--resume")
        assert resumed.returncode == 0, resumed.stderr
        # Deleting the test's own branch made git rewrite packed-refs (the refs themselves
        # are compared one by one); everything else is byte for byte as before the release.
        diff = project.snapshot().diff(before)
        assert [d for d in diff if d != "git_files packed-refs differs"] == [], diff


# -- journals the tool did not write ----------------------------------------------------------


def _entry(journal: dict[str, object], step: str) -> dict[str, object]:
    steps = journal["steps"]
    assert isinstance(steps, list)
    return next(e for e in steps if e["step"] == step)


@pytest.mark.parametrize("target", ["../x", "/tmp/torchship-journal-escape",
                                    ".git/hooks/post-checkout", "src/../../x"])
def test_a_journal_cannot_make_resume_write_outside_the_work_tree(project: Project,
                                                                  target: str) -> None:
    """Defect 3: the files a journal restores stay inside the work tree, outside .git."""
    _killed_after_the_commit(project)
    path = project.path / JOURNAL
    journal = json.loads(path.read_text())
    files = _entry(journal, "bump")["undo"]
    assert isinstance(files, dict)
    files["files"][target] = {"mode": 0o100755,
                              "bytes": base64.b64encode(b"#!/bin/sh\necho owned\n").decode()}
    path.write_text(json.dumps(journal))
    project.settle()
    before = project.snapshot()
    written = (project.path / target).resolve()
    written.unlink(missing_ok=True)
    line = one_error(project.invoke("release", "--resume"))
    assert "is not a journal this torchship can use" in line, line
    assert f"{target!r}, which is outside the work tree or inside .git" in line, line
    assert not written.exists()
    assert project.snapshot().diff(before) == []


def test_a_journal_cannot_make_resume_delete_a_folder_outside_the_work_tree(
        project: Project, tmp_path: Path) -> None:
    _killed_after_the_commit(project)
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "data").write_text("keep me\n")
    path = project.path / JOURNAL
    journal = json.loads(path.read_text())
    journal["steps"].insert(-1, {"step": "baseline", "done": True, "result": {},
                                 "undo": {"folder": str(keep), "dirs": []}})
    path.write_text(json.dumps(journal))
    line = one_error(project.invoke("release", "--resume"))
    assert f"{str(keep)!r}, which is outside the work tree or inside .git" in line, line
    assert (keep / "data").read_text() == "keep me\n"


def test_a_journal_naming_the_users_commit_does_not_remove_it(project: Project) -> None:
    """Defect 3: a commit is undone only if it is the release commit the journal describes
    (its parent, subject and tree), never because a journal names it."""
    head = project.git("rev-parse", "HEAD")
    project.commit("notes.txt", "mine\n", "my own work")
    mine = project.git("rev-parse", "HEAD")
    journal = {"version": "0.1.1", "tag": "v0.1.1", "branch": "main", "remote": "origin",
               "project": "", "head": head, "commit": mine, "tag_oid": "", "images": [],
               "published": [], "steps": [
                   {"step": "commit", "done": True, "result": {"commit": mine},
                    "undo": {"ref": "refs/heads/main", "head": head, "index": True,
                             "subject": "my own work", "editmsg": False}}]}
    (project.path / JOURNAL).write_text(json.dumps(journal))
    project.settle()
    before = project.snapshot()
    line = one_error(project.invoke("release", "--resume"))
    assert f"commit {mine[:12]} is not the release commit the journal describes" in line, line
    assert project.git("rev-parse", "HEAD") == mine
    assert project.snapshot().diff(before) == []


@pytest.mark.parametrize("field", ["signatures", "images"])
def test_a_journal_cannot_make_resume_remove_what_is_not_the_releases(
        project: Project, tmp_path: Path, field: str) -> None:
    """A rollback deletes signature files and removes images: only the project's own, never
    a file or an image a journal merely names."""
    _killed_after_the_commit(project)
    keep = tmp_path / "id_ed25519"
    keep.write_text("a key\n")
    path = project.path / JOURNAL
    journal = json.loads(path.read_text())
    if field == "signatures":
        journal["signatures"] = [str(keep)]
        journal["steps"].insert(-1, {"step": "sign images", "done": True, "result": {},
                                     "undo": {}})
    else:  # a name no engine here has: nothing could be removed even by a faulty rollback
        journal["images"] = ["torchship-test-not-ours:16"]
        journal["steps"].insert(-1, {"step": "images", "done": True,
                                     "result": {"built": ["torchship-test-not-ours:16"]},
                                     "undo": {"planned": ["torchship-test-not-ours:16"]}})
    path.write_text(json.dumps(journal))
    project.settle()
    before = project.snapshot()
    line = one_error(project.invoke("release", "--resume"))
    assert "is not a journal this torchship can use: it names the " in line, line
    assert (f"signature file {str(keep)!r}" if field == "signatures"
            else "image 'torchship-test-not-ours:16', which is not one of this release's"
            ) in line, line
    assert keep.read_text() == "a key\n"
    assert project.snapshot().diff(before) == []
