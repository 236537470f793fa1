"""The `host` runner: the suites on this machine, on the host or in its engine's containers
(torchship.matrix.run.execute: build, run each environment, save the records and a shard)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchship.config import Config
    from torchship.matrix.records import Run
    from torchship.matrix.run import Builder, Options


def run(opts: Options, /, *, builder: Builder, cfg: Config) -> tuple[Run, Path]:
    from torchship.matrix.run import execute

    return execute(opts, builder=builder, cfg=cfg)
