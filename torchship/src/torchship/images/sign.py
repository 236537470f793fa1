"""Image signatures: GPG "simple signing" (containers-signature(5)) made and checked by skopeo.

A release signs each image it pushed with the key that signs its git tag: one signature per
recorded tag (its identity, `name:tag`) over the manifest digest recorded in the tag. The
signatures live in a lookaside store, a folder laid out as every containers/image tool reads
it (`<repository path>@sha256=<hex>/signature-<n>`); publish it over HTTP(S) and point a
cluster's registries.d at it (docs/images.md).

Verifying needs only the team's public key: each signature is checked by skopeo
(`standalone-verify`) in a keyring holding that key alone, and `policy()` /
`registries_d()` write the policy.json and registries.d a runtime (podman, CRI-O, skopeo)
enforces the same check with.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchship.adapters import proc, skopeo
from torchship.adapters.skopeo import SkopeoError
from torchship.config import Config
from torchship.errors import CommandFailed, ConfigError, TorchshipError
from torchship.images.reference import Reference


class SignatureError(TorchshipError):
    """An image cannot be signed, or its signature does not verify."""


def _default_store() -> Path:
    # containers/image's own defaults (containers-registries.d(5)).
    if os.geteuid() == 0:
        return Path("/var/lib/containers/sigstore")
    return Path.home() / ".local" / "share" / "containers" / "sigstore"


@dataclass(frozen=True)
class Store:
    """A lookaside signature store on this machine's file system."""

    root: Path

    @classmethod
    def of(cls, cfg: Config) -> Store:
        where = cfg.signatures.lookaside.removeprefix("file://")
        if "://" in where:
            raise ConfigError("tool.torchship.signatures.lookaside",
                              f"{cfg.signatures.lookaside!r}: signatures are written to and "
                              "read from a folder on this machine",
                              hint="a folder or file:// URL; publish that folder over HTTP(S) "
                                   "for the machines that pull (docs/images.md)")
        if not where:
            return cls(_default_store())
        path = Path(where).expanduser()
        return cls(path if path.is_absolute() else cfg.root / path)

    @property
    def url(self) -> str:
        return self.root.resolve().as_uri()

    def folder(self, name: str, digest: str) -> Path:
        """Where the signatures of `name@digest` are (the layout skopeo reads and writes)."""
        algo, _, hexpart = digest.partition(":")
        return self.root / f"{Reference.parse(name).path}@{algo}={hexpart}"

    def signatures(self, name: str, digest: str) -> list[Path]:
        folder = self.folder(name, digest)
        found = [p for p in folder.glob("signature-*") if p.name[10:].isdigit()]
        return sorted(found, key=lambda p: int(p.name[10:]))


def registries_d(store: Store, folder: Path) -> Path:
    """A registries.d folder whose default-docker section reads (and stages) `store`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "torchship.yaml").write_text(
        f"# torchship: image signatures (docs/images.md)\ndefault-docker:\n"
        f"  lookaside: {store.url}\n  lookaside-staging: {store.url}\n")
    return folder


def policy(public_key: Path, repositories: Sequence[str]) -> dict[str, Any]:
    """A containers-policy.json(5): these repositories only signed by the team's key,
    anything else rejected."""
    signed = [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(public_key.resolve())}]
    return {"default": [{"type": "reject"}],
            "transports": {"docker": {repo: signed for repo in sorted(set(repositories))}}}


def write_policy(public_key: Path, repositories: Sequence[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(policy(public_key, repositories), indent=2) + "\n")
    return path


# -- keys ---------------------------------------------------------------------------------


def _gpg(*args: str, home: Path | None = None, what: str) -> str:
    env = {"GNUPGHOME": str(home)} if home else None
    try:
        return proc.run(["gpg", "--batch", *args], env=env).stdout
    except CommandFailed as exc:
        lines = [ln for ln in exc.output.splitlines() if ln.startswith("gpg:")]
        raise SignatureError(f"{what}: {lines[-1] if lines else exc.render()}") from exc


def signing_key(git_dir: Path) -> str:
    """The GPG key that signs the tags (git's user.signingkey), as a fingerprint."""
    from torchship.adapters.git import Git

    with Git.discover(git_dir) as git:
        fmt = git.config("gpg.format") or "openpgp"
        key = git.config("user.signingkey")
    if fmt != "openpgp":
        raise SignatureError(f"image signatures need a GPG key, and git signs with {fmt}",
                             hint="set gpg.format openpgp and user.signingkey, or release "
                                  "with --no-sign")
    if not key:
        raise SignatureError("no signing key: git's user.signingkey is not set",
                             hint="git config user.signingkey <GPG fingerprint>")
    out = _gpg("--with-colons", "--list-secret-keys", key,
               what=f"signing key {key} is not in the keyring")
    fprs = [ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:")]
    if not fprs:
        raise SignatureError(f"signing key {key} has no secret key here")
    return fprs[0]


def keyring_fingerprints(key: str) -> list[str]:
    """The fingerprints (primary key and subkeys) of `key` (an id, a fingerprint, a user id)
    in the public keyring."""
    out = _gpg("--with-colons", "--list-keys", key, what=f"key {key} is not in the keyring")
    return [ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:")]


def public_key(cfg: Config, *, tmp: Path) -> Path:
    """The team's public key: [tool.torchship.signatures] public_key, or the tag signing
    key exported from the local keyring into `tmp`."""
    if cfg.signatures.public_key:
        path = cfg.root / cfg.signatures.public_key
        if not path.is_file():
            raise SignatureError(f"the team's public key {cfg.signatures.public_key} does not "
                                 "exist", hint="export it: gpg --armor --export KEY > FILE")
        return path
    key = signing_key(cfg.root)
    out = tmp / "team-key.asc"
    out.write_text(_gpg("--armor", "--export", key, what=f"exporting {key}"))
    return out


def fingerprints(key_file: Path) -> list[str]:
    """Every key (and subkey) fingerprint in an exported public key file."""
    out = _gpg("--with-colons", "--import-options", "show-only", "--import", str(key_file),
               what=f"{key_file.name} is not a GPG public key")
    found = [ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:")]
    if not found:
        raise SignatureError(f"{key_file.name} holds no GPG public key")
    return found


@contextmanager
def _keyring(key_file: Path) -> Iterator[Path]:
    """A throwaway GNUPGHOME holding only `key_file` (short path: gpg-agent's socket)."""
    home = Path(tempfile.mkdtemp(prefix="tsk"))
    try:
        os.chmod(home, 0o700)
        _gpg("--import", str(key_file), home=home, what=f"importing {key_file.name}")
        yield home
    finally:
        # Cleanup must neither hide the error that ended the block nor leave the keyring.
        with suppress(TorchshipError):  # gpgconf missing: no agent of ours to stop
            proc.run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(home)}, check=False)
        shutil.rmtree(home, ignore_errors=True)


# -- sign and verify ----------------------------------------------------------------------


def manifest_of(name: str, digest: str, folder: Path) -> Path:
    """The registry's manifest of `name@digest`, in a file; refused if its bytes are not
    that digest (a registry must serve exactly what was pushed)."""
    raw = skopeo.raw_manifest(f"{name}@{digest}")
    got = "sha256:" + hashlib.sha256(raw).hexdigest()
    if got != digest:
        raise SignatureError(f"{name}@{digest}: the registry serves a manifest of {got}")
    path = folder / f"{digest.replace(':', '-')}.json"
    path.write_bytes(raw)
    return path


def sign(store: Store, identity: str, digest: str, key: str) -> Path:
    """Sign `digest` as `identity` (name:tag) with GPG key `key`; the new signature file."""
    name = Reference.parse(identity).name
    folder = store.folder(name, digest)
    existing = store.signatures(name, digest)
    target = folder / f"signature-{len(existing) + 1}"
    with tempfile.TemporaryDirectory(prefix="tss") as tmp:
        manifest = manifest_of(name, digest, Path(tmp))
        folder.mkdir(parents=True, exist_ok=True)
        try:
            skopeo.standalone_sign(manifest, identity, key, target)
        except SkopeoError as exc:
            target.unlink(missing_ok=True)
            raise SignatureError(exc.message,
                                 hint="is the key's secret part here, without a passphrase "
                                      "prompt (gpg-agent)?") from exc
    return target


def verify(store: Store, identity: str, digest: str, key_file: Path) -> str:
    """The fingerprint that signed `identity` at `digest`; SignatureError naming the image
    when no signature in the store is the team key's."""
    name = Reference.parse(identity).name
    sigs = store.signatures(name, digest)
    if not sigs:
        raise SignatureError(f"{identity}: no signature for {digest[:19]} in {store.root}",
                             hint="sign it (a release with --push signs its images)")
    fprs = fingerprints(key_file)
    reasons = []
    with tempfile.TemporaryDirectory(prefix="tsv") as tmp, _keyring(key_file) as home:
        manifest = manifest_of(name, digest, Path(tmp))
        for sig in sigs:
            for fpr in fprs:
                try:
                    skopeo.standalone_verify(manifest, identity, fpr, sig, gnupghome=home)
                except SkopeoError as exc:
                    reasons.append(exc.message.split(": ", 1)[-1])
                    continue
                return fpr
    # gpgme's reason for a key the keyring does not hold is a struct dump: name the signer.
    signers = sorted({m for r in reasons for m in re.findall(r'Fingerprint:"([0-9A-F]{16,})"', r)}
                     - set(fprs))
    why = (f"signed by another key: {', '.join(signers)}" if signers
           else reasons[-1] if reasons else "none could be read")
    raise SignatureError(f"{identity}: no signature verifies with the team key ({why})")


def remove(paths: Sequence[str]) -> list[str]:
    """Remove signature files (a release's undo); return those that were there."""
    gone = []
    for p in paths:
        path = Path(p)
        if path.exists():
            path.unlink()
            gone.append(p)
            with_parent = path.parent
            if with_parent.is_dir() and not any(with_parent.iterdir()):
                with_parent.rmdir()
    return gone
