"""What the commit hooks cost: the torch probe, and a whole commit with and without hooks.

1. Finding the local torch/CUDA versions the way the hooks do (reading torch/version.py in
   the project's interpreter) against the obvious way (`import torch` there).
2. `git commit` in a copy of this template with the hooks installed (ruff on a changed
   Python file, the torch/CUDA check, the Env trailer) against `git commit --no-verify`.

Both sides are measured in one run, alternating, several rounds; medians and ratios printed.

    .venv/bin/python benchmarks/bench_hooks.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from torchship.testing.gitrepo import git, isolated_env, make_repo  # noqa: E402
from torchship.workflow.commitenv import _PROBE  # noqa: E402  (the path above must come first)

BIN = Path(sys.executable).parent


def timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def run(args: list[str], **kwargs: object) -> None:
    subprocess.run(args, check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    python = str(BIN / "python")
    results: dict[str, list[float]] = {"probe": [], "import torch": [],
                                       "commit with hooks": [], "commit --no-verify": []}
    with tempfile.TemporaryDirectory(prefix="bench-hooks-") as tmp:
        env = isolated_env(Path(tmp) / "home", PRE_COMMIT_HOME=str(Path(tmp) / "pre-commit"),
                           VIRTUAL_ENV=str(BIN.parent), PATH=f"{BIN}:/usr/bin:/bin")
        repo = make_repo(ROOT, Path(tmp) / "repo", env=env)
        (repo / "torchship.local.toml").write_text(
            '[bases.cpu]\nruntime = "x/y:r@sha256:' + "a" * 64 + '"\n'
            'devel = "x/y:d@sha256:' + "b" * 64 + '"\ntorch = "2.13.0"\n')
        run([str(BIN / "invoke"), "hooks.install"], cwd=repo, env=env)
        counter = 0

        def commit(*extra: str) -> None:
            nonlocal counter
            counter += 1
            path = repo / "src" / "mlproject" / "bench_touch.py"
            path.write_text(f"VALUE = {counter}\n")
            git(repo, "add", str(path), env=env)
            run(["git", "commit", "-q", *extra, "-m", f"Touch {counter}"], cwd=repo, env=env)

        commit()  # warm: pre-commit's environments, ruff's cache
        for i in range(rounds):
            pairs = [("probe", lambda: run([python, "-c", _PROBE])),
                     ("import torch", lambda: run([python, "-c", "import torch; "
                                                   "print(torch.__version__, torch.version.cuda)"])),
                     ("commit with hooks", lambda: commit()),
                     ("commit --no-verify", lambda: commit("--no-verify"))]
            if i % 2:
                pairs = pairs[1::-1] + pairs[3:1:-1]
            for name, func in pairs:
                results[name].append(timed(func))
    med = {name: statistics.median(values) for name, values in results.items()}
    for name, value in med.items():
        print(f"{name:<20} median {value * 1000:8.1f} ms over {rounds} rounds")
    print(f"probe is {med['import torch'] / med['probe']:.1f}x faster than importing torch")
    print(f"hooks add {(med['commit with hooks'] - med['commit --no-verify']) * 1000:.0f} ms a "
          f"commit ({med['commit with hooks'] / med['commit --no-verify']:.1f}x a bare commit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
