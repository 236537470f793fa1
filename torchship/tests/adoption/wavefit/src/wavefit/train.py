"""Train a wave model: `python -m wavefit.train --epochs N --seed S --out DIR [--model NAME]`.

Writes DIR/metrics.json (per-epoch validation loss and RMSE, the arguments, the data's hash,
the versions and the commit: torchship's metrics contract) and DIR/model.pt.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

from wavefit.data import make_waves
from wavefit.models import build, names


def rmse_and_loss(model: torch.nn.Module, data: TensorDataset) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        x, y = data.tensors
        mse = float(torch.nn.functional.mse_loss(model(x), y))
    model.train()
    return {"loss": mse, "rmse": mse ** 0.5}


def train(*, epochs: int, seed: int, out: Path, model_name: str, samples: int = 1024,
          lr: float = 3e-3) -> dict[str, Any]:
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    data = make_waves(samples, seed=seed)
    cut = int(samples * 0.8)
    train_set = TensorDataset(*(t[:cut] for t in data.tensors))
    val_set = TensorDataset(*(t[cut:] for t in data.tensors))
    model = build(model_name)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(train_set, batch_size=64, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    initial = rmse_and_loss(model, val_set)
    history = []
    for epoch in range(1, epochs + 1):
        for x, y in loader:
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()  # type: ignore[no-untyped-call]
            opt.step()
        history.append({"epoch": epoch, **rmse_and_loss(model, val_set)})
        print(f"epoch {epoch}: rmse {history[-1]['rmse']:.4f}", flush=True)
    digest = hashlib.sha256()
    for tensor in data.tensors:
        digest.update(tensor.numpy().tobytes())
    metrics = {"model": model_name, "seed": seed, "device": "cpu", "deterministic": True,
               "epochs": history, "initial": initial,
               "final": {k: v for k, v in history[-1].items() if k != "epoch"},
               "args": {"epochs": epochs, "seed": seed, "model": model_name, "samples": samples,
                        "lr": lr, "batch_size": 64, "optimizer": "Adam"},
               "data": {"sha256": digest.hexdigest(),
                        "config": {"generator": "wavefit.data.make_waves", "n": samples,
                                   "seed": seed, "split": 0.8}},
               "env": {"python": platform.python_version(), "torch": torch.__version__},
               "commit": os.environ.get("TORCHSHIP_GIT_COMMIT") or None}
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    torch.save(model.state_dict(), out / "model.pt")
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wavefit.train")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=Path("results/train"))
    parser.add_argument("--model", default="wave")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    if args.model not in names():
        parser.error(f"--model {args.model!r} is not registered (one of: {', '.join(names())})")
    train(epochs=args.epochs, seed=args.seed, out=args.out, model_name=args.model,
          samples=args.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
