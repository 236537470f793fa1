"""The last release's baseline: the record its release copied to results/releases/<tag>/.

A release makes it (tests/release/test_release_evidence.py); a matrix run never does, not
even at a clean tag: a run that happens to be made there (a host run, say) is not what the
release stood on, and the next `gpu_tests` would be compared with the wrong thing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from torchship.matrix import run as matrix


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
                   cwd=repo, check=True, capture_output=True)


def test_the_last_tags_folder_is_found_as_the_baseline(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a\n")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-qm", "first")
    assert matrix.last_release_baseline(repo) is None  # no tag
    _git(repo, "tag", "-a", "v1.2.3", "-m", "v1.2.3")
    assert matrix.last_release_baseline(repo) is None  # a tag whose release kept no record
    kept = repo / "results" / "releases" / "v1.2.3"
    kept.mkdir(parents=True)
    (kept / "run.json").write_text('{"schema": "stand-in"}\n')
    (repo / "a.txt").write_text("edited\n")
    _git(repo, "commit", "-qam", "later work")
    assert matrix.last_release_baseline(repo) == kept  # found from commits after the tag too


def test_a_matrix_run_makes_no_baseline() -> None:
    # The old path (a run at a clean tag saved itself as the baseline) is gone from the module.
    assert not hasattr(matrix, "save_release_baseline")
