"""Bad matrix options: one line, a non-zero exit, nothing run or written, with or without
pinned environments."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BASES = """[bases.cpu]
runtime = "127.0.0.1:5999/stand-in/pytorch:cpu-runtime@sha256:{0}"
devel = "127.0.0.1:5999/stand-in/pytorch:cpu-devel@sha256:{0}"
torch = "2.13.0"
python = "3.11"
cuda = "none"
""".format("1" * 64)


@pytest.fixture(params=["no bases", "bases"])
def project(request: pytest.FixtureRequest, tmp_path: Path, template: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(template, copy, symlinks=True)
    local = copy / "torchship.local.toml"
    local.unlink(missing_ok=True)
    if request.param == "bases":
        local.write_text(BASES)
    return copy


def matrix(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TORCHSHIP_LOCAL_CONFIG"}
    return subprocess.run([sys.executable, "-m", "torchship.matrix", *args], cwd=project,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("args", "says"), [
    (["--env", "nosuch"], "error: --env: 'nosuch' is not a configured environment"),
    (["--image", "cpu=::bad::"], "error: --image cpu: '::bad::' is not an image reference"),
    (["--image", "nosuch=mlproject:1"], "error: --image: 'nosuch' is not a configured"),
    (["--runtime-image", "cpu"], "error: --runtime-image: 'cpu' is not ENV=REF"),
    (["--runtime-image", "cpu=::bad::"],
     "error: --runtime-image cpu: '::bad::' is not an image reference"),
    (["--runtime-image", "nosuch=mlproject:1"],
     "error: --runtime-image: 'nosuch' is not a configured"),
    (["--jobs", "-3"], "error: --jobs: -3 is not a number of environments"),
    (["--jobs", "0"], "error: --jobs: 0 is not a number of environments"),
])
def test_a_bad_option_is_refused_in_one_line(project: Path, args: list[str], says: str) -> None:
    before = sorted(p.relative_to(project).as_posix() for p in project.rglob("*"))
    res = matrix(project, *args)
    lines = res.stderr.strip().splitlines()
    assert res.returncode != 0, res.stdout
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(says), res.stderr
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*")) == before


def test_a_local_config_that_is_not_a_file_is_refused(project: Path, tmp_path: Path) -> None:
    for named, problem in ((tmp_path / "missing.toml", "does not exist"),
                           (tmp_path, "is a folder, not a file")):
        env = {**os.environ, "TORCHSHIP_LOCAL_CONFIG": str(named)}
        res = subprocess.run([sys.executable, "-m", "torchship.matrix", "--jobs", "1"],
                             cwd=project, env=env, capture_output=True, text=True,
                             timeout=120, check=False)
        assert res.returncode == 1, res.stdout
        assert res.stderr == f"error: TORCHSHIP_LOCAL_CONFIG: {named} {problem} (point it " \
                             "at a torchship.local.toml, or unset it)\n"
