"""The metrics contract: the shipped JSON Schema, the template's real metrics file against it,
and broken files refused with one line naming the file and the field."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from records_factory import TEMPLATE, record, run, suite

from torchship import config
from torchship.config import Compare
from torchship.matrix import records, suites
from torchship.matrix.compare import compare

ROOT = Path(__file__).resolve().parents[3]  # the template, beside the tool
DOC = Path(__file__).resolve().parents[2] / "docs" / "contract.md"
GOOD: dict[str, Any] = {
    "seed": 0, "device": "cuda:0", "deterministic": True,
    "epochs": [{"epoch": 1, "loss": 0.9, "accuracy": 0.5, "seconds": 1.5},
               {"epoch": 2, "loss": 0.4, "accuracy": 0.8, "seconds": 1.4}],
    "final": {"loss": 0.4, "accuracy": 0.8},
    "model": "anything else is allowed", "initial": {"loss": 1.4},
    "args": {"lr": 0.01, "batch_size": 32, "device": None, "deterministic": True, "model": "m"},
    "data": {"sha256": "0" * 64, "config": {"generator": "make", "n": 10}},
    "env": {"torch": "2.13.0", "python": "3.11.2"}, "commit": "0123abc",
}


def test_the_anchor_fields_are_kept_through_run_json(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(GOOD))
    training = records.parse_training(path)
    assert (training.args, training.data, training.env, training.commit) == (
        GOOD["args"], GOOD["data"], GOOD["env"], GOOD["commit"])
    records.save(run(record("a", train=training)), tmp_path)
    assert records.load(tmp_path).records[0].training == training
    # They are optional: a file of the five required fields alone is read, with nothing for them.
    path.write_text(json.dumps({k: GOOD[k] for k in ("seed", "device", "deterministic", "epochs", "final")}))
    bare = records.parse_training(path)
    assert (bare.args, bare.data, bare.env, bare.commit) == ({}, None, {}, None)


def test_the_shipped_schema_is_a_valid_json_schema() -> None:
    schema = records.metrics_schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert set(schema["required"]) == {"seed", "device", "deterministic", "epochs", "final"}


def test_the_contract_doc_names_every_field_of_the_schema() -> None:
    text = DOC.read_text()
    schema = records.metrics_schema()
    for name in [*schema["properties"], *schema["$defs"]["epoch"]["properties"],
                 *schema["properties"]["data"]["properties"]]:
        assert f"`{name}`" in text, name
    assert "metrics.schema.json" in text


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template's real training command, one short run (the flags are its own CLI's)."""
    out = tmp_path_factory.mktemp("example")
    cfg = config.load(ROOT, use_local=False)
    argv = [sys.executable if a == "python" else a for a in cfg.project.train]
    proc = subprocess.run([*argv, "--epochs", "2", "--samples", "256", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / cfg.metrics.file


def test_the_templates_real_metrics_file_keeps_the_contract(example_run: Path) -> None:
    data = json.loads(example_run.read_text())
    records.validate_metrics(data, example_run)
    training = records.parse_training(example_run)
    assert [e.epoch for e in training.epochs] == [1, 2]
    assert set(training.final) == {m.name for m in config.Metrics().compare}
    assert training.final == training.epochs[-1].metrics
    assert all(e.seconds is not None and "seconds" not in e.metrics for e in training.epochs)
    # run.json stores a run in the same shape, and reads it back through the schema.
    assert records.training_from_json(training.to_json(), "run.json") == training


def test_the_templates_run_records_what_makes_it_repeatable(example_run: Path) -> None:
    """Every argument, the data's identity, the environment and the commit: a repeat of the
    run from these alone gets the same data (same hash) and the same metrics."""
    import torch

    training = records.parse_training(example_run)
    assert {"epochs": 2, "samples": 256, "seed": 0, "lr": 3e-3, "batch_size": 128}.items() \
        <= training.args.items()
    assert training.data is not None
    assert training.data["config"]["n"] == 256
    assert training.env["torch"] == torch.__version__
    assert training.commit == subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, text=True,
                                             capture_output=True, check=True).stdout.strip()
    args = training.args
    again = example_run.parent.parent / "again"
    cfg = config.load(ROOT, use_local=False)
    argv = [sys.executable if a == "python" else a for a in cfg.project.train]
    flags = ["--epochs", str(args["epochs"]), "--samples", str(args["samples"]), "--seed",
             str(args["seed"] + 1), "--lr", str(args["lr"]), "--batch-size", str(args["batch_size"])]
    proc = subprocess.run([*argv, *flags, "--out", str(again)], capture_output=True, text=True,
                          timeout=600, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    other = records.parse_training(again / cfg.metrics.file)
    # Another seed is other data: the hash says so, and the configuration says why.
    assert other.data is not None
    assert other.data["sha256"] != training.data["sha256"]
    assert other.data["config"] == {**training.data["config"], "seed": args["seed"] + 1}


def test_a_valid_file_with_extra_fields_and_any_metrics_is_read(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({**GOOD, "epochs": [{"epoch": 0, "perplexity": 35.2, "tokens": 4096}],
                                "final": {"perplexity": 35.2}}))
    training = records.parse_training(path)
    assert training.epochs[0].metrics == {"perplexity": 35.2, "tokens": 4096.0}
    assert training.epochs[0].seconds is None
    assert training.names == ("perplexity", "tokens")


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.pop(key)


def _set(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        target: Any = d
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize(("change", "problem"), [
    (_drop("final"), "'final' is a required property"),
    (_drop("deterministic"), "'deterministic' is a required property"),
    (_set(("epochs", 1, "loss"), "low"), "epochs[1].loss: 'low' is not of type 'number'"),
    (_set(("final", "accuracy"), True), "final.accuracy: True is not of type 'number'"),
    (_set(("epochs", 0), {"loss": 0.9}), "epochs[0]: 'epoch' is a required property"),
    (_set(("epochs", 0, "epoch"), 1.5), "epochs[0].epoch: 1.5 is not of type 'integer'"),
    (_set(("seed",), "0"), "seed: '0' is not of type 'integer'"),
    (_set(("epochs",), {"1": {"loss": 0.4}}), "epochs: {'1': {'loss': 0.4}} is not of type 'array'"),
    (_set(("device",), ""), "device: ''"),  # the wording after it is jsonschema's own
    (_set(("data",), {"sha256": "abc", "config": {}}), "data.sha256: 'abc' does not match"),
    (_set(("data",), {"sha256": "0" * 64}), "data: 'config' is a required property"),
    (_set(("args",), {"lr": [0.1]}), "args.lr: [0.1] is not of type"),
    (_set(("commit",), 1), "commit: 1 is not of type"),
])
def test_a_broken_metrics_file_is_one_error_naming_the_file_and_the_field(
        tmp_path: Path, change: Callable[[dict[str, Any]], None], problem: str) -> None:
    data = json.loads(json.dumps(GOOD))
    change(data)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(data))
    with pytest.raises(records.RecordError) as info:
        records.parse_training(path)
    rendered = info.value.render()
    assert rendered.startswith(f"{path}: {problem}")
    assert rendered.endswith("(see the metrics contract: torchship's docs/contract.md)")
    assert "\n" not in rendered


def test_a_metrics_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text("{'seed': 0}")
    with pytest.raises(records.RecordError, match=r"metrics.json: not valid JSON"):
        records.parse_training(path)


def test_a_broken_metrics_file_fails_its_environment_and_keeps_its_suites(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "metrics.json").write_text(json.dumps({**GOOD, "final": {"loss": "nan"}}))
    e2e = suite("e2e", ("test_train", "passed"))
    broken = suites.gather("b", tmp_path, [e2e], image="app:b", digest=None, wall=1.0,
                           metrics=TEMPLATE)
    assert broken.status == "failed"
    assert broken.reason.startswith(f"{tmp_path / 'train' / 'metrics.json'}: final.loss: 'nan' is not")
    assert broken.suites == (e2e,)
    assert broken.training is None
    cmp = compare(run(record("a"), broken), tolerances=Compare(), metrics=TEMPLATE)
    [problem] = cmp.problems
    assert (problem.kind, problem.env, problem.subject) == ("environment", "b", "failed")
    assert "final.loss" in problem.detail


def test_an_old_run_json_is_a_clear_error(tmp_path: Path) -> None:
    records.save(run(record("a")), tmp_path)
    data = json.loads((tmp_path / "run.json").read_text())
    data["schema"] = 1
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(records.RecordError, match="schema 1; this torchship reads schema 2"):
        records.load(tmp_path)


def test_a_run_json_whose_training_breaks_the_contract_names_the_record(tmp_path: Path) -> None:
    records.save(run(record("a")), tmp_path)
    data = json.loads((tmp_path / "run.json").read_text())
    del data["records"][0]["training"]["final"]
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(records.RecordError, match=r"run.json: a: training: 'final' is a required"):
        records.load(tmp_path)
