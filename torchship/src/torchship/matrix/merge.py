"""Shards from many machines -> one Run: `nox -s compare -- --merge DIR DIR ...`.

A shard is what one `nox -s gpu_tests -- --env E [--gpu-kind K]` wrote on one machine: its
run.json and a shard.json saying which commit, which configuration and which GPU kind it
ran. Merging checks that every shard is of the same commit and configuration and that no
(environment, GPU kind) comes twice, then lays the records side by side as `env@kind`, so
one comparison and one report show both dimensions (the same image on two GPU kinds is a
comparison people want). Pure but for reading the shards; comparing is compare.py's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from torchship.config import Config
from torchship.errors import TorchshipError
from torchship.matrix.records import RUN_FILE, RecordError, Run
from torchship.matrix.records import load as load_run

SHARD_FILE = "shard.json"
CPU = "cpu"  # the GPU kind of a machine with none


class MergeError(TorchshipError):
    """Shards that cannot be merged into one comparison (each reason named)."""


@dataclass(frozen=True)
class Shard:
    """Where one machine's records come from."""

    commit: str | None
    dirty: bool
    config: str          # digest of the configuration that decides what ran and how compared
    gpu_kind: str
    envs: tuple[str, ...]


def config_digest(cfg: Config) -> str:
    """What must agree between machines: the pinned bases, tolerances and metrics."""
    data = {"bases": {env: [str(b.runtime), str(b.devel)] for env, b in cfg.bases.items()},
            "compare": asdict(cfg.compare), "metrics": asdict(cfg.metrics)}
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def detected_kind(host: Mapping[str, Any]) -> str:
    """The GPU kind of the machine that ran (its first GPU's name, as a slug), else `cpu`."""
    gpus = host.get("gpus") or []
    name = str(gpus[0].get("name", "")) if gpus and isinstance(gpus[0], dict) else ""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or CPU


def write_shard(folder: Path, cfg: Config, run: Run, gpu_kind: str | None) -> Shard:
    """shard.json beside run.json: what a later merge checks."""
    git = run.host.get("git") or {}
    shard = Shard(commit=git.get("commit"), dirty=bool(git.get("dirty")),
                  config=config_digest(cfg), gpu_kind=gpu_kind or detected_kind(run.host),
                  envs=tuple(r.env for r in run.records))
    (folder / SHARD_FILE).write_text(json.dumps(asdict(shard), indent=2) + "\n")
    return shard


def read_shard(folder: Path) -> tuple[Shard, Run]:
    if not (folder / RUN_FILE).is_file():
        raise RecordError(folder, "shard missing: no run.json",
                          hint="its `nox -s gpu_tests -- --env ...` job failed before writing "
                               "records, or the folder is not a shard")
    run = load_run(folder)
    try:
        data = json.loads((folder / SHARD_FILE).read_text())
        shard = Shard(commit=data["commit"], dirty=bool(data["dirty"]), config=str(data["config"]),
                      gpu_kind=str(data["gpu_kind"]), envs=tuple(data["envs"]))
    except FileNotFoundError as exc:
        raise RecordError(folder, f"no {SHARD_FILE}",
                          hint="written by `nox -s gpu_tests` of this torchship") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(folder / SHARD_FILE, f"malformed ({exc!r})") from exc
    return shard, run


def label(env: str, kind: str) -> str:
    return f"{env}@{kind}"


def merge(shards: Sequence[tuple[Path, Shard, Run]]) -> Run:
    """One Run of every shard's records, each named `env@kind`; refused on mixed commits,
    configurations or a shard given twice."""
    if not shards:
        raise MergeError("no shard to merge", hint="give the folders gpu_tests wrote")
    (first_dir, first, _), rest = shards[0], shards[1:]
    for folder, shard, _run in rest:
        if shard.commit != first.commit:
            raise MergeError(f"shards from different commits: {first_dir} is "
                             f"{(first.commit or 'no commit')[:12]}, {folder} is "
                             f"{(shard.commit or 'no commit')[:12]}",
                             hint="run every shard on the same commit")
        if shard.config != first.config:
            raise MergeError(f"shards from different configurations: {first_dir} and {folder} "
                             "pinned other bases or compare otherwise",
                             hint="run every shard with the same [tool.torchship] (and "
                                  "torchship.local.toml)")
    seen: dict[str, Path] = {}
    records = []
    for folder, shard, run in shards:
        for record in run.records:
            name = label(record.env, shard.gpu_kind)
            if name in seen:
                raise MergeError(f"{name} comes twice: {seen[name]} and {folder}",
                                 hint="give each environment and GPU kind's shard once")
            seen[name] = folder
            records.append(replace(record, env=name))
    runs = [run for _, _, run in shards]
    notes = sorted({run.note for run in runs if run.note})
    # The same commit, but not necessarily the same code: the report says so.
    notes += [f"{folder} was made from a dirty tree (uncommitted changes on "
              f"{(shard.commit or 'no commit')[:12]})" for folder, shard, _ in shards if shard.dirty]
    now = datetime.now(UTC)
    # Its time first, as every run id: results/matrix/ sorts by it, and a merged run named
    # `merged-...` sorted after every other, the "latest" run for ever after.
    return Run(run_id=f"{now:%Y%m%dT%H%M%SZ}-merged-{len(shards)}-shards-"
                      f"{(first.commit or 'nocommit')[:12]}",
               created=now.isoformat(timespec="seconds"),
               mode="containers" if all(r.mode == "containers" for r in runs) else "local",
               records=tuple(records), host=runs[0].host, note="; ".join(notes))
