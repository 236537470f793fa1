"""CPU-vs-GPU speed-up per case, from the benchmark suite's pytest-benchmark JSON.

    python benchmarks/gpu_vs_cpu.py results/local/benchmark.json [more.json ...]

Pairs each case's CPU and GPU runs (by extra_info case/device; several files may be given,
e.g. a CPU run from one machine and a GPU run from another) and prints medians with their
spread (IQR / median), achieved rates, fraction of the GPU's peak and the speed-up.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from torchship.errors import TorchshipError
from torchship.gpubench import speedup


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_vs_cpu.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, help="pytest-benchmark JSON files")
    args = parser.parse_args(argv)
    try:
        table = speedup.rows(speedup.load(path) for path in args.files)
    except TorchshipError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return 1
    if not table:
        print("error: no suite cases in these files (no extra_info case/device); "
              "were they written by `nox -s benchmark`?", file=sys.stderr)
        return 1
    print(speedup.render(table))
    paired = [r for r in table if r.speedup is not None]
    gpu_only = [r for r in table if r.cpu is None]
    if not paired:
        side = "GPU" if gpu_only else "CPU"
        print(f"\nno case was measured on both devices (only {side} results): "
              "run the suite where CUDA is present, or pass a CPU and a GPU file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
