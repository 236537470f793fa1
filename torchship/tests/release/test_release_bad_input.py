"""Every bad input: one clear line, a non-zero exit, and the repository byte for byte as before."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from torchship.testing import require
from torchship.testing.gitrepo import INVOKE, Project, git, snapshot

RELEASE = ("release", "--part", "patch", "--no-images")


def _changelog(p: Project) -> str:
    return (p.path / "CHANGELOG.md").read_text()


def test_dirty_tree(project: Project, package: str) -> None:
    (project.path / f"src/{package}/__init__.py").write_text('__version__ = "0.1.0"\n# edit\n')
    project.refused(*RELEASE, says=f"uncommitted changes: src/{package}/__init__.py")


def test_staged_change(project: Project) -> None:
    (project.path / "noxfile.py").write_text("# staged\n")
    project.git("add", "noxfile.py")
    project.refused(*RELEASE, says="uncommitted changes: noxfile.py")


def test_untracked_file(project: Project) -> None:
    (project.path / "notes.txt").write_text("not committed\n")
    project.refused(*RELEASE, says="untracked files would be released: notes.txt")


def test_wrong_branch(project: Project) -> None:
    project.git("switch", "-q", "-c", "feature")
    project.refused(*RELEASE, says="on branch 'feature', not the release branch 'main'")


def test_detached_head(project: Project) -> None:
    project.git("checkout", "-q", "--detach")
    project.refused(*RELEASE, says="HEAD is detached")


def test_behind_the_remote(project: Project, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(project.remote), str(other), env=project.env)
    git(other, "-c", "user.name=O", "-c", "user.email=o@x.invalid", "commit", "-q",
        "--allow-empty", "-m", "someone else's work", env=project.env)
    git(other, "push", "-q", "origin", "main", env=project.env)
    project.refused(*RELEASE, says="main is behind origin/main")


def test_tag_exists_locally(project: Project) -> None:
    project.git("tag", "v0.1.1")
    project.refused(*RELEASE, says="tag v0.1.1 already exists")


def test_tag_exists_on_the_remote(project: Project) -> None:
    git(project.remote, "tag", "v0.1.1", "main", env=project.env)
    project.refused(*RELEASE, says="tag v0.1.1 already exists on origin")


def test_empty_unreleased(project: Project) -> None:
    log = _changelog(project)
    start = log.index("## [Unreleased]") + len("## [Unreleased]\n")
    project.commit("CHANGELOG.md", log[:start] + "\n" + log[log.index("[unreleased]:"):])
    project.refused(*RELEASE, says="[Unreleased] has no entries")


def test_missing_unreleased(project: Project) -> None:
    project.commit("CHANGELOG.md", _changelog(project).replace("## [Unreleased]\n", ""))
    project.refused(*RELEASE, says="no `## [Unreleased]` section")


def test_missing_changelog(project: Project) -> None:
    project.git("rm", "-q", "CHANGELOG.md")
    project.git("commit", "-q", "-m", "no changelog")
    project.refused(*RELEASE, says="CHANGELOG.md: not found")


def test_malformed_changelog(project: Project) -> None:
    log = _changelog(project).replace("## [Unreleased]", "## [Unreleased]\n\n- x\n\n## 0.0.9")
    project.commit("CHANGELOG.md", log)
    project.refused(*RELEASE, says="is neither `## [Unreleased]` nor `## [X.Y.Z] - YYYY-MM-DD`")


def test_versions_disagree(project: Project, package: str) -> None:
    project.commit(f"src/{package}/__init__.py", '__version__ = "0.0.9"\n')
    project.refused(*RELEASE, says="versions disagree")


def test_project_version_disagrees(project: Project) -> None:
    text = (project.path / "pyproject.toml").read_text()
    project.commit("pyproject.toml", text.replace('\nversion = "0.1.0"', '\nversion = "0.1.5"'))
    project.refused(*RELEASE, says="pyproject.toml [project] version is 0.1.5")


@pytest.mark.parametrize("part", ["huge", "Patch", ""])
def test_invalid_part(project: Project, part: str) -> None:
    project.refused("release", "--part", part, "--no-images", says="is not one of major")


def test_missing_part(project: Project) -> None:
    project.refused("release", "--no-images", says="--part is required")


@pytest.mark.parametrize("label", ["beta", "dev", "RC", "rc1"])
def test_invalid_pre_label(project: Project, label: str) -> None:
    project.refused(*RELEASE, "--pre", label, says=f"{label!r} is not a pre-release label")


def test_no_signing_key(project: Project) -> None:
    project.git("config", "user.signingkey", "0000000000000000000000000000000000000000")
    project.refused(*RELEASE, says="signing does not work (openpgp, key 0000")


def test_failing_signer(project: Project) -> None:
    signer = project.script("signer", 'echo "signer: no card inserted" >&2\nexit 1\n')
    project.git("config", "gpg.program", str(signer))
    project.refused(*RELEASE, says="signing does not work")


def test_no_git_identity(project: Project) -> None:
    project.git("config", "--unset", "user.name")
    project.git("config", "--unset", "user.email")
    project.git("config", "user.useConfigOnly", "true")
    project.refused(*RELEASE, says="git has no identity")


def test_not_a_git_repository(project: Project) -> None:
    shutil.rmtree(project.path / ".git")
    before = snapshot(project.path, env=project.env)
    res = project.invoke(*RELEASE)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert "is not inside a git repository" in res.stderr
    assert snapshot(project.path, env=project.env).diff(before) == []


def test_second_release_while_one_runs(project: Project) -> None:
    started, fifo = project.tmp / "started", project.tmp / "go"
    os.mkfifo(fifo)
    # The first release's signer blocks (holding the lock) until the test lets it go.
    signer = project.script("signer", f'if [ ! -e {started} ]; then touch {started}; '
                                      f'cat {fifo} >/dev/null; fi\nexec gpg "$@"\n')
    project.git("config", "gpg.program", str(signer))
    project.settle()
    first = subprocess.Popen([*INVOKE, *RELEASE], cwd=project.path,
                             env=project.env, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if started.exists() or first.poll() is not None:
                break
            time.sleep(0.05)
        assert started.exists(), first.communicate()
        project.refused(*RELEASE, says="another release is running in this repository")
    finally:
        with fifo.open("w"):
            pass
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "released 0.1.1" in out


def test_resume_with_nothing_to_resume(project: Project) -> None:
    project.refused("release", "--resume", says="nothing to resume")


def test_pre_label_going_backwards(project: Project) -> None:
    ok = project.invoke("release", "--part", "minor", "--pre", "rc", "--no-images", "--no-sign")
    assert ok.returncode == 0, ok.stderr
    log = (project.path / "CHANGELOG.md").read_text()
    project.commit("CHANGELOG.md", log.replace("## [Unreleased]\n", "## [Unreleased]\n- y\n", 1))
    project.refused("release", "--pre", "a", "--no-images", says="a comes before rc")


# -- a git operation in progress: the release commit must never conclude or hide it --------

def _side_branch(project: Project) -> None:
    """A branch `side` one empty commit ahead of main (main checked out again)."""
    project.git("switch", "-q", "-c", "side")
    project.git("commit", "-q", "--allow-empty", "-m", "side work")
    project.git("switch", "-q", "main")


def test_a_staged_merge_with_a_clean_tree(project: Project) -> None:
    _side_branch(project)
    project.git("merge", "-q", "--no-ff", "--no-commit", "side")
    assert project.git("status", "--porcelain") == ""  # nothing for the dirty check
    project.refused(*RELEASE, says="a merge is in progress in this repository")


def test_a_stopped_rebase_with_the_branch_checked_out_again(project: Project) -> None:
    project.git("commit", "-q", "--allow-empty", "-m", "to rebase")
    env = {**project.env, "GIT_SEQUENCE_EDITOR": "sed -i '1i break'"}
    git(project.path, "rebase", "-q", "-i", "HEAD~1", env=env)
    assert (project.path / ".git" / "rebase-merge").is_dir()
    project.git("checkout", "-q", "main")  # `git switch` refuses here; checkout does not
    project.refused(*RELEASE, says="a rebase is in progress in this repository")


def test_a_bisect(project: Project) -> None:
    project.git("bisect", "start")
    project.refused(*RELEASE, says="a bisect is in progress in this repository")


def test_a_cherry_pick_that_stopped_on_a_conflict(project: Project) -> None:
    project.git("switch", "-q", "-c", "side")
    project.commit("CHANGELOG.md", _changelog(project) + "side\n", "side edit")
    project.git("switch", "-q", "main")
    project.commit("CHANGELOG.md", _changelog(project) + "main\n", "main edit")
    stopped = subprocess.run(["git", "cherry-pick", "side"], cwd=project.path, env=project.env,
                             capture_output=True, text=True, check=False)
    assert stopped.returncode != 0
    assert (project.path / ".git" / "CHERRY_PICK_HEAD").exists()
    project.git("checkout", "HEAD", "--", "CHANGELOG.md")  # a clean tree: only the state is left
    project.refused(*RELEASE, says="a cherry-pick is in progress in this repository")


# -- configuration that would fail after the commit, or write outside the project -------------

def _release_table(project: Project, body: str) -> None:
    text = (project.path / "pyproject.toml").read_text()
    # Into the table the fixture's policy opened (evidence = false): TOML has one per name.
    table = "[tool.torchship.release]\n"
    project.commit("pyproject.toml", text.replace(table, f"{table}{body}\n"))


@pytest.mark.parametrize("prefix", ["-", "v 1", "v..", "v~"])
def test_a_tag_prefix_git_cannot_use(project: Project, prefix: str) -> None:
    _release_table(project, f'tag_prefix = "{prefix}"')
    project.refused(*RELEASE, says=f"tag_prefix {prefix!r} makes the tag")


@pytest.mark.parametrize("path", ["../outside.md", "/tmp/CHANGELOG.md", ""])
def test_a_changelog_outside_the_project(project: Project, path: str) -> None:
    _release_table(project, f'changelog = "{path}"')
    project.refused(*RELEASE, says="tool.torchship.release.changelog")
    assert not (project.path.parent / "outside.md").exists()


def test_diverged_from_the_remote_is_not_called_behind(project: Project, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(project.remote), str(other), env=project.env)
    git(other, "-c", "user.name=O", "-c", "user.email=o@x.invalid", "commit", "-q",
        "--allow-empty", "-m", "someone else's work", env=project.env)
    git(other, "push", "-q", "origin", "main", env=project.env)
    project.git("fetch", "-q", "origin")
    project.git("commit", "-q", "--allow-empty", "-m", "my work")
    project.refused(*RELEASE, says="main and origin/main have diverged")


@pytest.mark.parametrize(("text", "says"), [
    ("{not json", "cannot be read"),
    ('["a", "list"]', "is not a release journal"),
    ('{"tag": "v0.1.1"}', "'version' is missing"),
    ('{"version": "0.1.1", "tag": "v0.1.1", "branch": "main", "remote": "", "project": "", '
     '"head": "", "commit": "", "tag_oid": "", "images": [], "published": [], "steps": [7]}',
     "a step entry is 7"),
])
@pytest.mark.parametrize("resume", [True, False])
def test_a_journal_the_tool_did_not_write(project: Project, text: str, says: str,
                                          resume: bool) -> None:
    """A corrupt or foreign journal is one line, with --resume and without, never a traceback."""
    (project.path / ".git" / "torchship-release.json").write_text(text)
    project.refused(*(("release", "--resume") if resume else RELEASE), says=says)


def test_a_git_directory_that_is_not_writable(project: Project) -> None:
    git_dir = project.path / ".git"
    subprocess.run(["chattr", "+i", str(git_dir)], check=False, capture_output=True)
    try:
        require(not os.access(git_dir, os.W_OK),
                "chattr +i is not supported on this file system: .git stays writable")
        project.refused(*RELEASE, says=".git is not writable")
    finally:
        subprocess.run(["chattr", "-i", str(git_dir)], check=False, capture_output=True)


def test_a_remote_that_is_not_a_repository_names_gits_cause(project: Project) -> None:
    """git's first fatal: line is the cause; the advice after it is not quoted as one."""
    res = project.refused("release", "--part", "patch", "--no-images", "--remote", "nope",
                          says="cannot reach remote 'nope': fatal: 'nope' does not appear to "
                               "be a git repository")
    assert "and the repository exists" not in res.stderr


def test_a_stopped_multi_commit_cherry_pick(project: Project) -> None:
    """`git cherry-pick A B` stopped at A's conflict, resolved and committed: B is still to
    come (.git/sequencer), and `--continue` would put it on top of the release."""
    project.commit("notes.txt", "main\n", "notes")
    project.git("switch", "-q", "-c", "side", "HEAD~1")
    project.commit("notes.txt", "side\n", "side's notes")
    project.commit("more.txt", "more\n", "more")
    project.git("switch", "-q", "main")
    res = subprocess.run(["git", "cherry-pick", "main..side"], cwd=project.path,
                         env=project.env, capture_output=True, text=True, check=False)
    assert res.returncode != 0, res
    assert "conflict" in (res.stdout + res.stderr).lower(), res
    project.commit("notes.txt", "main\nside\n", "side's notes, merged by hand")
    assert (project.path / ".git/sequencer").is_dir()
    assert not (project.path / ".git/CHERRY_PICK_HEAD").exists()
    project.refused(*RELEASE, says="a cherry-pick of several commits")
