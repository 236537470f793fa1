"""Train the example model: `python -m mlproject.train --epochs N --seed S --out DIR`.

Writes DIR/metrics.json (per-epoch and final validation loss and accuracy, in the shape of
torchship's metrics contract: seed, device, deterministic, epochs, final, and what makes the
run repeatable: every argument, the data's sha256 and configuration, the environment and the
commit), DIR/checkpoint.pt and DIR/env.json (what the run ran on). Runs on CUDA when present,
else on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from mlproject import __version__
from mlproject import data as datasets
from mlproject.data import make_dataset, split
from mlproject.models import build
from mlproject.models import names as model_names
from mlproject.repro import seed_everything, seed_worker, set_deterministic


def pick_device(requested: str | None) -> torch.device:
    """`requested` when given (and available), else CUDA when present, else CPU."""
    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda asked for, but torch sees no CUDA device "
                         "(run scripts/health_check.py to see why)")
    return device


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
               optimizer: torch.optim.Optimizer, loss_fn: nn.Module) -> torch.Tensor:
    """One optimisation step; returns the (detached) loss."""
    optimizer.zero_grad(set_to_none=True)
    loss: torch.Tensor = loss_fn(model(x), y)
    loss.backward()  # type: ignore[no-untyped-call]  # torch's stubs leave backward untyped
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader[Any], device: torch.device,
             loss_fn: nn.Module) -> tuple[float, float]:
    """Mean loss and accuracy over `loader`."""
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss_sum += float(loss_fn(logits, y)) * len(y)
        correct += int((logits.argmax(dim=1) == y).sum())
        total += len(y)
    model.train()
    return loss_sum / total, correct / total


def train(*, epochs: int, seed: int, out: Path, device: str | None = None,
          deterministic: bool = True, batch_size: int = 128, lr: float = 3e-3,
          samples: int = 4096, workers: int = 0, model_name: str = "example") -> dict[str, Any]:
    """Train and write the artefacts; return the metrics written to metrics.json."""
    set_deterministic(deterministic)
    generator = seed_everything(seed)
    dev = pick_device(device)
    dataset = make_dataset(samples, seed=seed)
    train_set, val_set = split(dataset)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator,
                        num_workers=workers, worker_init_fn=seed_worker)
    val_loader = DataLoader(val_set, batch_size=512)
    model = build(model_name).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()

    initial_loss, initial_acc = evaluate(model, val_loader, dev, loss_fn)
    history = []
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        for x, y in loader:
            train_step(model, x.to(dev), y.to(dev), optimizer, loss_fn)
        loss, acc = evaluate(model, val_loader, dev, loss_fn)
        history.append({"epoch": epoch, "loss": loss, "accuracy": acc,
                        "seconds": time.perf_counter() - started})
        print(f"epoch {epoch:3d}  val_loss {loss:.4f}  val_acc {acc:.3f}", flush=True)

    initial = {"loss": initial_loss, "accuracy": initial_acc}
    env = fingerprint(dev)
    metrics = {
        "version": __version__, "model": model_name, "seed": seed, "device": str(dev),
        "deterministic": deterministic, "epochs": history, "initial": initial,
        # What the matrix compares across environments ([tool.torchship.metrics.compare]).
        "final": {k: history[-1][k] for k in initial} if history else initial,
        # Every argument, the data's identity, the environment and the commit: the run's anchor.
        "args": {"epochs": epochs, "seed": seed, "batch_size": batch_size, "lr": lr,
                 "samples": samples, "workers": workers, "model": model_name,
                 "device": device, "deterministic": deterministic, "optimizer": "AdamW",
                 "val_batch_size": 512},
        "data": {"name": "synthetic spirals", "sha256": datasets.sha256(dataset),
                 "config": datasets.config(samples, seed=seed, val_fraction=0.2)},
        "env": env, "commit": commit(),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "epoch": epochs, "seed": seed}, out / "checkpoint.pt")
    # The project's own: the runtime image carries no torchship (the matrix adds its fuller one).
    (out / "env.json").write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")
    return metrics


def fingerprint(device: torch.device) -> dict[str, Any]:
    """What a run ran on: versions and the device."""
    cudnn = torch.backends.cudnn
    return {
        "version": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn.version() if cudnn.is_available() else None,  # type: ignore[no-untyped-call]  # untyped in torch
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }


def commit() -> str | None:
    """The commit that trained: what torchship's matrix sets inside an image, else git's HEAD."""
    if os.environ.get("TORCHSHIP_GIT_COMMIT"):
        return os.environ["TORCHSHIP_GIT_COMMIT"]
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git (a runtime image): recorded as unknown
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlproject.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/train"))
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--model", default="example",
                        help="a name in mlproject/models/registry.toml")
    parser.add_argument("--no-deterministic", dest="deterministic", action="store_false",
                        help="allow non-deterministic (faster) kernels")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.samples < 16:
        parser.error("--epochs and --batch-size must be >= 1 and --samples >= 16")
    if args.model not in model_names():
        parser.error(f"--model {args.model!r} is not registered (one of: {', '.join(model_names())})")
    train(epochs=args.epochs, seed=args.seed, out=args.out, device=args.device,
          deterministic=args.deterministic, batch_size=args.batch_size, lr=args.lr,
          samples=args.samples, workers=args.workers, model_name=args.model)
    print(f"wrote {args.out}/metrics.json, checkpoint.pt, env.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
