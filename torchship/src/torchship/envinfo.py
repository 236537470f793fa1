"""The environment fingerprint written beside every run and into every report.

Importable without torch: torch is only imported inside `collect()`, and a missing torch
is recorded as such. Inside an image, the image name, digest, environment and git state
come from variables the image and the matrix runner set (an image carries no .git).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Set by the Dockerfile (TORCHSHIP_ENV/VARIANT) and by the container runner (the rest).
IMAGE_VARS = {
    "image": "TORCHSHIP_IMAGE",
    "image_digest": "TORCHSHIP_IMAGE_DIGEST",
    "env": "TORCHSHIP_ENV",
    "variant": "TORCHSHIP_VARIANT",
}
GIT_VARS = {"commit": "TORCHSHIP_GIT_COMMIT", "describe": "TORCHSHIP_GIT_DESCRIBE",
            "dirty": "TORCHSHIP_GIT_DIRTY"}


def git_info(root: Path | None = None) -> dict[str, Any]:
    """Commit, `git describe` and dirtiness: from the variables when set, else from git."""
    if os.environ.get(GIT_VARS["commit"]):
        dirty = os.environ.get(GIT_VARS["dirty"], "").lower()
        return {"commit": os.environ[GIT_VARS["commit"]],
                "describe": os.environ.get(GIT_VARS["describe"]) or None,
                "dirty": dirty in {"1", "true", "yes"} if dirty else None}
    # Imported here: importing envinfo stays light. No git (an image), no repository: the
    # fields are null, a fact to record rather than a failure. Inside an image this module
    # runs alone (images/probe.py sends its text), where torchship may not be installed.
    try:
        from torchship.adapters.git import Git
    except ImportError:
        return {"commit": None, "describe": None, "dirty": None}

    repo = Git.find(root or Path.cwd())
    commit = repo.head() if repo else None
    if repo is None or commit is None:
        return {"commit": None, "describe": None, "dirty": None}
    describe = repo.describe("--tags", "--always", "--dirty")
    return {"commit": commit, "describe": describe,
            "dirty": describe.endswith("-dirty") if describe else None}


def _cpu() -> dict[str, Any]:
    model = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"model": model, "count": os.cpu_count(), "arch": platform.machine()}


def _driver() -> str | None:
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
        for word in text.split():
            if word[:1].isdigit() and "." in word:
                return word
    except OSError:
        pass
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=False)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip().splitlines()[0]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


def _torch() -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"torch": None, "cuda": None, "cudnn": None, "nccl": None,
                "cuda_available": False, "gpu_count": 0, "gpus": []}
    cuda_ok = torch.cuda.is_available()
    backends = torch.backends.cudnn
    cudnn = backends.version() if backends.is_available() else None  # type: ignore[no-untyped-call]  # untyped in torch
    nccl: str | None = None
    if cuda_ok:
        try:
            v = torch.cuda.nccl.version()  # type: ignore[no-untyped-call]  # untyped in torch
            nccl = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
        except (AttributeError, RuntimeError):
            nccl = None
    gpus = []
    for i in range(torch.cuda.device_count() if cuda_ok else 0):
        p = torch.cuda.get_device_properties(i)
        gpus.append({"index": i, "name": p.name, "capability": f"{p.major}.{p.minor}",
                     "memory_gib": round(p.total_memory / 2**30, 1),
                     "multiprocessors": p.multi_processor_count})
    return {"torch": str(torch.__version__), "cuda": torch.version.cuda, "cudnn": cudnn,
            "nccl": nccl, "cuda_available": cuda_ok, "gpu_count": len(gpus), "gpus": gpus}


def collect(root: Path | None = None) -> dict[str, Any]:
    """The fingerprint as a JSON-ready dict."""
    info: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": _cpu(),
    }
    info.update(_torch())
    info["driver"] = _driver() if info["cuda_available"] or Path("/proc/driver/nvidia").exists() else None
    info["git"] = git_info(root)
    info["container"] = {key: os.environ.get(var) or None for key, var in IMAGE_VARS.items()}
    return info


def summary(info: dict[str, Any]) -> str:
    """A short human form: one line for software, one for hardware, one for provenance."""
    gpus = ", ".join(g["name"] for g in info.get("gpus", [])) or "no GPU"
    git = info.get("git") or {}
    image = (info.get("container") or {}).get("image") or "host (no image)"
    return "\n".join([
        f"python {info['python']}  torch {info.get('torch') or 'not installed'}  "
        f"cuda {info.get('cuda') or '-'}  cudnn {info.get('cudnn') or '-'}  nccl {info.get('nccl') or '-'}",
        f"{gpus} (driver {info.get('driver') or '-'})  cpu {info['cpu']['model']} x{info['cpu']['count']}",
        f"git {git.get('describe') or git.get('commit') or '-'}"
        f"{' (dirty)' if git.get('dirty') else ''}  image {image}",
    ])


def write(path: Path, root: Path | None = None) -> dict[str, Any]:
    """Collect and write the fingerprint as JSON to `path`; return it."""
    info = collect(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def main() -> int:
    info = collect()
    print(json.dumps(info, indent=2, sort_keys=True) if "--json" in sys.argv[1:] else summary(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
