"""`invoke release --matrix` with images: how long it takes, how long it spends building, and
whether the images it ships are those its matrix ran.

In a throwaway copy of the template pointed at the configured bases (this checkout's
torchship.local.toml: the stand-ins on a machine that cannot pull), with evidence on:

1. `invoke release --part patch --matrix --no-sign` (no push: what is timed is the build and
   the test, not the registry), timed whole. The seconds spent building are read from the
   image manifests the builds wrote (results/images/*.json, `build_seconds`), one per image
   tag built. Then the image the tag names for the devel variant is compared with the one the
   matrix record ran (`image_digest`).
2. The same release again, once the first is undone by hand (tag deleted, branch reset,
   baseline removed; its images stay in the engine): the images of the same content exist,
   so this is the build time of a release that finds its tested images.

    python benchmarks/bench_release_tested.py [--template DIR]

`--template`: the checkout whose template is copied (default: this one); run it with the
interpreter of that checkout's environment to time that checkout's torchship.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def copy_template(root: Path, dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=root, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name.startswith("torchship/") or not (root / name).is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, dest / name)
    shutil.copy2(root / "torchship.local.toml", dest / "torchship.local.toml")
    image = f"127.0.0.1:{_port(dest)}/bench-tested/p{os.getpid()}"
    local = dest / "torchship.local.toml"
    local.write_text(re.sub(r'^image = ".*"$', f'image = "{image}"', local.read_text(),
                            flags=re.M))
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "bench"],
                 ["config", "user.email", "bench@example.com"], ["add", "-A"],
                 ["commit", "-q", "-m", "template"]):
        subprocess.run(["git", *args], cwd=dest, check=True)
    return dest


def _port(dest: Path) -> str:
    m = re.search(r"127\.0\.0\.1:(\d+)/", (dest / "torchship.local.toml").read_text())
    if m is None:
        sys.exit("error: torchship.local.toml names no local registry (scripts/standin_bases.py)")
    return m[1]


def run(args: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if res.returncode != 0:
        sys.exit(f"error: {' '.join(args)} failed:\n{(res.stdout + res.stderr)[-3000:]}")
    return seconds, res.stdout


def build_seconds(project: Path, since: float) -> dict[str, float]:
    """{image tag: seconds} of the builds whose manifests were written after `since`."""
    out = {}
    for path in sorted((project / "results" / "images").glob("*.json")):
        if path.stat().st_mtime >= since:
            data = json.loads(path.read_text())
            out[data["tags"][0]] = float(data["build_seconds"])
    return out


def image_id(ref: str, cwd: Path) -> str:
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout.strip()


def one_release(project: Path, label: str) -> None:
    since = time.time()
    seconds, out = run(["invoke", "release", "--part", "patch", "--matrix", "--no-sign"],
                       project)
    built = build_seconds(project, since)
    tag = subprocess.run(["git", "cat-file", "tag", "v0.1.1"], cwd=project, capture_output=True,
                         text=True, check=True).stdout
    shipped = [ln[2:].strip() for ln in tag.splitlines()
               if ln.startswith("- ") and ln.rstrip().endswith("-cpu-devel")]
    run_json = json.loads((project / "results" / "releases" / "v0.1.1" / "run.json").read_text())
    tested = run_json["records"][0].get("image_digest")
    ships = image_id(shipped[0].split(" ")[0], project) if shipped else "none"
    print(f"{label}: release --matrix {seconds:.0f} s; building {sum(built.values()):.1f} s "
          f"over {len(built)} image build(s)")
    for t, s in built.items():
        print(f"  built {t}: {s:.1f} s")
    print(f"  shipped devel image {ships[:19]}, tested {str(tested)[:19]}: "
          f"{'the same' if ships == tested else 'DIFFERENT'}")
    for line in out.splitlines():
        if line.startswith("• images") or line.startswith("• evidence"):
            print(f"  {line[:160]}")


def undo_by_hand(project: Path) -> None:
    """Back to the commit before the release; its images stay in the engine."""
    for args in (["tag", "-d", "v0.1.1"], ["reset", "-q", "--hard", "HEAD~1"]):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)
    shutil.rmtree(project / "results" / "releases")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=TOOL.parent)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tested-") as tmp:
        project = copy_template(args.template.resolve(), Path(tmp) / "p")
        log = project / "CHANGELOG.md"
        log.write_text(log.read_text().replace("## [Unreleased]\n",
                                               "## [Unreleased]\n\n### Fixed\n\n- bench\n", 1))
        subprocess.run(["git", "commit", "-qam", "a change to release"], cwd=project, check=True)
        one_release(project, "first release")
        undo_by_hand(project)
        one_release(project, "same release again (its images exist)")
        tags = subprocess.run(["docker", "image", "ls", "--format",
                               "{{.Repository}}:{{.Tag}}", f"127.0.0.1:{_port(project)}/"
                               f"bench-tested/p{os.getpid()}"], capture_output=True, text=True,
                              check=False).stdout.split()
        if tags:
            subprocess.run(["docker", "rmi", *tags], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
