"""Shards of many machines merged into one comparison: two real `gpu_tests --env` runs.

Each shard is a separate run of the command line (`nox -s gpu_tests -- --env E` is this
`main`) on the stand-in bases, under two environment names (`cpu`, `cpu-b`) and two GPU
kinds as a CI job would name them; the merge is `nox -s compare -- --merge DIR DIR`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship.adapters.docker import Docker
from torchship.matrix import merge, records
from torchship.matrix import run as matrix
from torchship.testing.engine import remove_images_of
from torchship.testing.standins import PinnedBases

ROOT = Path(__file__).resolve().parents[3]
IMAGE = f"tsmx-test16/mlproject-{uuid.uuid4().hex[:8]}"
SUITES = ["--suite", "unit", "--suite", "e2e", "--no-smoke"]


@pytest.fixture(scope="module")
def shards(engine: Docker, standin_bases: PinnedBases,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Two shards, as two machines write them: cpu on kind `a`, cpu-b on kind `b`."""
    path = tmp_path_factory.mktemp("config16") / "torchship.local.toml"
    path.write_text(f'require_digest = true\nimage = "{IMAGE}"\n\n' + "".join(
        f'[bases.{env}]\nruntime = "{standin_bases.runtime}"\ndevel = "{standin_bases.devel}"\n\n'
        for env in ("cpu", "cpu-b")))
    mp = pytest.MonkeyPatch()
    mp.setenv("TORCHSHIP_LOCAL_CONFIG", str(path))
    out = tmp_path_factory.mktemp("shards16")
    try:
        for env, kind in (("cpu", "a"), ("cpu-b", "b")):
            code = matrix.main(["--containers", "--env", env, "--gpu-kind", kind, *SUITES,
                                "--out", str(out / env)], root=ROOT)
            assert code == 0, f"shard {env} failed"
        yield out / "cpu", out / "cpu-b"
    finally:
        mp.undo()
        remove_images_of(engine, IMAGE)


def _merge(*dirs: Path, out: Path) -> int:
    return matrix.main(["--merge", *map(str, dirs), "--out", str(out)], root=ROOT,
                       what="compare")


def test_two_shards_merge_into_one_report_naming_both(shards: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    a, b = shards
    assert json.loads((a / merge.SHARD_FILE).read_text())["gpu_kind"] == "a"
    assert _merge(a, b, out=tmp_path / "merged") == 0
    run = records.load(tmp_path / "merged")
    assert [r.env for r in run.records] == ["cpu@a", "cpu-b@b"]
    # Named by its time first, as every run: it sorts among the others (after the shards it
    # was made from), not after every run to come.
    assert re.fullmatch(r"\d{8}T\d{6}Z-merged-2-shards-[0-9a-f]{12}", run.run_id), run.run_id
    assert records.load(a).run_id < run.run_id < "99999999T"
    assert all(r.status == "ok" and r.suite("e2e") is not None for r in run.records)
    md = (tmp_path / "merged" / "compare.md").read_text()
    assert "cpu@a" in md
    assert "cpu-b@b" in md
    cmp = json.loads((tmp_path / "merged" / "compare.json").read_text())
    assert cmp["problems"] == []


def test_a_shard_from_a_dirty_tree_is_named_in_the_report(shards: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    copies = []
    for shard, name, dirty in ((shards[0], "clean", False), (shards[1], "dirty", True)):
        copy = shutil.copytree(shard, tmp_path / name)
        meta = json.loads((copy / merge.SHARD_FILE).read_text())
        (copy / merge.SHARD_FILE).write_text(json.dumps({**meta, "dirty": dirty}))
        copies.append(copy)
    clean, dirty = copies
    assert _merge(clean, dirty, out=tmp_path / "merged") == 0
    md = (tmp_path / "merged" / "compare.md").read_text()
    assert f"> {dirty} was made from a dirty tree (uncommitted changes on " in md
    assert f"{clean} was made" not in md


def test_a_planted_regression_in_one_shard_fails_the_merge(
        shards: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = shards
    worse = shutil.copytree(b, tmp_path / "worse")
    data = json.loads((worse / "run.json").read_text())
    data["records"][0]["training"]["final"]["accuracy"] -= 0.2
    (worse / "run.json").write_text(json.dumps(data))
    assert _merge(a, worse, out=tmp_path / "merged") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "divergence: cpu-b@b: training:" in err[0]
    assert "accuracy" in err[0]


@pytest.mark.parametrize("case", ["commit", "config", "missing", "twice"])
def test_shards_that_do_not_belong_together_are_one_line(
        shards: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        case: str) -> None:
    a, b = shards
    other = shutil.copytree(b, tmp_path / "other")
    meta = json.loads((other / merge.SHARD_FILE).read_text())
    expected = {
        "commit": "shards from different commits: ",
        "config": "shards from different configurations: ",
        "missing": "shard missing: no run.json",
        "twice": "cpu@a comes twice: ",
    }[case]
    if case == "commit":
        meta["commit"] = "0" * 40
    elif case == "config":
        meta["config"] = "another"
    elif case == "twice":
        other = a
    else:
        (other / "run.json").unlink()
    if case in ("commit", "config"):
        (other / merge.SHARD_FILE).write_text(json.dumps(meta))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert _merge(a, other, out=tmp_path / "merged") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: ")
    assert expected in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no merged folder written


def test_a_bad_gpu_kind_or_no_shard_is_one_line(tmp_path: Path) -> None:
    before = sorted((ROOT / "results" / "matrix").glob("*merged-*"))
    for argv, what, line in (
            (["--gpu-kind", "A 100"], "gpu_tests",
             "error: --gpu-kind: 'A 100' is not a GPU kind name (lower-case letters, digits, "
             ". _ - (e.g. a100))"),
            (["--suite", "nope"], "gpu_tests",
             "error: argument --suite: invalid choice: 'nope' (choose from 'unit', 'e2e', "
             "'benchmark') (see `torchship matrix --help`)"),
            (["--merge", str(tmp_path / "none")], "compare",
             f"error: {tmp_path / 'none'}: shard missing: no run.json (its `nox -s gpu_tests "
             "-- --env ...` job failed before writing records, or the folder is not a shard)")):
        command = [] if what == "gpu_tests" else ["compare"]
        res = subprocess.run([sys.executable, "-m", "torchship.matrix", *command, *argv],
                             cwd=ROOT, capture_output=True, text=True, check=False)
        assert res.returncode == (2 if argv[0] == "--suite" else 1)  # a usage error: 2
        assert res.stderr.splitlines() == [line]
    assert sorted((ROOT / "results" / "matrix").glob("*merged-*")) == before  # nothing written
