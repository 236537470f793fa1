"""A real short training run of the wave model, twice with the same seed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def _train(out: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "wavefit.train", "--epochs", "4", "--seed", "7",
                           "--out", str(out)], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    return metrics


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    base = tmp_path_factory.mktemp("train")
    first, second = _train(base / "a"), _train(base / "b")
    for run, variable in ((base / "a", "TORCHSHIP_TRAIN_DIR"), (base / "b", "TORCHSHIP_REPEAT_DIR")):
        if os.environ.get(variable):
            shutil.copytree(run, os.environ[variable], dirs_exist_ok=True)
    return first, second


def test_rmse_falls(runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    first, _ = runs
    assert first["final"]["rmse"] < 0.8 * first["initial"]["rmse"]


def test_same_seed_same_run(runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    first, second = runs
    assert first["epochs"] == second["epochs"]
