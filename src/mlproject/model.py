"""The example model: a small residual MLP classifier. Replace it with yours."""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width * 2)
        self.fc2 = nn.Linear(width * 2, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # nn.Module.__call__ is typed Any: name the result's type once, for mypy --strict.
        residual: torch.Tensor = self.fc2(torch.relu(self.fc1(self.norm(x))))
        return x + residual


class Classifier(nn.Module):
    """features -> width -> `depth` residual blocks -> classes logits."""

    def __init__(self, features: int = 32, classes: int = 4, *, width: int = 128, depth: int = 3) -> None:
        super().__init__()
        self.features = features
        self.stem = nn.Linear(features, width)
        self.blocks = nn.Sequential(*(Block(width) for _ in range(depth)))
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.blocks(torch.relu(self.stem(x))))
        return logits


def make_model(features: int = 32, classes: int = 4, **kwargs: int) -> Classifier:
    """The model the CLI, tests and benchmarks use."""
    return Classifier(features, classes, **kwargs)
