"""Cold and warm `nox` (the default sessions) in a new project made by `torchship new`, and
how many of its virtualenvs hold torch (target: one, the `dev` session's).

A project made from this checkout (`--tool-source index`, the tool's wheel built into a
folder put before pip's own find-links), then, each round: `nox` with no `.nox` (cold: every
virtualenv created and filled; torch comes from pip's configured wheel folder) and `nox`
again (warm: the virtualenvs reused).

    python benchmarks/bench_cold_nox.py [--rounds N]

The machine's other load moves these numbers a lot: compare runs made side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1]
ROOT = TOOL.parent
BIN = Path(sys.executable).parent


def run(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if res.returncode != 0:
        sys.exit(f"error: {' '.join(args)} failed:\n{(res.stdout + res.stderr)[-3000:]}")
    return seconds


def with_torch(project: Path) -> list[str]:
    """The project's nox virtualenvs that have torch installed."""
    return sorted(venv.parent.name for venv in (project / ".nox").glob("*/pyvenv.cfg")
                  if any(venv.parent.glob("lib/python*/site-packages/torch/__init__.py")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cold-nox-") as tmp:
        wheels, project = Path(tmp) / "wheels", Path(tmp) / "zoo"
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
               "PIP_FIND_LINKS": " ".join(p for p in (str(wheels), os.environ.get(
                   "PIP_FIND_LINKS", "")) if p)}
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(TOOL), "-w",
             str(wheels)], ROOT, env)
        run([str(BIN / "torchship"), "new", str(project), "--name", "zoo_vision", "--template",
             str(ROOT), "--tool-source", "index", "--no-hooks"], ROOT, env)
        for i in range(opts.rounds):
            shutil.rmtree(project / ".nox", ignore_errors=True)
            cold = run([str(BIN / "nox")], project, env)
            warm = run([str(BIN / "nox")], project, env)
            print(f"round {i + 1}: cold nox {cold:.0f} s, warm nox {warm:.0f} s; "
                  f"virtualenvs with torch: {', '.join(with_torch(project)) or 'none'}; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
