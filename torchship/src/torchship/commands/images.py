"""`torchship images {build,lock,pin,push,run,rebuild}` (docs/images.md); the `invoke
images.*` tasks call the same functions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torchship.cli import Parser
from torchship.commands import dispatch

#: What a long command stopped by SIGTERM or SIGHUP says, here and as its invoke task.
BUILD_STOPPED = "interrupted; the images this build made were removed"
PUSH_STOPPED = "interrupted; the images pushed before it (listed above) stay in the registry"
REBUILD_STOPPED = "interrupted; its worktree and the images it rebuilt were removed"


def build(*, env: str | None = None, variant: str | None = None, no_cache: bool = False,
          verbose: bool = False) -> int:
    """Build runtime and devel images on every pinned base (or the ones named)."""
    from torchship import project
    from torchship.images import build as images

    images.build(project.load(Path.cwd()).config, envs=[env] if env else None,
                 variants=[variant] if variant else None, no_cache=no_cache, verbose=verbose)
    return 0


def pin(*, check: bool = False) -> int:
    """Resolve every base to its registry digest and write it back (or --check)."""
    from torchship.images.pin import pin as pin_bases
    from torchship.images.pin import source_file

    pins = pin_bases(Path.cwd(), check=check)
    where = source_file(Path.cwd())[0].name
    for p in pins:
        state = "pinned" if not p.changed else ("would change" if check else "updated")
        print(f"{where}: {p.key} {state}: {p.new}")
    return 0


def push() -> int:
    """Push this version's images and confirm each by pulling its digest back."""
    from torchship import project
    from torchship.images import publish

    # Each line as its image lands in the registry: a later failure never hides one.
    publish.push(project.load(Path.cwd()).config, on_pushed=lambda p: print(
        f"pushed {p.tag} {p.digest} (pulled back, same image)", flush=True))
    return 0


def lock(*, env: str | None = None) -> int:
    """Resolve each image's dependencies inside its base; write docker/locks/."""
    from torchship import project
    from torchship.adapters.docker import require_engine
    from torchship.images import locks

    cfg = project.load(Path.cwd()).config
    for path in locks.lock(cfg, cfg.pyproject.data, docker=require_engine(),
                           envs=[env] if env else None):
        pinned = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
        print(f"{path.relative_to(cfg.root)}: {len(pinned)} packages pinned")
    return 0


def run(*, tag: str, variant: str = "runtime", env: str | None = None, insecure: bool = False,
        command: Sequence[str] = ()) -> int:
    """Run a release's image by digest after verifying it: TAG [-- CMD]."""
    from torchship.release.lastgood import run_release

    return run_release(".", tag, variant=variant, env=env, insecure=insecure, cmd=list(command))


def rebuild(*, tag: str, no_cache: bool = False, verbose: bool = False) -> int:
    """Rebuild a release's images in a clean worktree of TAG; report how they differ."""
    from torchship.images.rebuild import rebuild as rebuild_release

    rebuild_release(".", tag, verbose=verbose, no_cache=no_cache)
    return 0


def main(argv: Sequence[str], *, group: str = "images") -> int:
    p = Parser(prog="torchship images", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(metavar="COMMAND", required=True)
    c = sub.add_parser("build", help=build.__doc__, description=build.__doc__)
    c.add_argument("--env", help="only this pinned environment")
    c.add_argument("--variant", choices=("runtime", "devel"), help="only runtime or devel")
    c.add_argument("--no-cache", action="store_true", help="rebuild every step")
    c.add_argument("--verbose", action="store_true",
                   help="a line per step and BuildKit's every line, not the live display")
    c.set_defaults(func=build, stopped=BUILD_STOPPED)
    c = sub.add_parser("lock", help=lock.__doc__, description=lock.__doc__)
    c.add_argument("--env", help="only this pinned environment")
    c.set_defaults(func=lock)
    c = sub.add_parser("pin", help=pin.__doc__, description=pin.__doc__)
    c.add_argument("--check", action="store_true",
                   help="only check: fail when a base is unpinned or its tag moved")
    c.set_defaults(func=pin)
    c = sub.add_parser("push", help=push.__doc__, description=push.__doc__)
    c.set_defaults(func=push, stopped=PUSH_STOPPED)
    c = sub.add_parser("run", help=run.__doc__, description=run.__doc__)
    c.add_argument("tag", help="the release tag")
    c.add_argument("--variant", default="runtime", choices=("runtime", "devel"),
                   help="runtime (default) or devel")
    c.add_argument("--env", help="the pinned environment (default: the default one)")
    c.add_argument("--insecure", action="store_true",
                   help="run it even when the release does not verify")
    c.set_defaults(func=run, command=[])
    c = sub.add_parser("rebuild", help=rebuild.__doc__, description=rebuild.__doc__)
    c.add_argument("tag", help="the release tag")
    c.add_argument("--no-cache", action="store_true",
                   help="run every step again (none from the engine's layer cache)")
    c.add_argument("--verbose", action="store_true",
                   help="BuildKit's every line, not the live display")
    c.set_defaults(func=rebuild, stopped=REBUILD_STOPPED)
    return dispatch(p, argv)
