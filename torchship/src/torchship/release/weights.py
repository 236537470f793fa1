"""The model a release ships: its trained weights as a CNCF ModelPack OCI artifact.

Configured by `[tool.torchship.release] weights = "<path or glob>"` (from the project); a
project without it is untouched. The artifact is `<image>-model:<version>` in the registry of
the project's images: one repository of models beside the images' own, so that tools that
list or prune images never meet it. Its manifest is an OCI image manifest with ModelPack's
artifactType, config and layers (modelpack/model-spec, specs-go/v1): each weight file
(safetensors where the checkpoint allows), then the run's metrics file and the model card as
documentation. KitOps and Docker Model Runner read that layout; `torchship model pull` reads
it back by digest.

The weights must come from a training run of the commit the release is made on: the run's
metrics file beside them names its commit (the metrics schema's `commit`), and a release whose
weights name another commit, or none, is refused before anything is written.

What is recorded where: the signed tag's message records the artifact by its manifest digest
(`Model:`, pinned as pushed, as the images are); the model card in the release commit records
each weight file by its own sha256 (the card travels inside the artifact, so it cannot hold the
manifest's digest). The artifact is signed like the images: a GPG simple signature by the key
that signs the tag, over the manifest digest, in the lookaside store (torchship.images.sign).
"""

from __future__ import annotations

import json
import re
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from torchship import config as tsconfig
from torchship.errors import TorchshipError

if TYPE_CHECKING:
    from torchship.adapters.git import Git

# modelpack/model-spec specs-go/v1: mediatype.go and annotations.go.
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG = "application/vnd.cncf.model.config.v1+json"
WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
DOC = "application/vnd.cncf.model.doc.v1.raw"
FILEPATH = "org.cncf.model.filepath"
# OCI's own annotation keys (image-spec annotations.md) on the manifest.
REVISION = "org.opencontainers.image.revision"
VERSION = "org.opencontainers.image.version"
TITLE = "org.opencontainers.image.title"

HEADER = "Model:"
CHECKPOINTS = (".pt", ".pth", ".bin", ".ckpt")
# A torch checkpoint that is a dict holding the state dict under one of these keys (the
# template's train.py writes {"model": ..., "optimizer": ..., "epoch": ..., "seed": ...}).
STATE_KEYS = ("model", "state_dict", "model_state_dict")

P = TypeVar("P")


class WeightsError(TorchshipError):
    """The weights cannot be released, or the released artifact does not verify."""


@dataclass(frozen=True)
class Weight:
    """One weight file as it ships."""

    source: str        # the file the training wrote, from the project
    name: str          # its name in the artifact (x.safetensors when converted)
    digest: str        # sha256:... of what ships
    size: int
    note: str          # how it was made: "converted from ...", or why it is not safetensors

    @property
    def safetensors(self) -> bool:
        return self.name.endswith(".safetensors")


@dataclass(frozen=True)
class Shipped:
    """The weights a release ships, worked out before anything is written."""

    ref: str                      # name:version (the artifact's tag)
    weights: tuple[Weight, ...]
    record: str                   # the training run's metrics file, from the project
    commit: str                   # the commit the record names (the release's parent)
    card: str                     # the model card, from the project

    @property
    def name(self) -> str:
        return self.ref.rpartition(":")[0]

    def message(self) -> str:
        """The tag message's section: the artifact (pinned as pushed), then each weight."""
        lines = [HEADER, f"- {self.ref}", "Weights:"]
        lines += [f"- {w.name} {w.digest} ({w.note})" for w in self.weights]
        return "\n".join(lines) + "\n"


def reference(cfg: tsconfig.Config, version: str) -> str:
    """The artifact's tag: `<image>-model:<version>`."""
    from torchship.images.reference import Reference

    return f"{Reference.parse(cfg.image).name}-model:{version}"


# -- the plan -----------------------------------------------------------------------------


def plan(cfg: tsconfig.Config, *, head: str, version: str) -> Shipped | None:
    """The weights to ship, or None when none are configured. Refuses (WeightsError, one
    line) weights that are missing, spread over several runs, or from a run whose record does
    not name `head`, the commit the release commit is made on."""
    pattern = cfg.release.weights
    if not pattern:
        return None
    files = sorted(p for p in cfg.root.glob(pattern) if p.is_file())
    if not files:
        raise WeightsError(f"[tool.torchship.release] weights = {pattern!r} matches no file",
                           hint=f"train first ({cfg.project.train}), or fix the path")
    folders = sorted({p.parent for p in files})
    if len(folders) > 1:
        raise WeightsError(f"weights = {pattern!r} matches files in {len(folders)} folders "
                           f"({_rel(cfg, folders[0])}, {_rel(cfg, folders[1])}): a release ships "
                           "the weights of one training run", hint="narrow the glob to one run")
    record = folders[0] / cfg.metrics.file
    commit = _record_commit(cfg, record)
    if not head.startswith(commit):
        raise WeightsError(f"the weights were trained at {commit[:12]} ({_rel(cfg, record)}), "
                           f"not at {head[:12]}, the commit this release is made on",
                           hint=f"train at HEAD ({cfg.project.train}), then release")
    shipped = tuple(_weight(cfg, p) for p in files if p != record)
    if not shipped:
        raise WeightsError(f"weights = {pattern!r} matches only the run's record "
                           f"{_rel(cfg, record)}", hint="name the weight files")
    return Shipped(ref=reference(cfg, version), weights=shipped, record=_rel(cfg, record),
                   commit=head, card=cfg.release.model_card)


def _rel(cfg: tsconfig.Config, path: Path) -> str:
    return path.relative_to(cfg.root).as_posix()


def _record_commit(cfg: tsconfig.Config, record: Path) -> str:
    rel = _rel(cfg, record)
    if not record.is_file():
        raise WeightsError(f"{rel} is missing: the weights come with their training run's "
                           "record, which names the commit that trained them",
                           hint=f"train with {cfg.project.train}, which writes it beside the "
                                "weights")
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WeightsError(f"{rel} cannot be read as JSON: {exc}") from exc
    commit = data.get("commit") if isinstance(data, dict) else None
    if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{7,40}", commit):
        raise WeightsError(f"{rel} names no commit ({'commit' if isinstance(data, dict) else 'it'}"
                           f" is {commit!r}): the weights cannot be tied to the release",
                           hint="train in the repository (the training writes git's HEAD)")
    return commit


def _weight(cfg: tsconfig.Config, path: Path) -> Weight:
    data, name, note = payload(path)
    if data is None:
        from torchship.adapters.oci import file_digest

        return Weight(_rel(cfg, path), name, file_digest(path), path.stat().st_size, note)
    from torchship.adapters.oci import bytes_digest

    return Weight(_rel(cfg, path), name, bytes_digest(data), len(data), note)


def payload(path: Path) -> tuple[bytes | None, str, str]:
    """What ships of weight file `path`: (the safetensors bytes converted from it, or None
    for the file as it is; its name in the artifact; how it was made, or why it is not
    safetensors)."""
    if path.suffix == ".safetensors":
        return None, path.name, "safetensors as trained"
    if path.suffix not in CHECKPOINTS:
        return None, path.name, f"shipped as it is: {path.suffix or 'no suffix'} is not a " \
                                "PyTorch checkpoint"
    kept = f"kept as {path.suffix}"
    try:
        import torch
        from safetensors.torch import save
    except ImportError as exc:
        return None, path.name, f"{kept}: {exc.name} is not installed where the release ran"
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure: said in the card, not fatal
        return None, path.name, f"{kept}: torch.load(weights_only=True) refuses it " \
                                f"({type(exc).__name__})"
    state, key = _state_dict(obj, torch.Tensor)
    if state is None:
        return None, path.name, f"{kept}: it holds no state dict (a mapping of tensors)"
    try:
        data = save({k: v.contiguous() for k, v in state.items()}, metadata={"format": "pt"})
    except (ValueError, RuntimeError) as exc:  # shared or sparse tensors
        reason = str(exc).splitlines()[0][:120]
        return None, path.name, f"{kept}: safetensors refuses it ({reason})"
    where = f"its {key!r} state dict" if key else "its state dict"
    return data, f"{path.stem}.safetensors", f"converted from {path.name}, {where}"


def _state_dict(obj: object, tensor: type) -> tuple[dict[str, Any] | None, str | None]:
    def tensors(m: object) -> bool:
        return (isinstance(m, Mapping) and bool(m)
                and all(isinstance(k, str) and isinstance(v, tensor) for k, v in m.items()))

    if tensors(obj):
        assert isinstance(obj, Mapping)
        return dict(obj), None
    if isinstance(obj, Mapping):
        for key in STATE_KEYS:
            if tensors(obj.get(key)):
                return dict(obj[key]), key
    return None, None


# -- the model card -----------------------------------------------------------------------


def card_block(shipped: Shipped, tag: str) -> str:
    """The card's generated `weights` section (between torchship markers)."""
    from torchship.release.modelcard import _block

    rows = "\n".join(f"| {w.name} | `{w.digest}` | {w.size} | {w.source}: {w.note} |"
                     for w in shipped.weights)
    body = (f"## Weights\n\nReleased as a CNCF ModelPack artifact, `{shipped.ref}`, with the "
            f"run's `{Path(shipped.record).name}` and this card. The signed tag {tag} records "
            f"its manifest digest; `torchship model pull {tag}` fetches it by that digest and "
            "checks its signature.\n\n"
            f"| file | sha256 | bytes | from |\n|---|---|---|---|\n{rows}\n\n"
            f"Trained at commit {shipped.commit} ({shipped.record}).\n")
    return _block("weights", body)


_BLOCK = re.compile(r"^<!-- torchship:begin weights sha256=[0-9a-f]{12} -->\n.*?"
                    r"^<!-- torchship:end weights -->$", re.S | re.M)


def with_card(proof: P, cfg: tsconfig.Config, shipped: Shipped, *, name: str, version: str,
              tag: str) -> P:
    """The release's card (`proof.card_new`, or the card in the project, or a new one) with
    the weights section written or replaced. `proof` is the plan's evidence record; the
    result is a copy with the card fields set."""
    from torchship.release.modelcard import _parse_body

    rel = cfg.release.model_card
    path = cfg.root / rel
    existed = path.exists()
    new: bytes | None = getattr(proof, "card_new", None)
    if new is not None:
        text = new.decode("utf-8")
    elif existed:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise WeightsError(f"{rel} cannot be read: {exc}") from exc
    else:
        text = f"# {name} {version}\n"
    _parse_body(text, rel, 1)  # a generated section edited by hand is refused, not lost
    block = card_block(shipped, tag)
    if _BLOCK.search(text):
        text = _BLOCK.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    return replace(proof, card_path=rel, card_new=text.encode("utf-8"),  # type: ignore[type-var]
                   card_existed=existed)


def card_digests(card: str) -> dict[str, str]:
    """The weight files a card's weights section records: {name: sha256:...}."""
    found = _BLOCK.search(card)
    if found is None:
        return {}
    return dict(re.findall(r"^\| (\S+) \| `(sha256:[0-9a-f]{64})` \|", found.group(0), re.M))


# -- the tag message ----------------------------------------------------------------------


def recorded(message: str) -> tuple[str, str | None] | None:
    """The artifact a tag message records: (name:tag, its digest or None), or None."""
    lines = message.splitlines()
    if HEADER not in lines:
        return None
    at = lines.index(HEADER) + 1
    if at >= len(lines) or not lines[at].startswith("- "):
        return None
    ref, _, digest = lines[at][2:].strip().partition("@")
    return ref, digest or None


def message_digests(message: str) -> dict[str, str]:
    """The weight files a tag message records under `Weights:`: {name: sha256:...}."""
    lines = message.splitlines()
    if "Weights:" not in lines:
        return {}
    out = {}
    for line in lines[lines.index("Weights:") + 1:]:
        parts = line.split()
        if len(parts) < 3 or parts[0] != "-":
            break
        out[parts[1]] = parts[2]
    return out


def pin(message: str, digest: str | None) -> str:
    """The tag message with the model's line pinned: `name:tag@sha256:...`."""
    found = recorded(message)
    if found is None or digest is None:
        return message
    ref = found[0]
    return message.replace(f"{HEADER}\n- {ref}\n", f"{HEADER}\n- {ref}@{digest}\n", 1)


# -- the artifact -------------------------------------------------------------------------


def _safetensors_facts(path: Path) -> tuple[int, set[str]]:
    """Parameter count and dtypes from a safetensors file's header (no tensor is read)."""
    with path.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    params, dtypes = 0, set()
    for key, info in header.items():
        if key == "__metadata__":
            continue
        count = 1
        for dim in info["shape"]:
            count *= dim
        params += count
        dtypes.add(str(info["dtype"]).lower())
    return params, dtypes


def _param_size(n: int) -> str:
    for unit, scale in (("b", 10**9), ("m", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def build(cfg: tsconfig.Config, shipped: Shipped, folder: Path, *, commit: str,
          version: str) -> tuple[list[Any], bytes, bytes]:
    """The artifact's files in `folder`, its ModelPack config and its manifest (bytes), from
    the weights as planned (refused if they changed since), the run's record and the card
    of the release commit."""
    from torchship.adapters.oci import Blob, bytes_digest, file_digest
    from torchship.release.modelcard import project_name

    blobs: list[Blob] = []
    params, dtypes = 0, set[str]()
    for w in shipped.weights:
        source = cfg.root / w.source
        data, _, _ = payload(source)
        out = folder / w.name
        if data is None:
            out.write_bytes(source.read_bytes())
        else:
            out.write_bytes(data)
        if file_digest(out) != w.digest:
            raise WeightsError(f"{w.source} changed since the release was planned "
                               f"({w.name} is no longer {w.digest[:19]})",
                               hint="leave the weights alone while a release runs")
        if w.safetensors:
            n, kinds = _safetensors_facts(out)
            params, dtypes = params + n, dtypes | kinds
        blobs.append(Blob(out, WEIGHT, ((FILEPATH, w.name),)))
    for rel in (shipped.record, shipped.card):
        out = folder / Path(rel).name
        out.write_bytes((cfg.root / rel).read_bytes())
        blobs.append(Blob(out, DOC, ((FILEPATH, out.name),)))
    descs = [b.descriptor() for b in blobs]
    model: dict[str, Any] = {
        "descriptor": {"name": project_name(cfg), "version": version, "revision": commit},
        "modelfs": {"type": "layers", "diffIds": [d["digest"] for d in descs]},
        "config": {"format": "safetensors" if all(w.safetensors for w in shipped.weights)
                   else "pytorch"},
    }
    if params:
        model["config"]["paramSize"] = _param_size(params)
    if dtypes:
        model["config"]["precision"] = dtypes.pop() if len(dtypes) == 1 else "mixed"
    config = json.dumps(model, indent=2, sort_keys=True).encode("utf-8")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG, "digest": bytes_digest(config), "size": len(config)},
        "layers": descs,
        "annotations": {REVISION: commit, VERSION: version, TITLE: project_name(cfg)},
    }
    return blobs, config, json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")


def push(cfg: tsconfig.Config, shipped: Shipped, *, commit: str, version: str) -> str:
    """Build the artifact and push it under its tag; its manifest digest."""
    from torchship.adapters import oci

    with tempfile.TemporaryDirectory(prefix="tsmodel-") as tmp:
        blobs, config, manifest = build(cfg, shipped, Path(tmp), commit=commit, version=version)
        return oci.push(shipped.ref, blobs, config, CONFIG, manifest)


def remove(ref: str, commit: str) -> list[str]:
    """Undo a push: delete the artifact under `ref` if it is this release's (its revision is
    `commit`); say what was done."""
    from torchship.adapters import oci

    name = ref.rpartition(":")[0]
    try:
        digest = oci.resolve(ref)
        if digest is None:
            return []
        found = json.loads(oci.manifest(name, digest))
        if (found.get("annotations") or {}).get(REVISION) != commit:
            return []  # someone else's artifact under that tag: not ours to delete
        oci.delete(name, digest)
    except TorchshipError as exc:
        return [f"left the model {ref} in the registry ({exc.message}); no release names it"]
    return [f"deleted the model {name}@{digest} from the registry"]


# -- checking and fetching ----------------------------------------------------------------


def check(cfg: tsconfig.Config, ref: str, digest: str, *, commit: str, card: str | None,
          signatures: bool, message: str = "") -> tuple[list[str], dict[str, Any]]:
    """A released artifact: its tag still names `digest`, its manifest is ModelPack's with
    revision `commit`, its weights are those `card` and the tag `message` record, and (with
    `signatures`) the team key signed it. Returns what was checked and the manifest; WeightsError names the
    artifact and what differs."""
    from torchship.adapters import oci

    name = ref.rpartition(":")[0]
    now = oci.resolve(ref)
    if now is None:
        raise WeightsError(f"model {ref}: the tag is gone from the registry",
                           hint=f"fetch it by digest: {name}@{digest}")
    if now != digest:
        raise WeightsError(f"model {ref}: the registry's tag names {now[:19]}, not the recorded "
                           f"{digest[:19]} (pushed again after the release)",
                           hint=f"the released model is {name}@{digest}")
    found = manifest_of(name, digest, commit=commit)
    checked = [f"model {ref} in the registry at its recorded {digest[:19]}, ModelPack, "
               f"revision {commit[:12]}"]
    if card is not None:
        recorded_weights = card_digests(card)
        shipped = {(d.get("annotations") or {}).get(FILEPATH): d["digest"]
                   for d in found["layers"] if d.get("mediaType") == WEIGHT}
        if not recorded_weights or recorded_weights != shipped:
            raise WeightsError(f"model {ref}: its weights {_listed(shipped)} are not those the "
                               f"model card records ({_listed(recorded_weights) or 'none'})")
        in_tag = message_digests(message)
        if message and in_tag != shipped:
            raise WeightsError(f"model {ref}: its weights {_listed(shipped)} are not those the "
                               f"tag message records ({_listed(in_tag) or 'none'})")
        checked.append(f"model {ref}: {len(shipped)} weight file(s) as the model card "
                       f"{'and the tag record' if message else 'records'}")
    if signatures:
        checked.append(verify_signature(cfg, ref, digest))
    return checked, found


def _listed(weights: Mapping[Any, str]) -> str:
    return ", ".join(f"{n} {d[:19]}" for n, d in sorted(weights.items(), key=str))


def manifest_of(name: str, digest: str, *, commit: str | None = None) -> dict[str, Any]:
    """The ModelPack manifest `name@digest` (bytes checked against the digest)."""
    from torchship.adapters import oci

    found = json.loads(oci.manifest(name, digest))
    if found.get("artifactType") != ARTIFACT_TYPE or (found.get("config") or {}).get(
            "mediaType") != CONFIG:
        raise WeightsError(f"{name}@{digest[:19]} is not a ModelPack model (artifactType "
                           f"{found.get('artifactType')!r})")
    revision = (found.get("annotations") or {}).get(REVISION)
    if commit is not None and revision != commit:
        raise WeightsError(f"model {name}@{digest[:19]}: its revision is {revision or 'none'}, "
                           f"not the tag's commit {commit[:12]}")
    return dict(found)


def verify_signature(cfg: tsconfig.Config, ref: str, digest: str) -> str:
    from torchship.images import sign

    store = sign.Store.of(cfg)
    with tempfile.TemporaryDirectory(prefix="tsm") as tmp:
        key = sign.public_key(cfg, tmp=Path(tmp))
        try:
            signer = sign.verify(store, ref, digest, key)
        except sign.SignatureError as exc:
            raise WeightsError(f"model {exc.message}", hint=exc.hint) from exc
    return f"model {ref}: its signature verifies (skopeo, simple signing, key {signer[-16:]})"


def sign_artifact(cfg: tsconfig.Config, ref: str, digest: str, key: str) -> str:
    """Sign the artifact's digest as `ref` with GPG key `key`; the signature file."""
    from torchship.images import sign

    return str(sign.sign(sign.Store.of(cfg), ref, digest, key))


def next_signature(cfg: tsconfig.Config, ref: str, digest: str) -> str:
    """The file the next signature of `ref` at `digest` goes to (what an undo removes)."""
    from torchship.images import sign

    store = sign.Store.of(cfg)
    name = ref.rpartition(":")[0]
    return str(store.folder(name, digest) / f"signature-{len(store.signatures(name, digest)) + 1}")


def pull(cfg: tsconfig.Config, ref: str, digest: str, out: Path) -> list[tuple[str, str]]:
    """Fetch the artifact `ref` by `digest` into the new folder `out`, after its signature
    verifies; every file checked against its digest. Returns (file, digest) pairs. Nothing is
    left at `out` when anything fails."""
    import shutil

    from torchship.adapters import oci

    if out.exists() and any(out.iterdir()):
        raise WeightsError(f"{out} already holds files", hint="delete it, or pull with --out DIR")
    verify_signature(cfg, ref, digest)
    name = ref.rpartition(":")[0]
    found = manifest_of(name, digest)
    out.parent.mkdir(parents=True, exist_ok=True)
    got: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix=".tspull-", dir=out.parent) as tmp:
        for layer in found["layers"]:
            file = (layer.get("annotations") or {}).get(FILEPATH, "")
            if not re.fullmatch(r"[A-Za-z0-9._-]+", file) or file.startswith("."):
                raise WeightsError(f"{name}@{digest[:19]}: a layer names the file {file!r}, "
                                   "which is not a plain file name")
            oci.fetch(name, layer["digest"], Path(tmp) / file)
            got.append((file, layer["digest"]))
        if out.exists():
            out.rmdir()
        shutil.move(tmp, out)
        Path(tmp).mkdir()  # TemporaryDirectory removes what it made
    return got


def released(message: str) -> tuple[str, str] | None:
    """The model a release tag's message records by digest, or None when it records none."""
    found = recorded(message)
    if found is None:
        return None
    ref, digest = found
    if digest is None:
        raise WeightsError(f"the tag records the model {ref} without a digest: it was released "
                           "without --push, so nothing ties it to registry bytes",
                           hint="release with --push to push, record and sign the model")
    return ref, digest


def pull_release(git: Git, cfg: tsconfig.Config, tag: str, out: Path | None) -> list[str]:
    """`torchship model pull TAG`: the tag's signature and signer checked (it holds the
    digest), then the artifact it records fetched by that digest, its signature verified,
    every file checked. Returns what a person reads."""
    from torchship.release.verify import check_signer

    if git.ref(f"refs/tags/{tag}") is None:
        raise WeightsError(f"tag {tag} does not exist", hint="git fetch --tags, or check `git tag -l`")
    body = git.tag_body(tag)
    if "-----BEGIN" not in body:
        raise WeightsError(f"tag {tag} is not signed: nothing vouches for the digest it records",
                           hint="pull the model of a signed release")
    said = git.verify_tag(tag)
    signer = check_signer(git, cfg, tag, raw=said)
    found = released(body)
    if found is None:
        raise WeightsError(f"tag {tag} records no model",
                           hint="set [tool.torchship.release] weights to release one")
    ref, digest = found
    dest = out if out is not None else cfg.root / "results" / "models" / tag
    files = pull(cfg, ref, digest, dest)
    lines = [f"✓ {signer}", f"✓ model {ref}@{digest}: its signature verifies",
             *(f"✓ {name} {d}" for name, d in files), f"→ {dest}"]
    return lines
