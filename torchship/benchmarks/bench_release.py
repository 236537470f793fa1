"""How much a release costs over bump-my-version alone (target: a signed release within 1.25x).

Times `invoke release --part patch --no-images` against `bump-my-version bump patch` on
identical fresh copies of the same repository (a copy of the template at the repository's
root, released with the installed torchship), alternating which
goes first, several rounds in one run; prints the medians and their ratio. The release is
measured signed with a real, throwaway GPG key (the default), and with --no-sign, each with
--no-evidence (what bump-my-version's work compares with); and signed with its evidence, a
real passing matrix record of the commit (the unit suite on the host, made once before the
copies), which the release compares, copies as the baseline and writes a model card from.

    ../.venv/bin/python benchmarks/bench_release.py [--rounds 7]     (from torchship/)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from torchship.testing.gitrepo import isolated_env, make_repo
from torchship.testing.keys import configure_gpg, gpg_key, have, stop_gpg_agent

ROOT = Path(__file__).resolve().parents[2]  # the template: the repository's root

BIN = Path(sys.executable).parent


def _cpu() -> float:
    """CPU seconds (user + system) of the child processes waited for so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """The command's wall time and CPU time (its own and that of the processes it waited
    for: git, gpg; not gpg-agent's, a daemon), in seconds."""
    cpu, start = _cpu(), time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed, used = time.perf_counter() - start, _cpu() - cpu
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stdout}{res.stderr}")
    return elapsed, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tsbench-"))
    gnupg = Path(tempfile.mkdtemp(prefix="tsg-"))
    try:
        env = isolated_env(work / "home", GNUPGHOME=str(gnupg),
                           PATH=f"{BIN}:/usr/local/bin:/usr/bin:/bin")
        env.pop("PYTHONDONTWRITEBYTECODE")  # a user's clone keeps its bytecode cache
        template = make_repo(ROOT, work / "template", env=env)
        if have("gpg"):
            configure_gpg(template, gpg_key(gnupg), env=env)
        # The evidence: a passing record of HEAD (results/ is git-ignored, the tree stays clean).
        # The template pins bases, whose evidence is a run in its images: made in the
        # stand-ins' images where this machine has them (torchship.local.toml, git-ignored),
        # else the bases are dropped in a commit of the copy and the unit suite runs on the host.
        local = ROOT / "torchship.local.toml"
        matrix = [str(BIN / "python"), "-m", "torchship.matrix", "--suite", "unit", "--no-smoke"]
        if local.is_file() and shutil.which("docker"):
            shutil.copy2(local, template / local.name)
            print("evidence: the unit suite in the stand-ins' images (torchship.local.toml)")
        else:
            from torchship.testing.template import drop_bases

            drop_bases(template)
            subprocess.run(["git", "commit", "-qam", "No pinned bases (no engine here)"],
                           cwd=template, env=env, check=True)
            matrix.append("--local")
            print("evidence: the unit suite on the host (no engine or stand-ins: bases dropped)")
        done = subprocess.run(matrix, cwd=template, env=env, check=False, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise SystemExit(f"the evidence run failed:\n{done.stdout}{done.stderr}")
        # Warm the bytecode caches (the tool's, GitPython's, the template's tasks.py): a dry
        # run imports what a release does and changes nothing. --write-pyc: invoke turns
        # Python's bytecode writing off for everything it imports unless asked, so without it
        # an editable torchship (this venv's) was compiled from source on every timed run,
        # which a torchship installed from a wheel (compiled by pip, as bump-my-version is)
        # never is.
        subprocess.run([str(BIN / "invoke"), "--write-pyc", "release", "--part", "patch",
                        "--no-images", "--dry-run"], cwd=template, env=env, check=True,
                       capture_output=True)
        release = [str(BIN / "invoke"), "release", "--part", "patch", "--no-images"]
        cases = {
            "bump-my-version bump patch": [str(BIN / "bump-my-version"), "bump", "patch"],
            "invoke release --part patch --no-images --no-sign --no-evidence":
                [*release, "--no-sign", "--no-evidence"],
        }
        if have("gpg"):
            cases["invoke release --part patch --no-images --no-evidence (GPG-signed)"] = [
                *release, "--no-evidence"]
            cases["invoke release --part patch --no-images (GPG-signed, with evidence)"] = release
        times: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for r in range(args.rounds):
            order = list(cases) if r % 2 == 0 else list(reversed(cases))
            for name in order:
                copy = work / f"r{r}-{abs(hash(name))}"
                shutil.copytree(template, copy, symlinks=True)
                wall, used = timed(cases[name], copy, env)
                times[name].append(wall)
                cpu[name].append(used)
                shutil.rmtree(copy)
        bmv = "bump-my-version bump patch"
        base = statistics.median(times[bmv])
        print(f"{args.rounds} rounds, each on a fresh copy of the template; medians:")
        for name, values in times.items():
            med = statistics.median(values)
            print(f"  {med * 1000:7.0f} ms  {med / base:4.2f}x  {name}")
        # On a shared machine the wall medians move with its load; the fastest run and the
        # CPU time move much less (CPU: not the signing itself, which gpg-agent does).
        fastest, cpu_base = min(times[bmv]), statistics.median(cpu[bmv])
        print(f"load average {os.getloadavg()[0]:.1f}; fastest run, and median CPU time:")
        for name in cases:
            low, used = min(times[name]), statistics.median(cpu[name])
            print(f"  {low * 1000:7.0f} ms  {low / fastest:4.2f}x   {used * 1000:5.0f} ms CPU  "
                  f"{used / cpu_base:4.2f}x  {name}")
    finally:
        stop_gpg_agent(gnupg)
        shutil.rmtree(gnupg, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
