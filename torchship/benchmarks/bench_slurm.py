"""Two environments on this host, against the same two as two Slurm jobs; and how long the
report takes once the last job has ended.

The two environments are the first configured one under two names (same pinned bases), so
both ways run the very same images. The host run is `nox -s gpu_tests -- --containers`
(environments one after another: no GPU here); the Slurm run is `--on slurm` against the
machine's one-node cluster (scripts/slurm_cluster.sh), one CPU per job, so the two jobs run
side by side. The Slurm run's images go to a registry of this script's own (seeded with the
machine's stand-ins). Each way runs once untimed first (builds, first push), then is timed.

"Last job's end to the report": from the last write to the last job's log (its final line,
submitit's "Exiting after successful completion") to the report's compare.md, both file
times on this machine: the runner's polling, merging the shards and writing the report.

    python benchmarks/bench_slurm.py [--suite unit --suite e2e] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1]  # torchship/, the tool
ROOT = TOOL.parent                          # the template project whose suites run
sys.path.insert(0, str(TOOL / "src"))

from torchship import config  # noqa: E402  (after the path above)
from torchship.adapters.docker import require_engine  # noqa: E402  (after the path above)
from torchship.matrix import run as matrix  # noqa: E402  (after the path above)
from torchship.testing import standins  # noqa: E402  (after the path above)
from torchship.testing.engine import remove_images_of  # noqa: E402  (after the path above)


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    code = matrix.main(argv, root=ROOT)
    if code != 0:
        raise SystemExit(f"error: gpu_tests {' '.join(argv)} exited {code}")
    return time.perf_counter() - t0


def report_delay(folder: Path) -> tuple[float, list[str]]:
    """Seconds from the last job log's last write to compare.md, and the jobs' states."""
    jobs = json.loads((folder / "jobs.json").read_text())["jobs"]
    last = max(Path(j["log"]).stat().st_mtime for j in jobs)
    return (folder / "compare.md").stat().st_mtime - last, [
        f"{j['label']} job {j['job_id']} {j['state']}" for j in jobs]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suite", action="append", default=[])
    p.add_argument("--runs", type=int, default=1, help="timed runs of each way")
    a = p.parse_args()
    cfg = config.load(ROOT)
    if not cfg.bases:
        print("error: no pinned environment configured (scripts/standin_bases.py)",
              file=sys.stderr)
        return 1
    base = cfg.bases[cfg.envs[0]]
    suites = [x for s in (a.suite or ["unit"]) for x in ("--suite", s)]
    with tempfile.TemporaryDirectory(prefix="tsmx-slurm-") as tmp:
        out = Path(tmp)
        with standins.registry(out / "registry",
                               seed=standins.MACHINE_REGISTRY / "storage") as reg:
            local = out / "torchship.local.toml"
            local.write_text(f'image = "{reg.host}/bench25/mlproject"\n\n' + "".join(
                f'[bases.{env}]\nruntime = "{base.runtime}"\ndevel = "{base.devel}"\n\n'
                for env in ("one", "two")) + "[slurm]\ncpus = 1\ntime = 30\n")
            os.environ["TORCHSHIP_LOCAL_CONFIG"] = str(local)
            host = ["--containers", "--no-smoke", *suites]
            slurm = ["--on", "slurm", *suites]
            timed([*host, "--out", str(out / "warm-host")])    # builds, untimed
            timed([*slurm, "--out", str(out / "warm-slurm")])  # first push, untimed
            hosts, jobs, delays = [], [], []
            for i in range(a.runs):
                hosts.append(timed([*host, "--out", str(out / f"host{i}")]))
                jobs.append(timed([*slurm, "--out", str(out / f"slurm{i}")]))
                delay, states = report_delay(out / f"slurm{i}")
                delays.append(delay)
            remove_images_of(require_engine(), f"{reg.host}/bench25/mlproject")
    print(f"suites: {', '.join(suites[1::2])}; {os.cpu_count()} CPUs; runs: {a.runs}")
    print(f"one host, two environments one after another : "
          f"{' '.join(f'{t:6.1f}' for t in hosts)} s")
    print(f"two Slurm jobs side by side (submit..report)  : "
          f"{' '.join(f'{t:6.1f}' for t in jobs)} s")
    print(f"last job's end to the report                  : "
          f"{' '.join(f'{t:6.2f}' for t in delays)} s")
    print("jobs of the last run: " + "; ".join(states))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
