"""The tool as an index sees it: an sdist and a wheel built by `build`, checked by `twine
check` and `check-wheel-contents`, the wheel holding the package and its schemas only."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path, PurePosixPath

import pytest

import torchship
from torchship import toolsource
from torchship.testing.template import copy_files

TOOL = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` (sdist, then the wheel from it, in build isolation) of a copy of the
    tool's files as a fresh clone has them."""
    base = tmp_path_factory.mktemp("packaging")
    source = copy_files(TOOL, base / "torchship")
    out = base / "dist"
    res = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(source)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out


def files(dist: Path, pattern: str) -> Path:
    [found] = dist.glob(pattern)
    return found


@pytest.mark.slow
def test_twine_and_check_wheel_contents_pass(dist: Path) -> None:
    version = torchship.__version__
    wheel, sdist = files(dist, "*.whl"), files(dist, "*.tar.gz")
    assert (wheel.name, sdist.name) == (f"torchship-{version}-py3-none-any.whl",
                                        f"torchship-{version}.tar.gz")
    twine = subprocess.run([str(BIN / "twine"), "check", "--strict", str(wheel), str(sdist)],
                           capture_output=True, text=True, check=False)
    assert twine.returncode == 0, twine.stdout + twine.stderr
    assert twine.stdout.count("PASSED") == 2
    contents = subprocess.run([str(BIN / "check-wheel-contents"), str(wheel)],
                              capture_output=True, text=True, check=False)
    assert contents.returncode == 0, contents.stdout + contents.stderr
    assert contents.stdout.strip() == f"{wheel}: OK"


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_its_schemas_only(dist: Path) -> None:
    with zipfile.ZipFile(files(dist, "*.whl")) as zf:
        names = {PurePosixPath(n) for n in zf.namelist()}
        metadata = zf.read(f"torchship-{torchship.__version__}.dist-info/METADATA").decode()
    info = PurePosixPath(f"torchship-{torchship.__version__}.dist-info")
    outside = sorted(str(n) for n in names if n.parts[0] not in ("torchship", str(info)))
    assert outside == []
    package = {n for n in names if n.parts[0] == "torchship"}
    source = TOOL / "src"
    expected = {PurePosixPath(p.relative_to(source).as_posix())
                for p in (source / "torchship").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")}
    assert package == expected  # every module, py.typed and the schemas; nothing else
    assert {n.suffix for n in package} == {".py", ".json", ".typed"}
    assert {n.name for n in package if n.parent == PurePosixPath("torchship/schemas")} == {
        p.name for p in (source / "torchship" / "schemas").glob("*.json")}
    # What an index page shows: the README, the license, where the source is.
    assert "License-Expression: MIT" in metadata
    assert f"Project-URL: Repository, {toolsource.REPOSITORY}" in metadata
    assert "# torchship" in metadata


@pytest.mark.slow
def test_the_sdist_holds_what_it_takes_to_test_the_tool(dist: Path) -> None:
    root = PurePosixPath(f"torchship-{torchship.__version__}")
    with tarfile.open(files(dist, "*.tar.gz")) as tf:
        names = {PurePosixPath(n).relative_to(root) for n in tf.getnames() if n != str(root)}
    tracked = {PurePosixPath(p) for p in subprocess.run(
        ["git", "ls-files", "tests", "docs", "src", "scripts", "benchmarks"], cwd=TOOL,
        capture_output=True, text=True, check=True).stdout.split()}
    assert tracked - names == set()
    assert not any("__pycache__" in n.parts for n in names)
    with (TOOL / "pyproject.toml").open("rb") as fh:
        assert tomllib.load(fh)["tool"]["torchship"]["release"]["tag_prefix"] == toolsource.TAG_PREFIX
