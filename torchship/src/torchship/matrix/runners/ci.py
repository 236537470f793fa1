"""The `ci-shards` runner: CI's jobs each ran one environment and GPU kind on their own
machine (a `host` run that wrote a shard); this gathers their shards into one Run, saved in
--out (default results/matrix/<merged run id>), as `nox -s compare -- --merge DIR ...`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchship.config import Config
    from torchship.matrix.records import Run
    from torchship.matrix.run import Builder, Options


def run(opts: Options, /, *, builder: Builder, cfg: Config) -> tuple[Run, Path]:
    from torchship.matrix import merge
    from torchship.matrix.records import save
    from torchship.matrix.run import MATRIX, RESULTS

    # `cfg` was loaded (a broken configuration refused) before anything is written.
    shards = [(d, *merge.read_shard(d)) for d in opts.merge]
    merged = merge.merge(shards)
    folder = opts.out or opts.root / RESULTS / MATRIX / merged.run_id
    save(merged, folder)
    if opts.show:
        print(f"merged {len(shards)} shard(s): {', '.join(r.env for r in merged.records)}")
    return merged, folder
