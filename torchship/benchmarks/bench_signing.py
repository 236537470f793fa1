"""What signing and verifying the images costs a release: `invoke release --push` (tag and
images signed, every signature verified) against `invoke release --push --no-sign` (the same
build, push and registry checks, nothing signed or verified).

On a copy of the template at the repository's root, pointed at this checkout's
torchship.local.toml bases (the stand-ins on a machine that cannot pull) with images named
into a repository of the benchmark's own, a bare remote and a throwaway GPG key; the two
kinds of release alternate, one patch release each, several rounds; prints the medians, the
difference and the ratio. The images it pushed are deleted from the registry at the end.

    /path/to/venv/bin/python benchmarks/bench_signing.py [--rounds 2]    (from torchship/)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_release import timed  # beside this script: python puts its folder on sys.path

from torchship.adapters import skopeo
from torchship.adapters.skopeo import SkopeoError
from torchship.images.released import Recorded
from torchship.release.verify import images_in
from torchship.testing.gitrepo import add_bare_remote, git, isolated_env, make_repo
from torchship.testing.keys import configure_gpg, gpg_key, stop_gpg_agent

ROOT = Path(__file__).resolve().parents[2]  # the template: the repository's root
BIN = Path(sys.executable).parent


def release(project: Path, env: dict[str, str], *extra: str) -> float:
    """One patch release (after a changelog entry, committed: something to release)."""
    log = project / "CHANGELOG.md"
    log.write_text(log.read_text().replace("## [Unreleased]\n",
                                           "## [Unreleased]\n\n### Fixed\n\n- a fix\n", 1))
    git(project, "commit", "-qam", "a fix", env=env)
    # --no-evidence: what is measured is the images' signing, not the matrix record.
    return timed([str(BIN / "invoke"), "release", "--part", "patch", "--push", "--no-evidence",
                  *extra], project, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    local = ROOT / "torchship.local.toml"
    if not local.is_file():
        raise SystemExit(f"{local} is missing: it names the bases and registry to use")
    work = Path(tempfile.mkdtemp(prefix="tsbench-sign-"))
    gnupg = Path(tempfile.mkdtemp(prefix="tsg-"))
    project = work / "project"
    try:
        env = isolated_env(work / "home", GNUPGHOME=str(gnupg),
                           PATH=f"{BIN}:/usr/local/bin:/usr/bin:/bin")
        make_repo(ROOT, project, env=env)
        git(project, "config", "user.name", "Bench", env=env)
        git(project, "config", "user.email", "bench@example.com", env=env)
        text = local.read_text()
        image = re.search(r'^image = "([^"]+)"', text, re.M)
        if image is None:
            raise SystemExit(f"{local} names no image (image = \"host/name\")")
        host = image.group(1).split("/", 1)[0]
        own = f"{host}/torchship-bench-signing-{os.getpid()}/mlproject"
        text = text.replace(image.group(0), f'image = "{own}"')
        (project / "torchship.local.toml").write_text(
            f'{text}\n[signatures]\nlookaside = "{work / "sigstore"}"\n')
        add_bare_remote(project, work / "remote.git", env=env)
        configure_gpg(project, gpg_key(gnupg), env=env)
        kinds = {"signed (tag + images signed, signatures verified)": (),
                 "--no-sign (nothing signed or verified)": ("--no-sign",)}
        times: dict[str, list[float]] = {k: [] for k in kinds}
        release(project, env, "--no-sign")  # warm: the first build fills the layer cache
        for r in range(args.rounds):
            for name in (list(kinds) if r % 2 == 0 else list(reversed(kinds))):
                times[name].append(release(project, env, *kinds[name]))
        signed, unsigned = (statistics.median(v) for v in times.values())
        print(f"{args.rounds} round(s) of each, one patch release with 2 images each; medians:")
        for name, values in times.items():
            print(f"  {statistics.median(values):7.1f} s  {name}  "
                  f"(each: {', '.join(f'{v:.1f}' for v in values)})")
        print(f"  signing and verifying: {signed - unsigned:+.1f} s, "
              f"ratio {signed / unsigned:.3f}x")
    finally:
        tags = git(project, "tag", "--list", env=env).split() if project.exists() else []
        for tag in tags:
            for r in (Recorded.parse(i) for i in images_in(
                    git(project, "cat-file", "tag", tag, env=env))):
                if r.digest:
                    with contextlib.suppress(SkopeoError):  # two tags of one image: gone
                        skopeo.delete(r.pinned)
                subprocess.run(["docker", "rmi", r.tag], capture_output=True, check=False)
        stop_gpg_agent(gnupg)
        shutil.rmtree(gnupg, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
