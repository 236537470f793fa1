#!/usr/bin/env python3
"""What to run first in a new environment: can PyTorch see and use the hardware?

Prints the versions, whether CUDA is available, the GPUs, then runs a matrix product and
a forward pass of a small model on the device. `--json` for machines. Without
`--require-cuda` a CPU-only machine passes with a note; with it, no GPU is an error that
names the usual causes. Exit status: 0 healthy, 1 unhealthy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

NO_CUDA_CAUSES = [
    "the container was started without GPUs: add `--gpus all` to `docker run`",
    "the NVIDIA Container Toolkit is not installed or not configured for this engine "
    "(`nvidia-ctk runtime configure --runtime=docker`, then restart dockerd)",
    "the NVIDIA driver is missing or too old for this torch's CUDA build "
    "(`nvidia-smi` shows the driver; see the CUDA toolkit/driver compatibility table)",
    "torch is a CPU-only build (torch.version.cuda is None): install a CUDA build",
    "CUDA_VISIBLE_DEVICES hides every GPU",
]


def check(*, device: str | None = None) -> dict[str, Any]:
    """Run the checks; return a JSON-ready result with `ok` and `problems`."""
    result: dict[str, Any] = {"ok": True, "problems": [], "notes": []}
    try:
        import torch
    except ImportError as exc:
        result.update(ok=False, problems=[f"torch cannot be imported: {exc}"])
        return result
    try:
        from torchship.envinfo import collect

        result["env"] = collect()
    except ImportError:  # the script is meant to run in any environment, torchship or not
        result["env"] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                         "cuda_available": torch.cuda.is_available()}
    cuda = torch.cuda.is_available()
    result["cuda_available"] = cuda
    result["gpu_count"] = torch.cuda.device_count() if cuda else 0
    result["gpus"] = [torch.cuda.get_device_name(i) for i in range(result["gpu_count"])]
    dev = torch.device(device or ("cuda" if cuda else "cpu"))
    result["device"] = str(dev)
    if not cuda:
        result["notes"].append("no CUDA device: running on the CPU"
                               + ("" if torch.version.cuda else " (torch is a CPU-only build)"))
    try:
        started = time.perf_counter()
        a = torch.randn(512, 512, device=dev)
        b = torch.randn(512, 512, device=dev)
        c = a @ b
        expected = (a.double() @ b.double()).float()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        err = float((c - expected).abs().max())
        result["matmul"] = {"seconds": time.perf_counter() - started, "max_abs_error": err}
        if not err < 1.0:  # tf32 on Ampere+ is ~1e-2 here; garbage is far above
            result["problems"].append(f"matmul on {dev} gives wrong results (max error {err:.3g})")
        model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4)).to(dev)
        out = model(torch.randn(8, 32, device=dev))
        result["forward"] = {"shape": list(out.shape), "finite": bool(torch.isfinite(out).all())}
        if not result["forward"]["finite"]:
            result["problems"].append(f"a forward pass on {dev} produced non-finite values")
    except Exception as exc:
        result["problems"].append(f"running on {dev} failed: {type(exc).__name__}: {exc}")
    result["ok"] = not result["problems"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--require-cuda", action="store_true", help="no usable GPU is an error")
    parser.add_argument("--device", help="check this device instead of the default")
    args = parser.parse_args(argv)
    result = check(device=args.device)
    if args.require_cuda and not result.get("cuda_available"):
        result["ok"] = False
        result["problems"].append("CUDA is required (--require-cuda) but torch sees no GPU; "
                                  "usual causes: " + "; ".join(NO_CUDA_CAUSES))
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        env = result.get("env", {})
        print(f"torch {env.get('torch')}  cuda {env.get('cuda') or '-'}  "
              f"cudnn {env.get('cudnn') or '-'}  python {env.get('python', sys.version.split()[0])}")
        print(f"CUDA available: {result.get('cuda_available')}  GPUs: {result.get('gpu_count', 0)} "
              f"{', '.join(result.get('gpus', []))}")
        if "matmul" in result:
            print(f"matmul 512x512 on {result['device']}: {result['matmul']['seconds'] * 1e3:.1f} ms, "
                  f"max error {result['matmul']['max_abs_error']:.2e}")
        for note in result["notes"]:
            print(f"note: {note}")
        for problem in result["problems"]:
            print(f"error: {problem}", file=sys.stderr)
        print("healthy" if result["ok"] else "UNHEALTHY")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
