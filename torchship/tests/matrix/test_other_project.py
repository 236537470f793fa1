"""A project that is not the template: a regression whose training writes `rmse` (lower is
better) and `mae`, and no loss or accuracy, into folders and a file of its own naming.

Its real suite runs through the matrix on the host (nox, pytest, its metrics file, the
folders the matrix names in $TORCHSHIP_TRAIN_DIR / $TORCHSHIP_REPEAT_DIR); the comparisons
across environments are made by adding a second environment's record, as a merged run would.
Nothing of the tool is touched: only the project's [tool.torchship].
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from torchship.matrix import records
from torchship.matrix import run as matrix

PYPROJECT = """\
[project]
name = "housing-model"
version = "0.3.0"

[tool.torchship.project]
package = "housing"
smoke = "python -m housing.smoke"

[tool.torchship.metrics]
file = "eval.json"
train_dir = "runs/main"
repeat_dir = "runs/again"

[tool.torchship.metrics.compare]
rmse = { rtol = 0.10, better = "lower" }
"""
NOXFILE = """\
import os

import nox


@nox.session
def e2e(session):
    out = os.environ.get("TORCHSHIP_RESULTS", "results")
    session.run("pytest", "tests/e2e", f"--junitxml={out}/junit-e2e.xml", "-p", "no:cacheprovider")
"""
# A real (tiny) training: least squares by gradient descent, seeded, deterministic.
E2E = '''\
import json
import math
import os
import random
import shutil


def fit(seed, out):
    rng = random.Random(seed)
    xs = [rng.uniform(-1, 1) for _ in range(200)]
    ys = [3.0 * x + 0.5 + rng.gauss(0, 0.1) for x in xs]
    w = b = 0.0
    epochs = []
    for epoch in range(1, 6):
        for x, y in zip(xs, ys):
            err = w * x + b - y
            w -= 0.05 * err * x
            b -= 0.05 * err
        errors = [w * x + b - y for x, y in zip(xs, ys)]
        epochs.append({"epoch": epoch, "rmse": math.sqrt(sum(e * e for e in errors) / len(errors)),
                       "mae": sum(abs(e) for e in errors) / len(errors)})
    final = {k: epochs[-1][k] for k in ("rmse", "mae")}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "eval.json"), "w") as fh:
        json.dump({"seed": seed, "device": "cpu", "deterministic": True, "epochs": epochs,
                   "final": final, "weights": [w, b]}, fh)
    return final


def test_the_fit_learns(tmp_path):
    first, again = fit(7, tmp_path / "a"), fit(7, tmp_path / "b")
    assert first["rmse"] < 0.2
    assert first == again
    for run, variable in (("a", "TORCHSHIP_TRAIN_DIR"), ("b", "TORCHSHIP_REPEAT_DIR")):
        if os.environ.get(variable):
            shutil.copytree(tmp_path / run, os.environ[variable], dirs_exist_ok=True)
'''


def _project(root: Path, pyproject: str = PYPROJECT) -> Path:
    (root / "tests" / "e2e").mkdir(parents=True)
    (root / "pyproject.toml").write_text(pyproject)
    (root / "noxfile.py").write_text(NOXFILE)
    (root / "tests" / "e2e" / "test_fit.py").write_text(E2E)
    return root


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the project, its matrix run folder): one real run of its e2e suite on the host."""
    root = _project(tmp_path_factory.mktemp("housing"))
    out = root / "results" / "matrix" / "r1"
    mp = pytest.MonkeyPatch()
    mp.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    try:
        matrix.gpu_tests(matrix.Options(root=root, mode="local", suites=("e2e",), out=out,
                                        show=False, png=False))
    finally:
        mp.undo()
    return root, out


def test_its_run_is_recorded_from_its_own_folders_and_file(regression_run: tuple[Path, Path]) -> None:
    _, out = regression_run
    assert (out / "local" / "runs" / "main" / "eval.json").is_file()
    assert (out / "local" / "runs" / "again" / "eval.json").is_file()
    [rec] = records.load(out).records
    assert rec.status == "ok", rec.reason
    assert rec.training is not None
    assert set(rec.training.final) == {"rmse", "mae"}
    assert set(rec.training.names) == {"rmse", "mae"}
    assert rec.repeat is not None
    md = (out / "compare.md").read_text()
    assert "**PASS" in md
    assert "## Training (against `local`; rmse rtol 0.1)" in md
    assert "| env | device | final rmse | Δ rmse | within | bitwise repeat |" in md
    assert "| local | cpu | " in md
    assert "identical |" in md
    assert "accuracy" not in md
    assert "loss" not in md


def _with_twin(out: Path, dest: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The run with a second environment whose training is the first's, changed."""
    shutil.copytree(out, dest)
    data = json.loads((dest / "run.json").read_text())
    twin = json.loads(json.dumps(data["records"][0]))
    twin["env"] = "local-b"
    change(twin)
    data["records"].append(twin)
    (dest / "run.json").write_text(json.dumps(data))
    return dest


def _scale_rmse(factor: float) -> Callable[[dict[str, Any]], None]:
    def change(rec: dict[str, Any]) -> None:
        rec["training"]["final"]["rmse"] *= factor
        rec["repeat"]["final"]["rmse"] *= factor
    return change


def test_rmse_within_its_tolerance_agrees(regression_run: tuple[Path, Path], tmp_path: Path) -> None:
    root, out = regression_run
    folder = _with_twin(out, tmp_path / "within", _scale_rmse(1.05))
    matrix.compare_only(matrix.Options(root=root, show=False, png=False), folder)
    cmp = json.loads((folder / "compare.json").read_text())
    assert cmp["ok"] is True
    [_, twin] = cmp["training"]
    [rmse] = twin["metrics"]
    assert rmse["metric"] == "rmse"
    assert rmse["rdiff"] == pytest.approx(0.05)
    assert rmse["direction"] == "worse"  # higher rmse, lower is better
    assert rmse["within"] is True
    assert "| local-b | cpu | " in (folder / "compare.md").read_text()


def test_rmse_beyond_its_tolerance_is_a_divergence_worded_by_its_direction(
        regression_run: tuple[Path, Path], tmp_path: Path) -> None:
    root, out = regression_run
    folder = _with_twin(out, tmp_path / "beyond", _scale_rmse(1.5))
    with pytest.raises(matrix.MatrixFailed,
                       match=r"divergence: local-b: training: final rmse \S+ vs \S+ in local "
                             r"\(\+50\.0%, worse; tolerance rtol 0\.1\)"):
        matrix.compare_only(matrix.Options(root=root, show=False, png=False), folder)
    md = (folder / "compare.md").read_text()
    assert "+50.0% (worse) | NO |" in md
    better = _with_twin(out, tmp_path / "better", _scale_rmse(0.5))
    with pytest.raises(matrix.MatrixFailed, match=r"\(-50\.0%, better; tolerance rtol 0\.1\)"):
        matrix.compare_only(matrix.Options(root=root, show=False, png=False), better)


def test_every_per_epoch_metric_of_the_repeat_is_checked(regression_run: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    root, out = regression_run

    def plant(rec: dict[str, Any]) -> None:
        rec["repeat"]["epochs"][2]["mae"] += 1e-12  # not a compared metric: still exact

    folder = _with_twin(out, tmp_path / "nondet", plant)
    with pytest.raises(matrix.MatrixFailed,
                       match=r"nondeterminism: local-b: training: two deterministic runs with "
                             r"seed 7 differ: epoch 3 mae"):
        matrix.compare_only(matrix.Options(root=root, show=False, png=False), folder)


def test_a_compared_metric_the_run_does_not_write_is_named(regression_run: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    _, out = regression_run
    other = _project(tmp_path / "project", PYPROJECT.replace(
        'rmse = { rtol = 0.10, better = "lower" }', "rmse = { rtol = 0.10 }\nr2 = { atol = 0.01 }"))
    folder = _with_twin(out, tmp_path / "missing", lambda rec: None)
    with pytest.raises(matrix.MatrixFailed,
                       match=r"missing: local: training: runs/main/eval.json has no final 'r2' "
                             r"\(written: mae, rmse\)"):
        matrix.compare_only(matrix.Options(root=other, show=False, png=False), folder)


def test_with_nothing_compared_training_is_recorded_not_compared(
        regression_run: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = regression_run
    other = _project(tmp_path / "project", PYPROJECT.replace(
        '[tool.torchship.metrics.compare]\nrmse = { rtol = 0.10, better = "lower" }\n', "")
        .replace('repeat_dir = "runs/again"', 'repeat_dir = "runs/again"\ncompare = {}'))
    folder = _with_twin(out, tmp_path / "recorded", _scale_rmse(3.0))
    matrix.compare_only(matrix.Options(root=other, show=False, png=False), folder)
    md = (folder / "compare.md").read_text()
    assert "**PASS: every suite passed, training recorded (not compared)" in md
    assert "## Training (recorded, not compared" in md
    assert "| local-b | cpu | mae 0.08" in md
    assert ", rmse 0.3" in md
