"""The door to skopeo (Debian's `skopeo`): manifests and configs from a registry, copies,
deletes, and GPG "simple signing" signatures (containers-signature(5)).

skopeo talks to registries itself, with the user's credentials (`skopeo login` or docker's
config); a registry on 127.0.0.1 is plain HTTP, so TLS verification is off for it only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchship.adapters import proc
from torchship.errors import CommandFailed, TorchshipError
from torchship.images.reference import Reference


class SkopeoError(TorchshipError):
    """skopeo is missing, or a registry or signature operation failed."""


def exe() -> str:
    found = proc.which("skopeo")
    if found is None:
        raise SkopeoError("skopeo is not installed: image signatures need it",
                          hint="apt-get install skopeo (scripts/ci_services.sh)")
    return str(found)


def tls(ref: str, *, flag: str = "--tls-verify") -> list[str]:
    """The TLS flag for `ref`: off for a registry on this machine (plain HTTP)."""
    return [f"{flag}=false"] if Reference.parse(ref).local_http else []


def why(exc: CommandFailed) -> str:
    """skopeo's own reason: its `msg="..."` or the last `Error: ...` line."""
    text = exc.output.strip()
    found = re.findall(r'msg="((?:[^"\\]|\\.)*)"', text)
    if found:
        return str(found[-1]).replace('\\"', '"')
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else f"skopeo exited with {exc.returncode}").removeprefix("Error: ")


def run(*args: str, env: Mapping[str, str] | None = None, what: str) -> str:
    """Run skopeo; a failure is one SkopeoError line: `what` failed, and skopeo's reason."""
    try:
        return proc.run([exe(), *args], env=env).stdout
    except CommandFailed as exc:
        raise SkopeoError(f"{what}: {why(exc)}") from exc


def raw_manifest(ref: str) -> bytes:
    """The manifest bytes the registry serves for `ref` (exactly: a digest is over them)."""
    out = run("inspect", *tls(ref), "--raw", f"docker://{ref}", what=f"reading {ref}")
    return out.encode("utf-8")


def config(ref: str) -> dict[str, Any]:
    """The image configuration (its labels, its layers' diff ids) of `ref` in the registry."""
    out = run("inspect", *tls(ref), "--config", "--raw", f"docker://{ref}",
              what=f"reading the configuration of {ref}")
    data: dict[str, Any] = json.loads(out)
    return data


def delete(ref: str) -> None:
    """Delete the manifest `ref` (by digest) from its registry."""
    run("delete", *tls(ref), f"docker://{ref}", what=f"deleting {ref}")


def copy(src: str, dest: str, *, policy: Path | None = None,
         registries_d: Path | None = None) -> None:
    """`skopeo copy` between transports (`docker://...`, `dir:...`), under `policy`."""
    top = [*(["--policy", str(policy)] if policy else ["--insecure-policy"]),
           *(["--registries.d", str(registries_d)] if registries_d else [])]
    flags = []
    if src.startswith("docker://"):
        flags += tls(src.removeprefix("docker://"), flag="--src-tls-verify")
    if dest.startswith("docker://"):
        flags += tls(dest.removeprefix("docker://"), flag="--dest-tls-verify")
    run(*top, "copy", *flags, src, dest, what=f"copying {src} to {dest}")


def standalone_sign(manifest: Path, identity: str, key: str, out: Path, *,
                    gnupghome: Path | None = None) -> None:
    """A simple-signing signature of `manifest` for `identity`, by GPG key `key`."""
    env = {"GNUPGHOME": str(gnupghome)} if gnupghome else None
    run("standalone-sign", str(manifest), identity, key, "--output", str(out), env=env,
        what=f"signing {identity} with key {key}")


def standalone_verify(manifest: Path, identity: str, key: str, signature: Path, *,
                      gnupghome: Path) -> str:
    """Check `signature`: `manifest` for `identity`, by `key`, in the keyring `gnupghome`
    (which holds only the keys to trust). Returns the digest skopeo verified."""
    out = run("standalone-verify", str(manifest), identity, key, str(signature),
              env={"GNUPGHOME": str(gnupghome)},
              what=f"verifying the signature of {identity}")
    return out.strip().rsplit(" ", 1)[-1]
