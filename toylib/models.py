"""The course's causal 1D nets: the small net of lecture 02, and the dilated ones of lecture 03.

Layout (as in the early WaveNet-style toy nets, van den Oord et al., 2016, arXiv:1609.03499):

    input (B, 1, T) in [-1, 1]
      -> 1x1 CausalConv1d with hide_present=True   (the input shifted by one: x_t is hidden)
      -> nb_layers x [CausalConv1d(kernel_size) + ReLU]
      -> 1x1 conv to nb_classes logits
    output (B, T, nb_classes): the logits at t are a distribution over x_t given x_{<t}

The receptive field is ``1 + nb_layers * (kernel_size - 1)`` inputs, all strictly in the past.

Lecture 03's nets keep that layout around the blocks of ``toylib.blocks``: a first layer that
hides the present (a shifted 1x1 convolution of the value, or with ``embed=True`` an embedding of
the token, shifted by one step, for text), a dilated stack (``DilatedCausalNet``), TCN blocks
(``TCN``, Bai et al., 2018, arXiv:1803.01271) or WaveNet blocks with skip connections
(``WaveNet``), and a 1x1 convolution to logits, returned as (B, T, nb_classes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.blocks import DilatedStack, TemporalBlock, WaveNetBlock
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


class InputLayer(nn.Module):
    """The first layer of a causal net: (B, 1, T) floats of ``tokens_to_input`` -> (B, C, T),
    output t seeing x_{t-1} only (the present is hidden). A 1x1 causal convolution of the value
    with ``hide_present=True``, or, with ``embed=True``, an embedding of the token (recovered
    exactly from the float) shifted right by one step: for text, where a level is no value."""

    def __init__(self, nb_classes: int, channels: int, embed: bool = False) -> None:
        super().__init__()
        self.nb_classes, self.embed = nb_classes, embed
        if embed:
            self.embedding = nn.Embedding(nb_classes, channels)
        else:
            self.conv = CausalConv1d(1, channels, 1, hide_present=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence_input(x, 1, type(self).__name__)
        if not self.embed:
            return self.conv(x)  # (B, C, T)
        tokens = ((x[:, 0] + 1) * (self.nb_classes - 1) / 2).round().long()  # (B, T)
        tokens = tokens.clamp(0, self.nb_classes - 1)
        h = self.embedding(tokens).transpose(1, 2)  # (B, C, T)
        return F.pad(h, (1, -1))  # (B, C, T): position t holds the embedding of x_{t-1}


class DilatedCausalNet(nn.Module):
    """(B, 1, T) -> (B, T, nb_classes): the input layer, ReLU, a ``DilatedStack`` (kernel k,
    the given dilations, ``connection`` "none", "residual" or "concat"), a 1x1 convolution.
    Receptive field 1 + sum((k - 1) d)."""

    def __init__(self, nb_classes: int, nb_channels: int = 32, kernel_size: int = 2,
                 dilations: Sequence[int] = (1, 2, 4, 8, 16), connection: str = "none",
                 embed: bool = False) -> None:
        super().__init__()
        self.nb_classes = check_int("nb_classes", nb_classes, 2)
        self.input_layer = InputLayer(nb_classes, nb_channels, embed)
        self.stack = DilatedStack(nb_channels, kernel_size, dilations, connection)
        self.output_conv = nn.Conv1d(nb_channels, nb_classes, 1)
        self.receptive_field = receptive_field([1] + [kernel_size] * len(dilations),
                                               [1, *dilations])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.input_layer(x))  # (B, C, T): position t sees x_{t-1}
        return self.output_conv(self.stack(h)).transpose(1, 2)  # (B, T, nb_classes)


class TCN(nn.Module):
    """(B, 1, T) -> (B, T, nb_classes): the input layer, one ``TemporalBlock`` per dilation,
    a 1x1 convolution. Receptive field 1 + sum(2 (k - 1) d)."""

    def __init__(self, nb_classes: int, nb_channels: int = 32, kernel_size: int = 2,
                 dilations: Sequence[int] = (1, 2, 4, 8), dropout: float = 0.0,
                 embed: bool = False) -> None:
        super().__init__()
        self.nb_classes = check_int("nb_classes", nb_classes, 2)
        self.input_layer = InputLayer(nb_classes, nb_channels, embed)
        self.blocks = nn.Sequential(*[TemporalBlock(nb_channels, nb_channels, kernel_size, d,
                                                    dropout) for d in dilations])
        self.output_conv = nn.Conv1d(nb_channels, nb_classes, 1)
        self.receptive_field = receptive_field([1] + [kernel_size] * 2 * len(dilations),
                                               [1] + [d for d in dilations for _ in (0, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.input_layer(x))  # (B, C, T)
        return self.output_conv(h).transpose(1, 2)  # (B, T, nb_classes)


class WaveNet(nn.Module):
    """(B, 1, T) -> (B, T, nb_classes): the input layer, ``WaveNetBlock``s (one per dilation)
    whose skip outputs are summed, then ReLU, 1x1, ReLU, 1x1 to logits (the WaveNet head)."""

    def __init__(self, nb_classes: int, nb_channels: int = 32, skip_channels: int = 32,
                 kernel_size: int = 2, dilations: Sequence[int] = (1, 2, 4, 8, 16),
                 embed: bool = False) -> None:
        super().__init__()
        self.nb_classes = check_int("nb_classes", nb_classes, 2)
        self.input_layer = InputLayer(nb_classes, nb_channels, embed)
        self.blocks = nn.ModuleList(WaveNetBlock(nb_channels, skip_channels, kernel_size, d)
                                    for d in dilations)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(skip_channels, skip_channels, 1),
                                  nn.ReLU(), nn.Conv1d(skip_channels, nb_classes, 1))
        self.receptive_field = receptive_field([1] + [kernel_size] * len(dilations),
                                               [1, *dilations])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_layer(x)  # (B, C, T)
        skips = 0
        for block in self.blocks:
            h, skip = block(h)  # (B, C, T), (B, S, T)
            skips = skips + skip
        return self.head(skips).transpose(1, 2)  # (B, T, nb_classes)
