"""The door to OCI artifacts in a registry, through oras-py (the ORAS project's client).

Blobs go up by oras's own upload (a blob the registry has is not sent again); a manifest goes
up as the exact bytes given, so that its digest is known before the registry answers and
equals what the registry serves. Everything read back is checked against its digest here:
the registry is never trusted to serve what was asked for.

A registry on 127.0.0.1 is plain HTTP (as skopeo and the engine treat it); credentials are
oras's: the user's docker config (`docker login`).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchship.errors import TorchshipError
from torchship.images.reference import Reference

if TYPE_CHECKING:
    import oras.provider
    import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class ArtifactError(TorchshipError):
    """A registry does not answer, refuses an artifact, or serves other bytes than asked."""


@dataclass(frozen=True)
class Blob:
    """A file to upload as one blob of an artifact, with the descriptor the manifest gives it."""

    path: Path
    media_type: str
    annotations: tuple[tuple[str, str], ...] = ()

    def descriptor(self) -> dict[str, Any]:
        desc: dict[str, Any] = {"mediaType": self.media_type, "digest": file_digest(self.path),
                                "size": self.path.stat().st_size}
        if self.annotations:
            desc["annotations"] = dict(self.annotations)
        return desc


def file_digest(path: Path) -> str:
    with path.open("rb") as fh:
        return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()


def bytes_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _registry(ref: Reference) -> oras.provider.Registry:
    import oras.provider  # requests and jsonschema: only when an artifact is moved

    local = ref.local_http
    return oras.provider.Registry(hostname=ref.host, insecure=local, tls_verify=not local)


def _url(ref: Reference, kind: str, what: str) -> str:
    scheme = "http" if ref.local_http else "https"
    return f"{scheme}://{ref.host}/v2/{ref.path}/{kind}/{what}"


def _request(reg: oras.provider.Registry, method: str, url: str, *, what: str,
             data: bytes | None = None, headers: dict[str, str] | None = None,
             stream: bool = False) -> requests.Response:
    import requests

    try:
        resp: requests.Response = reg.do_request(url, method, data=data, headers=headers or {},
                                                 stream=stream)
        return resp
    except requests.RequestException as exc:
        host = url.split("/")[2]
        raise ArtifactError(f"{what}: registry {host} does not answer ({type(exc).__name__})",
                            hint="start it, or fix the host and port") from exc
    except ValueError as exc:  # oras: an authentication it cannot answer
        raise ArtifactError(f"{what}: {exc}", hint="docker login to the registry") from exc


def _failed(resp: requests.Response, what: str) -> ArtifactError:
    try:
        errors = resp.json().get("errors") or []
        said = "; ".join(str(e.get("message") or e.get("code")) for e in errors)
    except ValueError:
        said = resp.text.strip()[:200]
    return ArtifactError(f"{what}: the registry answered HTTP {resp.status_code}"
                         + (f" ({said})" if said else ""))


def _parse(name: str) -> Reference:
    ref = Reference.parse(name, key="an artifact reference")
    if ref.host is None:
        raise ArtifactError(f"{name}: an artifact needs a registry host in its name",
                            hint="set image to host[:port]/name in [tool.torchship]")
    return ref


def push(ref: str, blobs: Sequence[Blob], config: bytes, config_type: str,
         manifest: bytes) -> str:
    """Upload `blobs` and `config`, then `manifest` (bytes as given) under `ref` (name:tag).
    Returns the manifest's digest, which the registry confirmed."""
    import oras.oci

    target = _parse(ref)
    reg = _registry(target)
    container = reg.get_container(f"{target.path}:{target.tag or 'latest'}")
    with _scratch(config) as config_path:
        for path, media_type in [(b.path, b.media_type) for b in blobs] + [(config_path, config_type)]:
            layer = oras.oci.NewLayer(str(path), media_type=media_type)
            try:
                resp = reg.upload_blob(str(path), container, layer)
            except Exception as exc:  # requests' errors and oras' own: one line, named
                raise ArtifactError(f"uploading {path.name} to {target.name}: {exc}") from exc
            if resp.status_code not in (200, 201, 202):
                raise _failed(resp, f"uploading {path.name} to {target.name}")
    digest = bytes_digest(manifest)
    resp = _request(reg, "PUT", _url(target, "manifests", target.tag or "latest"),
                    what=f"pushing {ref}", data=manifest,
                    headers={"Content-Type": OCI_MANIFEST})
    if resp.status_code not in (200, 201):
        raise _failed(resp, f"pushing {ref}")
    said = resp.headers.get("Docker-Content-Digest")
    if said and said != digest:
        raise ArtifactError(f"pushing {ref}: the registry stored {said[:19]}, not the "
                            f"{digest[:19]} sent")
    return digest


@contextmanager
def _scratch(data: bytes) -> Iterator[Path]:
    """A temporary file holding `data` (oras uploads blobs from paths)."""
    with tempfile.TemporaryDirectory(prefix="tsoci-") as tmp:
        path = Path(tmp) / "blob"
        path.write_bytes(data)
        yield path


def resolve(ref: str) -> str | None:
    """The digest the registry's tag `ref` names now, or None when it has no such tag."""
    target = _parse(ref)
    reg = _registry(target)
    resp = _request(reg, "HEAD", _url(target, "manifests", target.tag or "latest"),
                    what=f"reading {ref}", headers={"Accept": OCI_MANIFEST})
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise _failed(resp, f"reading {ref}")
    digest = resp.headers.get("Docker-Content-Digest")
    if not digest:
        raise ArtifactError(f"reading {ref}: the registry gave no Docker-Content-Digest")
    return str(digest)


def manifest(name: str, digest: str) -> bytes:
    """The manifest `name@digest`, exactly the bytes of that digest."""
    target = _parse(name)
    reg = _registry(target)
    resp = _request(reg, "GET", _url(target, "manifests", digest), what=f"reading {name}@{digest[:19]}",
                    headers={"Accept": OCI_MANIFEST})
    if resp.status_code == 404:
        raise ArtifactError(f"{name}@{digest[:19]} is not in the registry")
    if resp.status_code != 200:
        raise _failed(resp, f"reading {name}@{digest[:19]}")
    got = bytes_digest(resp.content)
    if got != digest:
        raise ArtifactError(f"{name}@{digest[:19]}: the registry serves a manifest of {got[:19]}")
    return bytes(resp.content)


def fetch(name: str, digest: str, out: Path) -> None:
    """Download blob `digest` of repository `name` into `out`; refused (and `out` removed)
    unless its bytes are that digest."""
    target = _parse(name)
    reg = _registry(target)
    container = reg.get_container(target.path)
    try:
        reg.download_blob(container, digest, str(out))
    except Exception as exc:  # requests' HTTPError, a connection error: one line
        out.unlink(missing_ok=True)
        raise ArtifactError(f"downloading {digest[:19]} from {name}: {exc}") from exc
    got = file_digest(out)
    if got != digest:
        out.unlink(missing_ok=True)
        raise ArtifactError(f"{name}: blob {digest[:19]} came back as {got[:19]}")


def delete(name: str, digest: str) -> bool:
    """Delete manifest `name@digest` (and so the tags naming it); False if it was not there."""
    target = _parse(name)
    reg = _registry(target)
    resp = _request(reg, "DELETE", _url(target, "manifests", digest),
                    what=f"deleting {name}@{digest[:19]}")
    if resp.status_code == 404:
        return False
    if resp.status_code not in (200, 202):
        raise _failed(resp, f"deleting {name}@{digest[:19]}")
    return True
