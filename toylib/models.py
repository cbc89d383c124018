"""The small causal 1D net of lecture 02, built from ``CausalConv1d``.

Layout (as in the early WaveNet-style toy nets, van den Oord et al., 2016, arXiv:1609.03499):

    input (B, 1, T) in [-1, 1]
      -> 1x1 CausalConv1d with hide_present=True   (the input shifted by one: x_t is hidden)
      -> nb_layers x [CausalConv1d(kernel_size) + ReLU]
      -> 1x1 conv to nb_classes logits
    output (B, T, nb_classes): the logits at t are a distribution over x_t given x_{<t}

The receptive field is ``1 + nb_layers * (kernel_size - 1)`` inputs, all strictly in the past.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.checks import receptive_field
from toylib.layers import CausalConv1d, check_int, check_sequence_input


class ToyCausalNet(nn.Module):
    """Causal toy net: (B, 1, T) floats -> (B, T, nb_classes) logits for x_t given x_{<t}."""

    def __init__(
        self, nb_classes: int, nb_channels: int = 32, kernel_size: int = 2, nb_layers: int = 4
    ) -> None:
        super().__init__()
        self.nb_classes = check_int("nb_classes", nb_classes, 2)
        check_int("nb_channels", nb_channels)
        check_int("kernel_size", kernel_size)
        check_int("nb_layers", nb_layers, 0)
        self.input_conv = CausalConv1d(1, nb_channels, 1, hide_present=True)
        self.convs = nn.ModuleList(
            CausalConv1d(nb_channels, nb_channels, kernel_size) for _ in range(nb_layers)
        )
        self.output_conv = nn.Conv1d(nb_channels, nb_classes, 1)
        self.receptive_field = receptive_field([1] + [kernel_size] * nb_layers + [1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence_input(x, 1, "ToyCausalNet")
        h = F.relu(self.input_conv(x))  # (B, C, T), position t sees x_{t-1}
        for conv in self.convs:
            h = F.relu(conv(h))  # (B, C, T)
        return self.output_conv(h).transpose(1, 2)  # (B, T, nb_classes)
