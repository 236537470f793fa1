"""A two-environment matrix as two shards plus a merge, against one gpu_tests over both.

The two environments are the first configured one under two names (same pinned bases), so
both ways run the very same images. Each shard is `nox -s gpu_tests -- --env E` (this
`main`); the merge is `nox -s compare -- --merge A B`. On this machine the shards run one
after another; on two runners they would run side by side, so the matrix's wall time there
is the slower shard plus the merge. Images are built once first (not timed).

    python benchmarks/bench_shards.py [--suite unit --suite e2e]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

TOOL = Path(__file__).resolve().parents[1]  # torchship/, the tool
ROOT = TOOL.parent                          # the template project whose suites run
sys.path.insert(0, str(TOOL / "src"))

from torchship import config  # noqa: E402  (after the path above)
from torchship.matrix import run as matrix  # noqa: E402  (after the path above)


def timed(argv: list[str], what: Literal["gpu_tests", "compare"] = "gpu_tests") -> float:
    t0 = time.perf_counter()
    code = matrix.main(argv, root=ROOT, what=what)
    if code != 0:
        raise SystemExit(f"error: {what} {' '.join(argv)} exited {code}")
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suite", action="append", default=[])
    a = p.parse_args()
    cfg = config.load(ROOT)
    if not cfg.bases:
        print("error: no pinned environment configured (scripts/standin_bases.py)",
              file=sys.stderr)
        return 1
    base = cfg.bases[cfg.envs[0]]
    suites = [x for s in (a.suite or ["unit", "e2e"]) for x in ("--suite", s)]
    with tempfile.TemporaryDirectory(prefix="tsmx-shards-") as tmp:
        out = Path(tmp)
        local = out / "torchship.local.toml"
        local.write_text(f'image = "{cfg.image}-bench16"\n\n' + "".join(
            f'[bases.{env}]\nruntime = "{base.runtime}"\ndevel = "{base.devel}"\n\n'
            for env in ("one", "two")))
        os.environ["TORCHSHIP_LOCAL_CONFIG"] = str(local)
        common = ["--containers", "--no-smoke", *suites]
        timed([*common, "--out", str(out / "warm")])  # build both images, untimed
        whole = timed([*common, "--out", str(out / "whole")])
        one = timed([*common, "--env", "one", "--gpu-kind", "a", "--out", str(out / "one")])
        two = timed([*common, "--env", "two", "--gpu-kind", "b", "--out", str(out / "two")])
        merged = timed(["--merge", str(out / "one"), str(out / "two"),
                        "--out", str(out / "merged")], what="compare")
    print(f"one gpu_tests over both environments : {whole:6.1f} s")
    print(f"suites: {', '.join(suites[1::2])}")
    print(f"shard one                            : {one:6.1f} s")
    print(f"shard two                            : {two:6.1f} s")
    print(f"merge (compare --merge)              : {merged:6.1f} s")
    print(f"two shards here, one after another   : {one + two + merged:6.1f} s")
    print(f"two shards on two runners (max+merge): {max(one, two) + merged:6.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
