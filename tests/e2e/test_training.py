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
    # The matrix compares training across images from this file.
    results = os.environ.get("TORCHSHIP_RESULTS")
    if results:
        shutil.copytree(base / "a", Path(results) / "train", dirs_exist_ok=True)
        # The second run lets the matrix check determinism across its records too.
        shutil.copytree(base / "b", Path(results) / "train-repeat", dirs_exist_ok=True)
    return base / "a", first, second


def test_the_model_learns(runs: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    _, metrics, _ = runs
    assert len(metrics["epochs"]) == 4
    assert metrics["final_loss"] < 0.6 * metrics["initial_loss"]
    assert metrics["final_accuracy"] > 0.6  # 4 classes: chance is 0.25


def test_same_seed_in_deterministic_mode_gives_identical_losses(
    runs: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    _, first, second = runs
    assert first["deterministic"] is True
    assert [e["loss"] for e in first["epochs"]] == [e["loss"] for e in second["epochs"]]
    assert [e["accuracy"] for e in first["epochs"]] == [e["accuracy"] for e in second["epochs"]]


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
    assert metrics["device"] in {"cpu", "cuda"}


def test_bad_arguments_are_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mlproject.train", "--epochs", "0", "--out",
                           str(tmp_path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "--epochs and --batch-size must be >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "metrics.json").exists()
