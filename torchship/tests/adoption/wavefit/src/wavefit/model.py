"""A 1-D convolutional regressor: a (batch, 1, length) signal -> one float per signal."""

from __future__ import annotations

import torch
from torch import nn


class WaveNet(nn.Module):
    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(1, channels, 5, padding=2), nn.GELU(),
            nn.Conv1d(channels, channels, 5, padding=2, stride=2), nn.GELU(),
            nn.AdaptiveAvgPool1d(8), nn.Flatten(), nn.Linear(channels * 8, 1),
        )

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(signal)
        return out.squeeze(-1)


def make_model(channels: int = 16) -> WaveNet:
    return WaveNet(channels)
