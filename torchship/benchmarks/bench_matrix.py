"""What running suites in containers costs, measured both ways in one run.

1. The unit suite on the host (nox --no-venv with this interpreter) against the same suite
   in a container of the devel image (a fresh container, source mounted read-only).
2. Two images one after another (--jobs 1) against side by side (--jobs 2): the e2e suite
   in each. On a CPU host they share the cores; with one GPU each they would not.

    python benchmarks/bench_matrix.py [--image REF] [--repeat N]

Without --image, the devel image of the first configured environment is built (or reused
from the cache) with torchship.images.build.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1]  # torchship/, the tool
ROOT = TOOL.parent                          # the template project whose suites run
sys.path.insert(0, str(TOOL / "src"))

from torchship import config  # noqa: E402  (after the path above)
from torchship.matrix import run as matrix  # noqa: E402  (after the path above)
from torchship.matrix import suites  # noqa: E402  (after the path above)


def timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]  # a zero-argument callable
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image", help="devel image to use (default: build the first env's)")
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args()
    cfg = config.load(ROOT)
    if not cfg.bases and not a.image:
        print("error: no pinned environment configured and no --image given", file=sys.stderr)
        return 1
    image = a.image or matrix.default_builder(cfg, cfg.envs[0], "devel")
    client = suites.client()
    spec = suites.ContainerSpec(root=ROOT, run_id="bench")
    with tempfile.TemporaryDirectory(prefix="tsmx-bench-") as tmp:
        out = Path(tmp)
        host, box = [], []
        for i in range(a.repeat):
            host.append(timed(lambda i=i: suites.run_local(
                ROOT, out / f"host{i}", suites=("unit",))))
            box.append(timed(lambda i=i: suites.run_image(
                client, env="bench", image=image, digest=None, spec=spec,
                folder=out / f"box{i}", suites=("unit",))))
        h, b = statistics.median(host), statistics.median(box)
        print(f"unit suite, host      : median {h:6.1f} s  ({', '.join(f'{x:.1f}' for x in host)})")
        print(f"unit suite, container : median {b:6.1f} s  ({', '.join(f'{x:.1f}' for x in box)})")
        print(f"container / host      : {b / h:.2f}x  (overhead {b - h:+.1f} s)")

        two = {"a": image, "b": image}
        seq, par = [], []
        for i in range(a.repeat):
            for jobs, into in ((1, seq), (2, par)):
                opts = matrix.Options(root=ROOT, mode="containers", suites=("e2e",),
                                      images=two, jobs=jobs, smoke=False, show=False)
                into.append(timed(lambda opts=opts, i=i, jobs=jobs: matrix.run_containers(
                    cfg, opts, ["a", "b"], f"bench{i}{jobs}", out / f"m{i}-{jobs}",
                    matrix.default_builder)))
        s, q = statistics.median(seq), statistics.median(par)
        print(f"two images, one after another : median {s:6.1f} s  "
              f"({', '.join(f'{x:.1f}' for x in seq)})")
        print(f"two images, side by side      : median {q:6.1f} s  "
              f"({', '.join(f'{x:.1f}' for x in par)})")
        print(f"sequential / side by side     : {s / q:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
