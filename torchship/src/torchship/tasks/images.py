"""`invoke images.*`: build, pin, push the project's images (docs/images.md); aliases of
`torchship images` (torchship.commands.images)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import after_dashes, edge, stoppable
from torchship.commands.images import BUILD_STOPPED, PUSH_STOPPED, REBUILD_STOPPED


@task(help={"env": "only this pinned environment", "variant": "only runtime or devel",
            "no-cache": "rebuild every step",
            "verbose": "a line per step and BuildKit's every line, not the live display"})
@stoppable(BUILD_STOPPED)
def build(c: Context, env: str | None = None, variant: str | None = None,
          no_cache: bool = False, verbose: bool = False) -> None:
    """Build runtime and devel images on every pinned base (or the ones named)."""
    from torchship.commands import images as command

    command.build(env=env, variant=variant, no_cache=no_cache, verbose=verbose)


@task(help={"check": "only check: fail when a base is unpinned or its tag moved"})
@edge
def pin(c: Context, check: bool = False) -> None:
    """Resolve every base to its registry digest and write it back (or --check)."""
    from torchship.commands import images as command

    command.pin(check=check)


@task
@stoppable(PUSH_STOPPED)
def push(c: Context) -> None:
    """Push this version's images and confirm each by pulling its digest back."""
    from torchship.commands import images as command

    command.push()


@task(help={"env": "only this pinned environment"})
@edge
def lock(c: Context, env: str | None = None) -> None:
    """Resolve each image's dependencies inside its base; write docker/locks/."""
    from torchship.commands import images as command

    command.lock(env=env)


@task(name="run", help={"variant": "runtime (default) or devel",
                         "env": "the pinned environment (default: the default one)",
                         "insecure": "run it even when the release does not verify"})
@edge
def run_(c: Context, tag: str, variant: str = "runtime", env: str | None = None,
         insecure: bool = False) -> None:
    """Run a release's image by digest after verifying it: invoke images.run TAG [-- CMD]."""
    from torchship.commands import images as command

    code = command.run(tag=tag, variant=variant, env=env, insecure=insecure,
                       command=after_dashes(c.remainder))
    if code:
        raise SystemExit(code)


@task(help={"no-cache": "run every step again (none from the engine's layer cache)",
            "verbose": "BuildKit's every line, not the live display"})
@stoppable(REBUILD_STOPPED)
def rebuild(c: Context, tag: str, no_cache: bool = False, verbose: bool = False) -> None:
    """Rebuild a release's images in a clean worktree of TAG; report how they differ."""
    from torchship.commands import images as command

    command.rebuild(tag=tag, no_cache=no_cache, verbose=verbose)


ns = Collection("images", build, lock, pin, push, rebuild, run_)
