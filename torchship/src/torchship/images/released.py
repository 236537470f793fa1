"""The images a release recorded: `name:tag@sha256:<manifest digest>`, one per tag, in the
signed tag's message. Pushed once by the release, signed, checked against the registry.

Nothing rebuilds a released tag: what the tag records is what the registry must serve, and
`check` says, image by image, what differs (gone, overwritten, unsigned, signed by another
key, labelled with another commit).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from torchship.adapters import skopeo
from torchship.adapters.skopeo import SkopeoError
from torchship.config import Config
from torchship.images import sign
from torchship.images.reference import Reference
from torchship.images.registry import RegistryError, RegistryUnreachable, resolve_digest
from torchship.images.spec import OCI, ImageError


@dataclass(frozen=True)
class Recorded:
    """One image tag of a release and the manifest digest the tag recorded for it."""

    tag: str           # name:tag
    digest: str | None  # sha256:... (None: a tag made before digests were recorded)

    @classmethod
    def parse(cls, line: str) -> Recorded:
        ref = Reference.parse(line, key="an image in the tag message")
        return cls(f"{ref.name}:{ref.tag}" if ref.tag else ref.name, ref.digest)

    @property
    def name(self) -> str:
        return Reference.parse(self.tag).name

    @property
    def pinned(self) -> str:
        return f"{self.name}@{self.digest}"

    def __str__(self) -> str:
        return f"{self.tag}@{self.digest}" if self.digest else self.tag


def delete(digests: Mapping[str, str]) -> list[str]:
    """Undo a release's push: delete its manifests from the registry (which removes the tags
    naming them). Returns what was done, or what could not be and why."""
    said = []
    for pinned in sorted({f"{Reference.parse(t).name}@{d}" for t, d in digests.items()}):
        try:
            skopeo.delete(pinned)
        except SkopeoError as exc:
            said_gone = exc.message.lower()
            # The registry's own words for a manifest it does not have: already gone. (A bare
            # "unknown" is the code of many other failures: those are reported.)
            if "manifest unknown" in said_gone or "not found" in said_gone:
                continue
            said.append(f"left {pinned} in the registry ({exc.message}); it is unsigned "
                        "and no release names it")
            continue
        said.append(f"deleted {pinned} from the registry")
    return said


def sign_all(cfg: Config, digests: Mapping[str, str], key: str,
             on_signed: Callable[[str], None]) -> list[str]:
    """Sign every recorded tag's digest (identity: the tag); return the signature files.
    `on_signed` hears each file as it is written, so that an undo finds it."""
    store = sign.Store.of(cfg)
    made = []
    for tag, digest in digests.items():
        path = sign.sign(store, tag, digest, key)
        made.append(str(path))
        on_signed(str(path))
    return made


def check(cfg: Config, recorded: Sequence[Recorded], commit: str, *,
          signatures: bool) -> list[str]:
    """Each recorded image is in the registry with its digest, its tag still names that
    digest, its labels name `commit`, and (with `signatures`) a signature by the team key
    verifies. Returns what was checked; ImageError names the first image that differs."""
    undigested = [r.tag for r in recorded if r.digest is None]
    if undigested:
        raise ImageError(f"the tag records {undigested[0]} without a digest: it was made "
                         "before torchship recorded image digests (or without --push), so "
                         "nothing ties it to the bytes in the registry",
                         hint="release again with --push to record and sign them")
    checked = []
    for r in recorded:
        assert r.digest is not None
        try:
            resolve_digest(r.pinned)
        except RegistryUnreachable as exc:
            raise ImageError(f"{r.tag}: cannot be checked: {exc.message}",
                             hint=exc.hint) from exc
        except RegistryError as exc:
            raise ImageError(f"{r.tag}: the recorded {r.digest[:19]} is not in the registry "
                             f"({exc.message})") from exc
        try:
            now = resolve_digest(r.tag)
        except RegistryUnreachable as exc:
            raise ImageError(f"{r.tag}: cannot be checked: {exc.message}",
                             hint=exc.hint) from exc
        except RegistryError as exc:
            raise ImageError(f"{r.tag}: the tag is gone from the registry ({exc.message})",
                             hint=f"run it by digest: {r.pinned}") from exc
        if now != r.digest:
            raise ImageError(f"{r.tag}: the registry's tag names {now[:19]}, not the recorded "
                             f"{r.digest[:19]} (overwritten after the release)",
                             hint=f"the released image is {r.pinned}")
        labels = (skopeo.config(r.pinned).get("config") or {}).get("Labels") or {}
        revision = labels.get(f"{OCI}.revision")
        if revision != commit:
            raise ImageError(f"{r.tag}: labelled with revision {revision or 'none'}, not the "
                             f"tag's commit {commit[:12]}")
    checked.append(f"{len(recorded)} image(s) in the registry at their recorded digests, "
                   f"labelled with {commit[:12]}")
    if signatures:
        store = sign.Store.of(cfg)
        with tempfile.TemporaryDirectory(prefix="tsp") as tmp:
            key = sign.public_key(cfg, tmp=Path(tmp))
            signer = ""
            for r in recorded:
                assert r.digest is not None
                try:
                    signer = sign.verify(store, r.tag, r.digest, key)
                except sign.SignatureError as exc:
                    raise ImageError(exc.message, hint=exc.hint) from exc
        checked.append(f"{len(recorded)} image signature(s) verify (skopeo, simple signing, "
                       f"key {signer[-16:]})")
    return checked


# -- tested images (i23r) -------------------------------------------------------------------

def image_id(ref: str) -> str:
    """The image ID (its configuration's digest) of the manifest the registry serves for
    `ref`: what the engine that built and tested it calls the image."""
    import json

    try:
        manifest = json.loads(skopeo.raw_manifest(ref))
    except SkopeoError as exc:
        raise ImageError(f"{ref}: cannot be read from the registry: {exc.message}") from exc
    digest = (manifest.get("config") or {}).get("digest")
    if not isinstance(digest, str):
        raise ImageError(f"{ref}: the registry serves no single image there (a "
                         f"{manifest.get('mediaType', 'manifest')} without a configuration)")
    return digest


def check_tested(recorded: Sequence[Recorded], tested: Mapping[str, str]) -> list[str]:
    """Each shipped image is the image its release's evidence tested: the image the tag
    records (its digest) and the one its registry tag serves now both have the tested image
    ID. ImageError names the first image that is not."""
    for r in recorded:
        want = tested.get(r.tag)
        if want is None:
            raise ImageError(f"{r.tag}: the tag records no tested image for it: it shipped "
                             "without its evidence having run in it",
                             hint="release with --matrix: the release tests the images it "
                                  "ships")
        if r.digest is None:
            continue  # recorded without a digest (no --push): check() refuses it, saying so
        for ref, what in ((r.pinned, "the recorded image"), (r.tag, "the registry's tag")):
            got = image_id(ref)
            if got != want:
                raise ImageError(f"{r.tag}: {what} is image {got[:19]}, not the image "
                                 f"{want[:19]} the release's evidence tested (rebuilt after "
                                 "the test)", hint=f"the tested image is {r.pinned}"
                                 if what != "the recorded image" else None)
    return [f"{len(recorded)} image(s) are those the evidence tested (image IDs as the matrix "
            "ran them)"]
