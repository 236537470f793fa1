"""A real short training run through the CLI, twice with the same seed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ARGS = ["--epochs", "4", "--samples", "2048", "--seed", "1234"]


def _train(out: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "mlproject.train", *ARGS, "--out", str(out)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    return metrics


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    base = tmp_path_factory.mktemp("train")
    first, second = _train(base / "a"), _train(base / "b")
    # Under `nox -s gpu_tests` torchship names where it reads the run ([tool.torchship.metrics]):
    # it compares training across images from it, and checks determinism with the repeat.
    for run, variable in ((base / "a", "TORCHSHIP_TRAIN_DIR"), (base / "b", "TORCHSHIP_REPEAT_DIR")):
        if os.environ.get(variable):
            shutil.copytree(run, os.environ[variable], dirs_exist_ok=True)
    return base / "a", first, second


def test_the_model_learns(runs: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    _, metrics, _ = runs
    assert len(metrics["epochs"]) == 4
    assert metrics["final"]["loss"] < 0.6 * metrics["initial"]["loss"]
    assert metrics["final"]["accuracy"] > 0.6  # 4 classes: chance is 0.25
    assert metrics["final"] == {k: metrics["epochs"][-1][k] for k in ("loss", "accuracy")}


def test_same_seed_in_deterministic_mode_gives_identical_losses(
    runs: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    _, first, second = runs
    assert first["deterministic"] is True
    assert [e["loss"] for e in first["epochs"]] == [e["loss"] for e in second["epochs"]]
    assert [e["accuracy"] for e in first["epochs"]] == [e["accuracy"] for e in second["epochs"]]
    assert first["final"] == second["final"]


def test_artefacts_and_fingerprint_are_written(
    runs: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    import torch

    out, metrics, _ = runs
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 4
    assert checkpoint["seed"] == 1234
    assert "stem.weight" in checkpoint["model"]
    env = json.loads((out / "env.json").read_text())
    assert env["torch"] == torch.__version__
    assert env["python"]
    assert env["device"] == metrics["device"]
    assert metrics["device"] in {"cpu", "cuda"}


def test_training_needs_no_torchship(tmp_path: Path) -> None:
    """The runtime image carries no torchship: training must run without it."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    # A sys.path entry first on the path whose torchship cannot be imported.
    (blocker / "torchship.py").write_text("raise ImportError('torchship is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "mlproject.train", "--epochs", "1", "--samples", "256",
                           "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "out" / "env.json").read_text())["torch"]


def test_bad_arguments_are_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mlproject.train", "--epochs", "0", "--out",
                           str(tmp_path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "--epochs and --batch-size must be >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "metrics.json").exists()
