"""A passing run at a clean release tag becomes that release's baseline."""

from __future__ import annotations

import subprocess
from pathlib import Path

from torchship.matrix import run as matrix


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
                   cwd=repo, check=True, capture_output=True)


def _repo_with_run(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a\n")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-qm", "first")
    run = repo / "results" / "matrix" / "r1"
    run.mkdir(parents=True)
    (run / "run.json").write_text('{"schema": "stand-in"}\n')
    return repo, run


def test_a_run_at_a_clean_tag_is_kept_and_found_as_the_baseline(tmp_path: Path) -> None:
    repo, run = _repo_with_run(tmp_path)
    _git(repo, "tag", "-a", "v1.2.3", "-m", "v1.2.3")
    saved = matrix.save_release_baseline(repo, run)
    assert saved == repo / "results" / "releases" / "v1.2.3"
    assert (saved / "run.json").read_text() == '{"schema": "stand-in"}\n'
    assert matrix.last_release_baseline(repo) == saved


def test_no_baseline_off_a_tag_or_from_a_dirty_tree(tmp_path: Path) -> None:
    repo, run = _repo_with_run(tmp_path)
    assert matrix.save_release_baseline(repo, run) is None  # no tag at HEAD
    _git(repo, "tag", "-a", "v1.2.3", "-m", "v1.2.3")
    (repo / "a.txt").write_text("edited\n")
    assert matrix.save_release_baseline(repo, run) is None  # the tree is not the release's
    assert not (repo / "results" / "releases").exists()
    assert matrix.last_release_baseline(repo) is None
