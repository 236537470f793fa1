"""Where the matrix runs: each runner one module behind the same small interface.

A runner takes the run's Options (the image builder, the project's configuration) and returns the saved Run and the
folder it is in; comparing, reporting and the exit status are the same for all of them
(torchship.matrix.run.report_and_verdict):

- `host`: this machine: the suites on the host, or each environment in its images here;
- `ci-shards`: the shards CI's jobs ran (each a `host` run of one environment and GPU
  kind), gathered into one run (`nox -s compare -- --merge DIR ...`);
- `slurm`: one Slurm job per environment and GPU kind, each a `host` run on its node, the
  shards merged as CI's are (docs/slurm.md).

A new runner (Kubernetes, say) is one module with a `run` function, named in RUNNERS.
Modules are imported when chosen: `nox -l` and `invoke --list` import none of them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from torchship.errors import ConfigError

if TYPE_CHECKING:
    from torchship.config import Config
    from torchship.matrix.records import Run
    from torchship.matrix.run import Builder, Options

# --on NAME -> the module that runs it.
RUNNERS: dict[str, str] = {
    "host": "torchship.matrix.runners.host",
    "ci-shards": "torchship.matrix.runners.ci",
    "slurm": "torchship.matrix.runners.slurm",
}


class Runner(Protocol):
    """Run (or gather) the matrix's records; save them; return the Run and its folder."""

    def __call__(self, opts: Options, /, *, builder: Builder, cfg: Config) -> tuple[Run, Path]: ...


def get(name: str) -> Runner:
    """The `run` function of the runner called `name`."""
    if name not in RUNNERS:
        raise ConfigError("--on", f"{name!r} is not a runner", hint=f"one of: {', '.join(RUNNERS)}")
    runner: Runner = importlib.import_module(RUNNERS[name]).run
    return runner
