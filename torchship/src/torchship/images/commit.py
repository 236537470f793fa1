"""A commit's images, as CI builds them once: `torchship ci build --env ENV`.

For one commit and one pinned environment: both variants built with BuildKit from the
commit's tree (torchship.images.build, which probes and labels them as any build), with a
registry cache read and written, each pushed under `<image>:sha-<12 hex>-<env>-<variant>`
(torchship.images.reference.commit_tag) and confirmed by pulling its digest back. The
digests are what CI's test jobs run, by digest (torchship.workflow.cigen), and what a
release can take instead of building again.

The registry cache is `<image>:buildcache-<env>-<variant>`. With buildx and a builder that
can export one (CI: docker/setup-buildx-action's docker-container builder) BuildKit writes
it there itself (`type=registry`, mode=max: every stage's layers). The engine's own builder
(buildx's `docker` driver) and a client with BuildKit built in (Docker 20.10, as on the
machines this is tested on) cannot: the image carries its own (inline: the final stage's
layers) and is pushed under that tag too. Either way the next commit's build reads it with
`--cache-from`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from torchship.adapters.docker import Docker, require_engine
from torchship.adapters.git import Git
from torchship.config import Config
from torchship.errors import ConfigError, TorchshipError
from torchship.images.reference import Reference, commit_tag
from torchship.images.spec import ImageError, ImageSpec, check_image_name, provenance


@dataclass(frozen=True)
class CommitImage:
    """One image of a commit, pushed: its commit tag and the digest the registry gave it."""

    env: str
    variant: str
    tag: str      # <image>:sha-<12 hex>-<env>-<variant>
    digest: str   # sha256:...

    @property
    def pinned(self) -> str:
        """`<image>@sha256:...`: what CI's test jobs run."""
        return f"{Reference.parse(self.tag).name}@{self.digest}"


def cache_ref(image: str, env: str, variant: str) -> str:
    """Where the registry cache of an environment's variant lives (one per env and variant,
    across commits: the next commit reads what this one wrote)."""
    return f"{image}:buildcache-{env}-{variant}"


def exports_cache(docker: Docker) -> bool:
    """Whether builds can export a registry cache: buildx with a builder whose driver is not
    the engine's own (`docker`, which cannot: docker-container, as setup-buildx-action
    makes, kubernetes and remote can)."""
    if not docker.buildx:
        return False
    out = docker("buildx", "inspect", check=False)
    drivers = [value.strip() for key, _, value in
               (line.partition(":") for line in out.stdout.splitlines()) if key.strip() == "Driver"]
    return out.returncode == 0 and bool(drivers) and drivers[0] != "docker"


def cache_args(docker: Docker, ref: str, *, export: bool) -> list[str]:
    """BuildKit's arguments to read the cache at `ref` and, with `export`, write it there;
    without, the image carries its cache (inline), pushed to `ref` after the build."""
    if export:
        return ["--cache-from", f"type=registry,ref={ref}",
                "--cache-to", f"type=registry,ref={ref},mode=max"]
    if docker.buildx:  # buildx on the engine's own builder: inline only
        return ["--cache-from", f"type=registry,ref={ref}", "--cache-to", "type=inline"]
    # `docker build`'s built-in BuildKit: no --cache-to at all.
    return ["--cache-from", ref, "--build-arg", "BUILDKIT_INLINE_CACHE=1"]


def head_commit(root: Path, commit: str | None) -> str:
    """The commit the tree at `root` is: HEAD, clean. `commit` (CI's $GITHUB_SHA), when
    given, must be HEAD: a tag naming one commit over another's images would be a lie."""
    repo = Git.find(root)
    head = repo.head() if repo else None
    if repo is None or head is None:
        raise TorchshipError(f"{root} is not a git repository with a commit",
                             hint="the images of a commit are built from its checkout")
    if commit is not None and commit != head:
        raise ConfigError("--commit", f"{commit} is not HEAD ({head[:12]})",
                          hint="check out that commit first (CI: actions/checkout does)")
    if repo.is_dirty():
        raise TorchshipError(f"the work tree has changes: its images would not be {head[:12]}'s",
                             hint="commit or stash them")
    return head


def build_commit(config: Config, *, env: str, commit: str | None = None,
                 image: str | None = None, docker: Docker | None = None,
                 quiet: bool = False) -> list[CommitImage]:
    """Build both variants of `env` at HEAD (`commit`), with the registry cache, push each
    under its commit tag, confirm it by pulling its digest back; return them, devel first."""
    if env not in config.bases:
        raise ConfigError("--env", f"{env!r} is not a configured environment",
                          hint=f"one of: {', '.join(config.bases) or 'none'}")
    if image is not None:
        check_image_name(image)
        config = replace(config, image=image)
    head = head_commit(config.root, commit)
    docker = docker or require_engine()
    from torchship.images.build import build
    from torchship.images.publish import push

    export = exports_cache(docker)

    def cache(spec: ImageSpec) -> Sequence[str]:
        return cache_args(docker, cache_ref(config.image, spec.env, spec.variant), export=export)

    built = build(config, envs=[env], variants=["devel", "runtime"],
                  prov=provenance(config, revision=head), cache=cache, quiet=quiet,
                  docker=docker)
    out: list[CommitImage] = []
    for b in built:
        tag = f"{config.image}:{commit_tag(head, b.spec.env, b.spec.variant)}"
        docker("tag", b.tag, tag)
        [pushed] = push(config, [tag], docker=docker)
        if not export:  # the inline cache travels in the image: push it as the cache
            ref = cache_ref(config.image, b.spec.env, b.spec.variant)
            docker("tag", b.tag, ref)
            try:
                docker("push", ref)
            except TorchshipError as exc:
                raise ImageError(f"pushing the build cache {ref} failed: {exc.render()}") from exc
        out.append(CommitImage(b.spec.env, b.spec.variant, tag, pushed.digest))
    return out


def github_output(images: Sequence[CommitImage]) -> str:
    """The step outputs (`$GITHUB_OUTPUT` lines): `<variant>=<image>@sha256:...`."""
    return "".join(f"{i.variant}={i.pinned}\n" for i in images)
