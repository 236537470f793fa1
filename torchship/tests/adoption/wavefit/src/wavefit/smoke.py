"""The runtime image's smoke test: the installed package builds its model and predicts."""

from __future__ import annotations

import json

import torch

import wavefit
from wavefit.data import LENGTH
from wavefit.models import build, names

if __name__ == "__main__":
    model = build(names()[0]).eval()
    with torch.no_grad():
        y = model(torch.zeros(3, 1, LENGTH))
    if y.shape != (3,) or not bool(torch.isfinite(y).all()):
        raise SystemExit(f"error: the model gave {tuple(y.shape)} (non-finite or not one float a signal)")
    print(json.dumps({"wavefit": wavefit.__version__, "torch": torch.__version__, "out": list(y.shape)}))
