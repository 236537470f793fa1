"""The project's images as data: pinned environments x variants -> specs, tags, labels.

Every (env, variant) pair of [tool.torchship.bases] is one `ImageSpec`; its tags and the
labels known before a build are small pure functions of it and of the build's `Provenance`
(the project version and git state).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from torchship.config import VARIANTS, Base, Config
from torchship.errors import ConfigError, TorchshipError
from torchship.images.reference import Reference

LABEL_NS = "io.torchship"
OCI = "org.opencontainers.image"


class ImageError(TorchshipError):
    """An image could not be built, checked, pushed or removed."""


@dataclass(frozen=True)
class ImageSpec:
    """One image to build: an environment's base for one variant, and its tags."""

    env: str
    variant: str
    base: Base
    tags: tuple[str, ...]

    @property
    def base_ref(self) -> str:
        return self.base.ref(self.variant).pinned

    @property
    def name(self) -> str:
        return f"{self.env}/{self.variant}"


@dataclass(frozen=True)
class Provenance:
    """What the images of one build describe: the project version and git state."""

    version: str          # the project version, e.g. 0.4.0
    tag_version: str      # what goes into tags: the version, or version-g<sha> off a release
    revision: str | None  # the full commit
    source: str | None    # the repository URL
    created: str          # RFC 3339, UTC: the commit's time (now outside a repository)


def image_tags(image: str, tag_version: str, env: str, variant: str, *,
               default_env: str | None) -> tuple[str, ...]:
    """`{image}:{version}-{env}-{variant}`, plus `{image}:{version}-{variant}` for the
    default environment."""
    tags = [f"{image}:{tag_version}-{env}-{variant}"]
    if env == default_env:
        tags.append(f"{image}:{tag_version}-{variant}")
    return tuple(tags)


def tag_version(version: str, *, revision: str | None, at_release: bool) -> str:
    """The version part of tags: the version at a release tag, else version-g<short sha>."""
    if at_release or not revision:
        return version
    return f"{version}-g{revision[:7]}"


def plan(config: Config, prov: Provenance, *, envs: Sequence[str] | None = None,
         variants: Sequence[str] | None = None) -> list[ImageSpec]:
    """The images to build: every (env, variant), or those named."""
    if not config.bases:
        raise ConfigError("tool.torchship.bases", "no pinned environment is configured",
                          hint="add [tool.torchship.bases.<env>] with runtime and devel")
    check_image_name(config.image)
    for env in envs or ():
        if env not in config.bases:
            raise ConfigError("--env", f"{env!r} is not a configured environment",
                              hint=f"one of: {', '.join(config.bases)}")
    for variant in variants or ():
        if variant not in VARIANTS:
            raise ConfigError("--variant", f"{variant!r} is not a variant",
                              hint=f"one of: {', '.join(VARIANTS)}")
    return [
        ImageSpec(env, variant, base,
                  image_tags(config.image, prov.tag_version, env, variant,
                             default_env=config.default_env))
        for env, base in config.bases.items() if not envs or env in envs
        for variant in VARIANTS if not variants or variant in variants
    ]


def check_image_name(image: str) -> None:
    """Refuse an `image` name Docker cannot tag (before anything is built or committed)."""
    try:
        ref = Reference.parse(image, key="tool.torchship.image")
    except ConfigError as exc:
        raise ConfigError("tool.torchship.image", f"{image!r} is not a name Docker can use",
                          hint="lower-case letters, digits and . _ - in /-separated parts, "
                               "after an optional registry host[:port]; no tag") from exc
    if ref.tag or ref.digest:
        raise ConfigError("tool.torchship.image", f"{image!r} carries a tag or digest",
                          hint="the name only: torchship tags it per version and environment")


def oci_labels(spec: ImageSpec, prov: Provenance) -> dict[str, str]:
    """The labels known before the build: OCI provenance and the base."""
    base = spec.base.ref(spec.variant)
    labels = {
        f"{OCI}.version": prov.version,
        f"{OCI}.created": prov.created,
        f"{OCI}.base.name": f"{base.name}:{base.tag}" if base.tag else base.name,
        f"{OCI}.base.digest": base.digest or "",
        f"{LABEL_NS}.env": spec.env,
        f"{LABEL_NS}.variant": spec.variant,
    }
    if prov.revision:
        labels[f"{OCI}.revision"] = prov.revision
    if prov.source:
        labels[f"{OCI}.source"] = prov.source
    return labels


# --- provenance -------------------------------------------------------------------------------

def _git_facts(root: Path, tag: str) -> tuple[str | None, bool, str | None, int | None]:
    """HEAD, whether `tag` names it, origin's URL and HEAD's commit time (None, False, None,
    None outside a repository)."""
    from torchship.adapters.git import Git

    repo = Git.find(root)
    if repo is None:
        return None, False, None, None
    with repo:
        head = repo.head()
        at_tag = head is not None and repo.commit_of(f"refs/tags/{tag}") == head
        when = int(repo.log1(head, "%ct")) if head is not None else None
        return head, at_tag, repo.config("remote.origin.url") or None, when


def created_at(seconds: int | None) -> str:
    """RFC 3339 UTC of a commit's time (seconds since the epoch), else of now."""
    when = datetime.now(UTC) if seconds is None else datetime.fromtimestamp(seconds, UTC)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def provenance(config: Config, *, version: str | None = None, revision: str | None = None,
               release: bool = False) -> Provenance:
    """Version and git state of the project at `config.root` (or as given, for a release)."""
    version = version or config.pyproject.version or "0.0.0"
    head, head_at_tag, origin, when = _git_facts(config.root,
                                                 f"{config.release.tag_prefix}{version}")
    revision = revision or head
    at_tag = release or (revision is not None and head_at_tag)
    source = origin or config.pyproject.urls.get("Source")
    return Provenance(
        version=version,
        tag_version=tag_version(version, revision=revision, at_release=at_tag),
        revision=revision, source=source,
        # The commit's time, not the build's (SOURCE_DATE_EPOCH's rule): the labels, and so
        # the image ID, are the same wherever and whenever the commit is built.
        created=created_at(when if revision == head else None),
    )
