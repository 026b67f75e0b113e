"""The paper's shallow CNN: two parallel convolutions over the stack of hourly stop histograms."""

from __future__ import annotations

import torch
from torch import nn

from napari_mousestop.learning.config import ModelConfig


class Branch(nn.Module):
    """Conv2d -> ReLU -> MaxPool2d; each step its own module so hooks can reach it."""

    def __init__(self, in_channels: int, channels: int, kernel_size: int, pool: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(in_channels, channels, kernel_size)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.conv(x)))


class StopCNN(nn.Module):
    """Two parallel convolution branches, flattened, concatenated, one linear layer.

    Input: float tensor (batch, T, N, N). Output: class logits (batch, n_classes).
    For T = 72, N = 30 the branches give 16x14x14 and 16x11x11 maps: 5,072 features.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        cfg = self.config
        smallest = min(cfg.kernel_sizes)
        if cfg.n_bins - max(cfg.kernel_sizes) + 1 < cfg.pool or smallest < 1:
            raise ValueError(
                f"a {cfg.n_bins}x{cfg.n_bins} grid is too small for kernels {cfg.kernel_sizes}"
            )
        self.branches = nn.ModuleList(
            Branch(cfg.n_intervals, cfg.channels, k, cfg.pool) for k in cfg.kernel_sizes
        )
        self.classifier = nn.Linear(cfg.n_features, cfg.n_classes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Pooled maps of each branch, (batch, channels, h, w) each."""
        return [branch(x) for branch in self.branches]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = torch.cat([f.flatten(1) for f in self.features(x)], dim=1)
        return self.classifier(flat)
