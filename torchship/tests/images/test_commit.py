"""A commit's images as CI builds them (torchship.images.commit): what needs no engine. The
build, push and registry cache run for real in tests/workflow/test_ci_in_image.py."""

from __future__ import annotations

from torchship.adapters.docker import Docker
from torchship.images.commit import (
    CommitImage,
    cache_args,
    cache_ref,
    exports_cache,
    github_output,
)

DIGEST = "sha256:" + "ab" * 32


def test_the_registry_cache_is_exported_with_buildx_and_inline_without() -> None:
    """buildx (CI's setup-buildx-action builder) writes every stage's layers to the cache
    tag; the engine's built-in BuildKit cannot export one, so the image carries its own."""
    ref = cache_ref("ghcr.io/team/app", "cu128", "devel")
    assert ref == "ghcr.io/team/app:buildcache-cu128-devel"
    buildx = Docker("docker", "28.0.0", buildx=True)
    assert cache_args(buildx, ref, export=True) == [
        "--cache-from", f"type=registry,ref={ref}",
        "--cache-to", f"type=registry,ref={ref},mode=max"]
    # buildx on the engine's own builder (the `docker` driver): inline, read from the registry
    assert cache_args(buildx, ref, export=False) == [
        "--cache-from", f"type=registry,ref={ref}", "--cache-to", "type=inline"]
    assert cache_args(Docker("/usr/bin/docker", "20.10.24", buildx=False), ref,
                      export=False) == ["--cache-from", ref, "--build-arg", "BUILDKIT_INLINE_CACHE=1"]


def test_a_client_without_buildx_exports_no_cache() -> None:
    assert not exports_cache(Docker("/usr/bin/docker", "20.10.24", buildx=False))


def test_the_step_outputs_name_each_variant_by_digest() -> None:
    images = [CommitImage("cu128", "devel", "127.0.0.1:5000/team/app:sha-0123456789ab-cu128-devel",
                          DIGEST),
              CommitImage("cu128", "runtime", "127.0.0.1:5000/team/app:sha-0123456789ab-cu128-"
                          "runtime", DIGEST)]
    assert github_output(images) == (f"devel=127.0.0.1:5000/team/app@{DIGEST}\n"
                                     f"runtime=127.0.0.1:5000/team/app@{DIGEST}\n")
