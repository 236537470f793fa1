"""What a built image holds, read from inside it, and checked against the configuration.

After a build the image is asked (no network, as its user) for its Python, torch, CUDA,
cuDNN, its packages and the `torchship.envinfo` fingerprint. The fingerprint's code is sent
from the host: the runtime image does not carry torchship (a development tool), and the
devel image's copy is the one the host runs anyway. What the image holds is checked against
what the base declares (torchship.envmatch) and written into labels.

Probing runs a container, so its answers are remembered (in the user's cache) by what
decides them: the base, dependency lists and Dockerfile (`probe_key`, a first guess), and
the built image's layers below the project's own (`layer_key`, which holds for sure).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchship import envinfo, envmatch
from torchship.adapters.docker import Docker
from torchship.config import Base
from torchship.images import cache_dir
from torchship.images.requirements import normalize
from torchship.images.spec import LABEL_NS, ImageError, ImageSpec


@dataclass(frozen=True)
class Found:
    """What a built image holds, read from inside it."""

    python: str
    torch: str | None
    cuda: str | None
    cudnn: str | None
    packages: tuple[str, ...] = ()
    fingerprint: Mapping[str, Any] | None = None


def found_labels(found: Found) -> dict[str, str]:
    """The labels read from inside the built image."""
    return {f"{LABEL_NS}.python": found.python, f"{LABEL_NS}.torch": found.torch or "none",
            f"{LABEL_NS}.cuda": found.cuda or "none", f"{LABEL_NS}.cudnn": found.cudnn or "none"}


def disagreements(base: Base, found: Found) -> list[str]:
    """Where the image contradicts what the configuration declares for its base."""
    return envmatch.disagreements(base, {"torch": found.torch, "cuda": found.cuda,
                                         "python": found.python})


# Run inside the image. The light form reads versions from package metadata and
# torch/version.py without importing torch (seconds saved per build); the deep form imports
# torch for cuDNN and runs the fingerprint (torchship/envinfo.py, standard library only,
# given as the second argument).
_PROBE = r"""
import json, platform, sys
from importlib import metadata, util
deep = sys.argv[1] == "deep"
out = {"python": platform.python_version(), "torch": None, "cuda": None, "cudnn": None}
try:
    out["torch"] = metadata.version("torch")
    spec = util.find_spec("torch")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        scope = {}
        exec(open(folder + "/version.py").read(), scope)
        out["cuda"] = scope.get("cuda")
except Exception as exc:
    out["torch_error"] = repr(exc)
out["packages"] = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()})
if deep:
    try:
        import torch
        out["torch"], out["cuda"] = str(torch.__version__), torch.version.cuda
        v = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        out["cudnn"] = None if v is None else str(v)
    except Exception as exc:
        out["torch_error"] = repr(exc)
    try:
        scope = {"__name__": "torchship_envinfo"}
        exec(compile(sys.argv[2], "torchship/envinfo.py", "exec"), scope)
        out["fingerprint"] = scope["collect"]()
    except Exception as exc:
        out["fingerprint"] = {"error": repr(exc)}
print("TORCHSHIP-PROBE " + json.dumps(out))
"""


def probe(docker: Docker, image: str, *, deep: bool = True) -> Found:
    """Ask the image what it holds (no network, as its user)."""
    fingerprint = Path(envinfo.__file__).read_text() if deep else ""
    out = docker("run", "--rm", "--network", "none", "--entrypoint", "python", image,
                 "-c", _PROBE, "deep" if deep else "light", fingerprint, check=False)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("TORCHSHIP-PROBE "):
            data = json.loads(line.removeprefix("TORCHSHIP-PROBE "))
            return Found(python=data["python"], torch=data["torch"], cuda=data["cuda"],
                         cudnn=data["cudnn"], packages=tuple(data["packages"]),
                         fingerprint=data.get("fingerprint"))
    last = out.stdout.strip().splitlines()[-1:] or ["no output"]
    raise ImageError(f"{image}: could not read its versions: {last[0]}",
                     hint="the image needs `python` on PATH")


# --- what was probed before ------------------------------------------------------------------

def _cache() -> Path:
    return cache_dir("probes")


def _fingerprint_code() -> str:
    """The fingerprint's code (envinfo.py), part of every probe cache key: a changed
    fingerprint must be probed again, not read from an image probed before the change."""
    return Path(envinfo.__file__).read_text()


def _fingerprinted(found: Found) -> bool:
    """Whether the fingerprint ran in the image: a failed one is probed again next time,
    never remembered."""
    return found.fingerprint is not None and "error" not in found.fingerprint


def probe_key(spec: ImageSpec, args: Mapping[str, str], dockerfile: str) -> str:
    """What decides torch, CUDA, cuDNN and the environment of an image: its base, its
    dependency lists and the Dockerfile (the source does not)."""
    # And the fingerprint's code: a changed envinfo.py must be probed again.
    parts = [spec.variant, spec.base_ref, dockerfile, _fingerprint_code(),
             *(f"{k}={v}" for k, v in sorted(args.items()) if k != "TORCHSHIP_ENV")]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def cached_probe(key: str) -> Found | None:
    """The versions an image with the same `probe_key` held (its packages not kept)."""
    path = _cache() / f"{key}.json"
    try:
        data = json.loads(path.read_text())
        return Found(python=data["python"], torch=data["torch"], cuda=data["cuda"],
                     cudnn=data["cudnn"], fingerprint=data["fingerprint"])
    except (OSError, ValueError, KeyError):
        return None


def base_versions(docker: Docker, base_ref: str, *, fresh: bool = False) -> Found | None:
    """What the base image holds (python, torch, CUDA, cuDNN), probed once per base and
    remembered: an image built on it holds the same unless its dependency steps change them,
    so its labels can be set before it is built (build.py checks them against the built
    image). Read without importing torch (about 1 s) when torch has no CUDA, so no cuDNN
    either; a CUDA torch is imported for its cuDNN. `fresh`: probed again, whatever was
    remembered. None: a base that cannot say (no `python` on its PATH: the Dockerfile may
    install one)."""
    key = "base-" + hashlib.sha256("\0".join([base_ref, _PROBE]).encode()).hexdigest()[:32]
    known = None if fresh else cached_probe(key)
    if known is not None:
        return known
    try:
        found = probe(docker, base_ref, deep=False)
        if found.cuda is not None:
            found = probe(docker, base_ref)
    except ImageError:
        return None
    folder = _cache()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{key}.json").write_text(json.dumps(
        {"python": found.python, "torch": found.torch, "cuda": found.cuda, "cudnn": found.cudnn,
         "fingerprint": None}))
    return found


def store_probe(key: str, found: Found) -> None:
    if not _fingerprinted(found):
        return
    folder = _cache()
    folder.mkdir(parents=True, exist_ok=True)
    data = {"python": found.python, "torch": found.torch, "cuda": found.cuda,
            "cudnn": found.cudnn, "fingerprint": found.fingerprint}
    (folder / f"{key}.json").write_text(json.dumps(data))


# The Dockerfile's declaration, per image: how many of its last layers hold the project's
# own package (and source) and nothing else. Absent: 0, every layer counts.
SOURCE_LAYERS = f"{LABEL_NS}.source-layers"


def layer_key(spec: ImageSpec, info: Mapping[str, Any]) -> str:
    """What decides everything a probe reads in a built image except the project's own
    distribution: its layers (content digests) below the source layers, which include the
    base's, and its environment and user. A source-only change leaves all of them as they
    were, so a probe of an image with the same key holds for this one."""
    config = info.get("Config") or {}
    layers = list(info.get("RootFS", {}).get("Layers") or [])
    try:
        own = int((config.get("Labels") or {}).get(SOURCE_LAYERS, "0"))
    except ValueError:
        own = 0
    own = min(max(own, 0), len(layers))
    parts = [spec.variant, *layers[:len(layers) - own], "", *sorted(config.get("Env") or []),
             str(config.get("User") or ""), _fingerprint_code()]
    return "layers-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def own_version(pyproject: Mapping[str, Any]) -> tuple[str, str] | None:
    """The project's (name, version) as pyproject.toml states them; None when the version
    is dynamic (only the built package knows it then)."""
    project = pyproject.get("project", {})
    if "version" not in project or "name" not in project:
        return None
    return str(project["name"]), str(project["version"])


def _split_own(packages: Iterable[str], name: str) -> tuple[list[str], str | None]:
    """(the other packages, the project's own `Name==version`) of a probe's package list."""
    others, own = [], None
    for p in packages:
        if normalize(p.split("==")[0]) == normalize(name):
            own = p
        else:
            others.append(p)
    return others, own


def probed_layers(key: str, own: tuple[str, str] | None) -> Found | None:
    """The probe of an image with the same layer key, the project's own entry brought up to
    date; None when there is none, or when the project's version changed since."""
    if own is None:
        return None
    try:
        data = json.loads((_cache() / f"{key}.json").read_text())
        if data["declared"] != list(own) or data["own"] is None:
            return None
        packages = tuple(sorted({*data["others"], data["own"]}))
        return Found(python=data["python"], torch=data["torch"], cuda=data["cuda"],
                     cudnn=data["cudnn"], packages=packages, fingerprint=data["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_layers(key: str, found: Found, own: tuple[str, str] | None) -> None:
    if own is None or not _fingerprinted(found):
        return
    others, mine = _split_own(found.packages, own[0])
    folder = _cache()
    folder.mkdir(parents=True, exist_ok=True)
    data = {"python": found.python, "torch": found.torch, "cuda": found.cuda,
            "cudnn": found.cudnn, "fingerprint": found.fingerprint,
            "others": others, "own": mine, "declared": list(own)}
    (folder / f"{key}.json").write_text(json.dumps(data))
