"""An image's labels are a function of the commit: its `created` is the commit's time (the
rule of SOURCE_DATE_EPOCH), so the same commit gives the same labels on any day and host."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from torchship import config as tsconfig
from torchship.images.spec import provenance


def test_the_created_label_is_the_commits_time(template: Path, tmp_path: Path) -> None:
    repo = tmp_path / "project"
    shutil.copytree(template, repo, symlinks=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e.x",
                    "commit", "-q", "--allow-empty", "-m", "then"],
                   env={**os.environ, "GIT_COMMITTER_DATE": "2001-02-03T04:05:06Z"}, check=True)
    prov = provenance(tsconfig.load(repo))
    assert prov.created == "2001-02-03T04:05:06Z"
    assert provenance(tsconfig.load(repo)) == prov  # built again later: the same labels
