"""Run a release's image, and find the rollback target.

`invoke images.run TAG` verifies the release (as `invoke release.verify`: signature,
versions, image digests in the registry, their signatures and labels), then runs the
recorded image *by digest*, so what runs is the bytes the signed tag names, whatever the
registry's tag says now. A release that does not verify is refused unless `--insecure`.

`invoke release.last-good` walks the release tags newest first and names the first that
verifies, with its digests and the command that runs it: where production rolls back to.
Its recorded matrix must have passed: the signed tag message's `Evidence:` line (written by
the release from a passing matrix record of the tagged commit, release/evidence.py) names the
run; a tag released without evidence (`Evidence: none (...)`) or from before evidence was
recorded is judged by verification alone, and says so.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torchship import config as tsconfig
from torchship import project as projectmod
from torchship.adapters.git import Git
from torchship.errors import TorchshipError
from torchship.release.plan import ReleaseError
from torchship.release.verify import images_in, verify

Out = Callable[[str], None]
_EVIDENCE = re.compile(r"^Evidence: (?:matrix run (\S+) of \S+, (passed) in|none)", re.M)


def pick(listed: Sequence[str], tag: str, *, variant: str, env: str) -> str:
    """The recorded image of `env`/`variant` in a tag's `Images:` list."""
    wanted = f"-{env}-{variant}"
    for item in listed:
        ref = item.split("@", 1)[0]
        if ref.endswith(wanted):
            return item
    raise ReleaseError(f"{tag} records no {env} {variant} image",
                       hint="its images: " + (", ".join(i.split("@")[0] for i in listed)
                                              or "none"))


def pinned(item: str) -> str:
    """`name@sha256:...` for a recorded `name:tag@sha256:...` (as recorded when no digest)."""
    from torchship.images.reference import Reference

    return Reference.parse(item, key="a tag's Images: entry").pinned


def run_command(docker: str, image: str, cmd: Sequence[str], *, gpus: bool) -> list[str]:
    return [docker, "run", "--rm", *(["--gpus", "all"] if gpus else []), image, *cmd]


def run_release(start: Path | str, tag: str, *, variant: str = "runtime",
                env: str | None = None, insecure: bool = False, cmd: Sequence[str] = (),
                out: Out = print) -> int:
    """`invoke images.run TAG`: verify, then run the recorded image by digest; the exit code."""
    from torchship.adapters import proc
    from torchship.adapters.docker import require_engine
    from torchship.workflow.devcontainer import gpus_available

    if variant not in tsconfig.VARIANTS:
        raise ReleaseError(f"--variant {variant!r} is not a variant",
                           hint=f"one of: {', '.join(tsconfig.VARIANTS)}")
    with projectmod.find(start) as project:
        git, cfg = project.git, project.config
        try:
            verify(git, cfg, tag)
            out(f"✓ {tag} verifies")
        except TorchshipError as exc:
            if not insecure:
                raise ReleaseError(f"{tag} does not verify: {exc.message}; not run",
                                   hint="fix the release, or run it anyway with --insecure"
                                   ) from exc
            out(f"! {tag} does not verify ({exc.message}); running it anyway (--insecure)")
        body = git.tag_body(tag) if git.ref(f"refs/tags/{tag}") else ""
    env = env or cfg.default_env or ""
    image = pinned(pick(images_in(body), tag, variant=variant, env=env))
    docker = require_engine()
    # GPUs only when the engine can give them: without the NVIDIA runtime `--gpus all`
    # fails with "could not select device driver" on a host that lists a GPU.
    argv = run_command(docker.exe, image, cmd, gpus=gpus_available())
    out(f"$ {shlex.join(argv)}")
    return proc.run(argv, capture=False, check=False).returncode


@dataclass(frozen=True)
class Candidate:
    tag: str
    good: bool
    why: str
    images: tuple[str, ...] = ()


def release_tags(git: Git, prefix: str) -> list[str]:
    """The release tags, newest version first (PEP 440 order)."""
    from packaging.version import InvalidVersion, Version

    out = git.run("tag", "--list", f"{prefix}*").stdout.split()
    found = []
    for tag in out:
        try:
            found.append((Version(tag[len(prefix):]), tag))
        except InvalidVersion:
            continue
    return [tag for _, tag in sorted(found, reverse=True)]


def judge(git: Git, cfg: tsconfig.Config, tag: str) -> Candidate:
    """Whether `tag` is a release to roll back to, and why (not)."""
    try:
        verify(git, cfg, tag)
    except TorchshipError as exc:
        return Candidate(tag, False, f"does not verify: {exc.message}")
    body = git.tag_body(tag)
    images = tuple(images_in(body))
    evidence = _EVIDENCE.search(body)
    if evidence and evidence.group(2) == "passed":
        why = f"verifies, its recorded matrix run {evidence.group(1)} passed"
    elif evidence:
        why = "verifies (released without evidence: no matrix outcome recorded)"
    else:
        why = "verifies (the tag records no matrix outcome)"
    return Candidate(tag, True, why, images)


def run_hint(c: Candidate, env: str) -> str:
    """How to run a good release: by its runtime image for `env` when it has one (an old
    tag may lack the environment that is the default today), else its first image."""
    if not c.images:
        return f"run it: git checkout {c.tag}"
    try:
        image = pick(c.images, c.tag, variant="runtime", env=env)
    except ReleaseError:
        return f"run it: docker run --rm {pinned(c.images[0])}"
    return f"run it: invoke images.run {c.tag}   (or: docker run --rm {pinned(image)})"


def last_good(start: Path | str, *, out: Out = print) -> Candidate:
    """`invoke release.last-good`: the newest release that verifies (and whose recorded
    matrix passed), with its digests and how to run it."""
    with projectmod.find(start) as project:
        git, cfg = project.git, project.config
        tags = release_tags(git, cfg.release.tag_prefix)
        if not tags:
            raise ReleaseError(f"no release tags ({cfg.release.tag_prefix}*) in this "
                               "repository", hint="git fetch --tags")
        for tag in tags:
            c = judge(git, cfg, tag)
            out(f"{'✓' if c.good else '✗'} {tag}: {c.why}")
            if c.good:
                out(f"last good release: {tag}")
                for item in c.images:
                    out(f"  {item}")
                out(run_hint(c, cfg.default_env or ""))
                return c
    raise ReleaseError("no release verifies: there is nothing to roll back to",
                       hint="see the reasons above")
