"""Registries: resolve a reference to its digest, push an image, confirm it by pulling back.

Digests come from the registry itself, never from the local engine's memory: a plain-HTTP
registry on 127.0.0.1 (tests, CI, a local mirror) is asked through the v2 HTTP API, any
other through the engine (`get_registry_data` of the docker SDK), which knows the user's
credentials and TLS settings.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from torchship.errors import TorchshipError
from torchship.images.reference import Reference

_MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])


class RegistryError(TorchshipError):
    """A registry could not be reached, or does not hold what was asked for."""

    def __init__(self, ref: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{ref}: {problem}", hint=hint)
        self.ref = ref
        self.problem = problem


class RegistryUnreachable(RegistryError):
    """The registry does not answer (refused, unknown host, timed out): nothing can be said
    about what it holds."""


# The engine's words for a registry it could not reach (its APIError carries Go's error).
_UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "deadline exceeded",
                "network is unreachable", "connection reset", "dial tcp")


def _http_digest(ref: Reference, original: str) -> str:
    url = f"http://{ref.host}/v2/{ref.path}/manifests/{ref.digest or ref.tag or 'latest'}"
    request = urllib.request.Request(url, method="HEAD", headers={"Accept": _MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            digest = resp.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise RegistryError(original, "not found in the registry",
                                hint="check the name and tag, or push it first") from exc
        raise RegistryError(original, f"registry answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise RegistryUnreachable(original, f"registry {ref.host} does not answer ({exc})",
                                  hint="start it, or fix the host and port") from exc
    if not digest:
        raise RegistryError(original, "registry gave no Docker-Content-Digest")
    return str(digest)


def resolve_digest(ref: str, *, via_engine: bool | None = None) -> str:
    """The digest (sha256:...) the registry serves for `ref` now; asked over plain HTTP for
    a 127.0.0.1 registry, else through the engine (`via_engine` forces one way)."""
    parsed = Reference.parse(ref)
    if via_engine is False or (via_engine is None and parsed.local_http):
        return _http_digest(parsed, ref)
    from docker.errors import APIError, NotFound  # heavy: only when a remote registry is asked

    from torchship.adapters.docker import client as docker_client

    client = docker_client()
    try:
        data = client.images.get_registry_data(ref)
    except NotFound as exc:
        raise RegistryError(ref, "not found in the registry") from exc
    except APIError as exc:
        # One line: the engine's explanation can carry a whole Go error chain.
        said = " ".join(str(exc.explanation or exc).split())
        if any(w in said.lower() for w in _UNREACHABLE):
            raise RegistryUnreachable(ref, f"registry {parsed.host or 'docker.io'} does not "
                                      f"answer ({said})",
                                      hint="start it, or check the network") from exc
        raise RegistryError(ref, f"the engine could not fetch it: {said}",
                            hint="log in with `docker login`, or check the name") from exc
    finally:
        client.close()
    return str(data.id)
