"""A warm `nox -s gpu_tests` after a one-line source change, against the same three suites on
the host, side by side in one run (target: within 1.2x).

In a throwaway copy of the template pointed at the configured bases (this checkout's
torchship.local.toml: the stand-ins on a machine that cannot pull), each round changes one line
of the project's source, then times, in alternating order:

- containers: `nox --no-venv -s gpu_tests -- --no-smoke` (the devel image rebuilt from the
  cached layers, the unit, e2e and benchmark suites each in a fresh container, the report);
- host: `nox --no-venv -s unit e2e benchmark` with this interpreter.

    python benchmarks/bench_gpu_tests.py [--rounds N]

The runtime smoke test is left out of both: the host has no runtime image to compare with.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1]
ROOT = TOOL.parent
BIN = Path(sys.executable).parent


def copy_template(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name.startswith("torchship/") or not (ROOT / name).is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    shutil.copy2(ROOT / "torchship.local.toml", dest / "torchship.local.toml")
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    # An image is built from what git tracks (torchship.images.context): track the copy.
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    return dest


def timed(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if res.returncode != 0:
        sys.exit(f"error: {' '.join(args)} failed:\n{(res.stdout + res.stderr)[-3000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    if not (ROOT / "torchship.local.toml").is_file():
        sys.exit("error: no torchship.local.toml (run torchship/scripts/standin_bases.py first)")
    nox = [str(BIN / "nox"), "--no-venv"]
    containers = [*nox, "-s", "gpu_tests", "--", "--no-smoke"]
    host = [*nox, "-s", "unit", "e2e", "benchmark"]
    with tempfile.TemporaryDirectory(prefix="bench-gpu-tests-") as tmp:
        project = copy_template(Path(tmp))
        [module] = [p for p in (project / "src").glob("*/model.py")]
        print("warming: one gpu_tests run builds the images ...", flush=True)
        timed(containers, project)
        times: dict[str, list[float]] = {"containers": [], "host": []}
        for i in range(opts.rounds):
            module.write_text(module.read_text() + f"\n# round {i}\n")  # the one-line change
            order = [("containers", containers), ("host", host)]
            for name, args in order if i % 2 == 0 else reversed(order):
                times[name].append(timed(args, project))
            print(f"round {i + 1}: containers {times['containers'][-1]:.1f} s, "
                  f"host {times['host'][-1]:.1f} s", flush=True)
    c, h = statistics.median(times["containers"]), statistics.median(times["host"])
    print(f"median: warm gpu_tests {c:.1f} s, host suites {h:.1f} s, ratio {c / h:.2f}x "
          f"(target 1.2x; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
