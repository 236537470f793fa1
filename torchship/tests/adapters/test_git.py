"""The git adapter against a real repository: its environment, its reads, its one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from torchship.adapters.git import CommitInfo, Git, GitError, TagInfo, ls_files
from torchship.testing.gitrepo import add_bare_remote, git, isolated_env


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env = isolated_env(tmp_path / "home")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main", env=env)
    git(path, "config", "user.name", "T", env=env)
    git(path, "config", "user.email", "t@example.invalid", env=env)
    (path / "a.txt").write_text("a\n")
    git(path, "add", "a.txt", env=env)
    git(path, "commit", "-q", "-m", "first", env=env)
    git(path, "tag", "-a", "v1", "-m", "one\n\nbody", env=env)
    return path


def test_every_git_process_gets_the_environment(repo: Path) -> None:
    # A shell alias prints the environment git hands its children.
    git(repo, "config", "alias.showenv", "!env", env=dict(os.environ))
    with Git.discover(repo) as g:
        seen = dict(line.split("=", 1) for line in g.out("showenv").splitlines() if "=" in line)
    assert (seen["GIT_OPTIONAL_LOCKS"], seen["LC_ALL"], seen["GIT_TERMINAL_PROMPT"]) == ("0", "C",
                                                                                       "0")


def test_reads_refs_objects_and_config(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Git.discover(repo / "a.txt") as g:
        assert g.top == repo.resolve()
        assert g.branch() == "main"
        head = g.head()
        assert head is not None
        assert len(head) == 40
        assert g.object_type("refs/tags/v1") == "tag"
        info = g.tag_info("v1")
        assert info is not None
        assert (info.target, info.subject) == (head, "one")
        assert g.commit_of("v1") == head
        assert g.show("v1", "a.txt") == b"a\n"
        assert g.config("user.name") == "T"
        assert g.config("USER.Email") == "t@example.invalid"  # keys as git compares them
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")  # what `git -c` passes on: git's own reads
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.name")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "From the environment")
    with Git.discover(repo) as g:
        assert g.config("user.name") == "From the environment"


def test_no_repository_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="is not inside a git repository"):
        Git.discover(tmp_path)
    assert Git.find(tmp_path) is None


def test_a_refused_push_quotes_the_remote_not_git_s_summary(repo: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    remote = add_bare_remote(repo, tmp_path / "remote.git", env=env)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: releases need review' >&2\nexit 1\n")
    hook.chmod(0o755)
    git(repo, "tag", "v2", env=env)
    with Git.discover(repo) as g, pytest.raises(GitError) as err:
        g.push_atomic("origin", ["refs/tags/v2"])
    assert err.value.message == ("git push to origin failed: [remote rejected] (pre-receive "
                                 "hook declined); policy: releases need review")


def test_init_clone_and_ls_files_go_through_the_adapter(repo: Path, tmp_path: Path) -> None:
    """What the bypasses needed (workflow.template, .update, .modelbranch, images.context)."""
    with Git.clone(str(repo), tmp_path / "clone", "--no-checkout") as clone:
        assert clone.head() == Git.discover(repo).head()
        assert not (tmp_path / "clone" / "a.txt").exists()
    (repo / "new.txt").write_text("untracked\n")
    (repo / ".gitignore").write_text("ignored.txt\n")
    (repo / "ignored.txt").write_text("x\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "b.txt").write_text("b\n")
    assert ls_files(repo, "--cached") == ["a.txt"]
    assert ls_files(repo, "--cached", "--others", "--exclude-standard") == [
        ".gitignore", "a.txt", "new.txt", "sub/b.txt"]
    assert ls_files(repo / "sub", "--others") == ["b.txt"]  # relative to the folder asked
    with Git.init(tmp_path / "fresh" / "deep", branch="trunk") as fresh:
        assert fresh.top == (tmp_path / "fresh" / "deep").resolve()
        assert fresh.head() is None
        assert fresh.out("symbolic-ref", "HEAD") == "refs/heads/trunk"


def test_a_failed_clone_is_git_s_reason_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(GitError) as info:
        Git.clone(str(tmp_path / "nowhere"), tmp_path / "clone")
    line = info.value.render()
    assert "nowhere" in line
    assert "\n" not in line
    assert line.startswith("fatal:")


def test_a_command_gets_extra_environment_on_top_of_the_adapter_s(repo: Path) -> None:
    """A commit's hooks need the tool on PATH (workflow.template.with_tool_on_path)."""
    git(repo, "config", "alias.showenv", "!env", env=dict(os.environ))
    with Git.discover(repo) as g:
        out = g.run("showenv", env={"TORCHSHIP_PROBE": "yes"}).stdout
    seen = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert (seen["TORCHSHIP_PROBE"], seen["LC_ALL"]) == ("yes", "C")


def test_commit_and_tag_objects_are_read_by_gitpython(repo: Path) -> None:
    env = dict(os.environ)
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "b.txt", env=env)
    git(repo, "commit", "-q", "-m", "second\n\nwith a body", env=env)
    with Git.discover(repo) as g:
        first = g.commit_of("v1")
        head = g.head()
        assert g.commit_info("HEAD") == CommitInfo([first], "second")  # type: ignore[list-item]
        assert g.commit_info("v1") == CommitInfo([], "first")  # a tag is peeled
        assert g.commit_info("no-such-rev") is None
        assert g.tag_info("v1") == TagInfo(first, "one")  # type: ignore[arg-type]
        git(repo, "tag", "light", env=env)
        assert g.tag_info("light") is None  # lightweight: no tag object
        assert head is not None
