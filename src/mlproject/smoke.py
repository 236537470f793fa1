"""The runtime image's smoke test: `python -m mlproject.smoke` (pyproject's
[tool.torchship.project] smoke, which `nox -s gpu_tests` runs in every runtime image).

Health (torch computes correctly on the device), import (the installed package) and one
forward pass of the example model; prints one JSON line. Exit status 0 when healthy, else 1
with one `error:` line. Replace the model part with yours when you replace the example.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import torch

from mlproject.models import build
from mlproject.train import fingerprint, pick_device

MODEL = "example"
BATCH = 8
FEATURES = 32
CLASSES = 4


class SmokeFailed(Exception):
    """A check failed: the message says which, and how."""


def _require(condition: bool, problem: str) -> None:
    if not condition:  # not `assert`: python -O must not skip the checks
        raise SmokeFailed(problem)


def check(device: str | None = None) -> dict[str, Any]:
    """Run the checks; raise SmokeFailed naming the first that fails."""
    dev = pick_device(device)
    a, b = torch.randn(256, 256, device=dev), torch.randn(256, 256, device=dev)
    error = float(((a @ b).double().cpu() - a.double().cpu() @ b.double().cpu()).abs().max())
    # tf32 on Ampere and later is ~1e-2 here; a broken device is far above.
    _require(error < 1.0, f"matmul on {dev} gives wrong results (max error {error:.3g})")
    model = build(MODEL, features=FEATURES, classes=CLASSES).to(dev).eval()
    with torch.no_grad():
        y = model(torch.randn(BATCH, FEATURES, device=dev))
    _require(tuple(y.shape) == (BATCH, CLASSES), f"the model gives shape {tuple(y.shape)}")
    _require(bool(torch.isfinite(y).all()), f"a forward pass on {dev} gives non-finite values")
    return {**fingerprint(dev), "ok": True, "matmul_max_error": error, "forward": list(y.shape)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlproject.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if present)")
    args = parser.parse_args(argv)
    try:
        result = check(args.device)
    except SmokeFailed as exc:
        print(f"error: smoke test failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
