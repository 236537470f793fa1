"""The CPU-vs-GPU table: pure functions over real pytest-benchmark JSON, and the script."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from torchship.errors import TorchshipError
from torchship.gpubench import speedup

TOOL = Path(__file__).resolve().parents[2]  # the tool's folder: its benchmarks/ scripts


def as_gpu(doc: dict[str, Any], factor: float) -> dict[str, Any]:
    """The same cases as if a GPU had run them `factor` times faster (data for the pairing:
    no GPU here to produce a real file)."""
    gpu = copy.deepcopy(doc)
    for b in gpu["benchmarks"]:
        b["extra_info"]["device"] = "cuda"
        b["extra_info"]["peak_fraction"] = 0.5
        for key in ("median", "iqr"):
            b["stats"][key] /= factor
    return gpu


def test_the_real_cpu_run_has_what_pairing_needs(cpu_doc: dict[str, Any]) -> None:
    cases = {b["extra_info"]["case"]: b for b in cpu_doc["benchmarks"]}
    assert set(cases) == {"matmul-fp32-256", "copy-fp32-64MiB"}
    for b in cases.values():
        assert b["extra_info"]["device"] == "cpu"
        assert b["stats"]["median"] > 0
        assert b["stats"]["iqr"] >= 0
    assert cases["matmul-fp32-256"]["extra_info"]["tflops"] > 0
    assert cases["copy-fp32-64MiB"]["extra_info"]["gbps"] > 0


def test_rows_pair_cpu_and_gpu(cpu_doc: dict[str, Any]) -> None:
    table = speedup.rows([cpu_doc, as_gpu(cpu_doc, 40.0)])
    assert [r.case for r in table] == [b["extra_info"]["case"] for b in cpu_doc["benchmarks"]]
    for r in table:
        assert r.speedup == pytest.approx(40.0)
        assert r.cuda is not None
        assert r.cuda.peak_fraction == 0.5
    text = speedup.render(table)
    assert "40.0x" in text
    assert "50.0%" in text
    assert "matmul-fp32-256" in text


def test_one_sided_rows_have_no_speedup(cpu_doc: dict[str, Any]) -> None:
    table = speedup.rows([cpu_doc])
    assert all(r.cpu is not None and r.cuda is None and r.speedup is None for r in table)
    assert speedup.rows([{"benchmarks": [{"name": "other", "stats": {"median": 1}}]}]) == []


def test_first_measurement_wins(cpu_doc: dict[str, Any]) -> None:
    slower = as_gpu(cpu_doc, 0.5)
    for b in slower["benchmarks"]:
        b["extra_info"]["device"] = "cpu"
    first = speedup.rows([cpu_doc, slower])
    assert [r.cpu for r in first] == [r.cpu for r in speedup.rows([cpu_doc])]


def test_load_refuses_what_is_not_benchmark_json(tmp_path: Path) -> None:
    with pytest.raises(TorchshipError, match="not found"):
        speedup.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(TorchshipError, match="not readable JSON"):
        speedup.load(tmp_path / "bad.json")
    (tmp_path / "junit.json").write_text('{"tests": []}')
    with pytest.raises(TorchshipError, match="not a pytest-benchmark JSON"):
        speedup.load(tmp_path / "junit.json")


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TOOL / "benchmarks" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_vs_cpu_script(cpu_benchmark_json: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    gpu = tmp_path / "gpu.json"
    gpu.write_text(json.dumps(as_gpu(json.loads(cpu_benchmark_json.read_text()), 10.0)))
    main = script("gpu_vs_cpu").main
    assert main([str(cpu_benchmark_json), str(gpu)]) == 0
    out = capsys.readouterr().out
    assert "speed-up" in out
    assert "10.0x" in out
    assert main([str(cpu_benchmark_json)]) == 0
    assert "only CPU results" in capsys.readouterr().out
    assert main([str(tmp_path / "nope.json")]) == 1
    assert capsys.readouterr().err.startswith("error: ")
