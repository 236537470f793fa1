"""What each environment of a run ran on, for every report: torch, CUDA, cuDNN, Python, the
driver and the GPU, and the commit of the code. Pure: read from the records (the fingerprint
taken inside each environment, else the training's own) and the run's host fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torchship.matrix.records import Record, Run


@dataclass(frozen=True)
class EnvVersions:
    """One environment's versions; None where the environment did not say."""

    env: str
    torch: str | None
    cuda: str | None
    cudnn: str | None
    python: str | None
    driver: str | None
    gpu: str | None

    def line(self) -> str:
        """`cpu: torch 2.13.0, CUDA -, cuDNN -, Python 3.11.2, driver -, GPU none`."""
        return (f"{self.env}: torch {self.torch or '-'}, CUDA {self.cuda or '-'}, "
                f"cuDNN {self.cudnn or '-'}, Python {self.python or '-'}, "
                f"driver {self.driver or '-'}, GPU {self.gpu or 'none'}")


@dataclass(frozen=True)
class Commit:
    """The code a run tested, as the host's fingerprint gives it."""

    commit: str | None
    describe: str | None
    dirty: bool | None

    def text(self) -> str:
        if self.commit is None:
            return "unknown (not a git repository)"
        return f"{self.commit[:12]}{' (dirty tree)' if self.dirty else ''}"


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _gpu(info: Mapping[str, Any]) -> str | None:
    names = [str(g.get("name")) for g in info.get("gpus") or () if isinstance(g, Mapping)]
    if names:
        return ", ".join(names)
    return _text(info.get("gpu"))  # a training's own fingerprint names one device


def of_record(record: Record, host: Mapping[str, Any]) -> EnvVersions:
    """The record's versions: from its fingerprint, else its training's, the driver else
    the host's (one kernel module serves every container)."""
    own = record.training.env if record.training is not None else {}
    info: Mapping[str, Any] = record.fingerprint or own
    if record.local and not info:
        info = host

    def pick(key: str) -> str | None:
        return _text(info.get(key)) or _text(own.get(key))

    driver = pick("driver") or (_text(host.get("driver")) if _gpu(info) else None)
    return EnvVersions(env=record.env, torch=pick("torch"), cuda=pick("cuda"),
                       cudnn=pick("cudnn"), python=pick("python"), driver=driver,
                       gpu=_gpu(info) or _gpu(own))


def of_run(run: Run) -> tuple[EnvVersions, ...]:
    return tuple(of_record(r, run.host) for r in run.records)


def commit_of(run: Run) -> Commit:
    git = run.host.get("git") or {}
    dirty = git.get("dirty")
    return Commit(commit=_text(git.get("commit")), describe=_text(git.get("describe")),
                  dirty=dirty if isinstance(dirty, bool) else None)


def markdown(versions: tuple[EnvVersions, ...], commit: Commit | None) -> list[str]:
    """compare.md's lines: the commit, then one table row per environment."""
    lines = ["", "## Versions", ""]
    if commit is not None:
        lines += [f"Commit: `{commit.text()}`"
                  + (f" (`{commit.describe}`)" if commit.describe else ""), ""]
    lines += ["| env | torch | CUDA | cuDNN | Python | driver | GPU |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {v.env} | {v.torch or '-'} | {v.cuda or '-'} | {v.cudnn or '-'} | "
              f"{v.python or '-'} | {v.driver or '-'} | {v.gpu or 'none'} |" for v in versions]
    return lines


def title(versions: tuple[EnvVersions, ...], commit: Commit | None) -> str:
    """The chart title's provenance lines: the commit, then each environment's versions."""
    head = f"commit {commit.text()}" if commit is not None else ""
    return "\n".join([head, *(v.line() for v in versions)]).strip()
