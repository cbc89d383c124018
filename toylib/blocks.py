"""Building blocks of dilated causal networks: pooling, stacks, the TCN and WaveNet blocks.

A causal convolution of kernel k and dilation d reads x_{t-(k-1)d}, ..., x_{t-d}, x_t. Stacking
layers with dilations 1, 2, 4, ..., 2^(L-1) makes the receptive field grow exponentially with
depth, 1 + (k - 1)(2^L - 1), where plain stacking grows it linearly (WaveNet: van den Oord et al.,
2016, arXiv:1609.03499). Deep stacks train better with residual connections (He et al., 2016),
added (``x + f(x)``) or concatenated (``W [x; f(x)]``). Two blocks of the literature:

- the *temporal block* of TCNs (Bai, Kolter and Koltun, 2018, "An Empirical Evaluation of Generic
  Convolutional and Recurrent Networks for Sequence Modeling", arXiv:1803.01271): two dilated
  causal convolutions with ReLU and dropout, and a residual, through a 1x1 convolution when the
  number of channels changes;
- the *WaveNet block*: a dilated causal convolution, the gated activation tanh(a) * sigmoid(b),
  a 1x1 convolution back to the residual stream and another to the skip connections that are
  summed over all blocks into the output.

Everything here is causal (checked with ``toylib.checks`` in the tests); a model made of these
blocks hides the present by a first layer with ``hide_present=True`` (``toylib.models``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.layers import CausalConv1d, check_int, check_sequence_input

POOL_MODES = ("max", "avg")


def causal_pool1d(x: torch.Tensor, kernel_size: int, dilation: int = 1,
                  mode: str = "max") -> torch.Tensor:
    """Causal pooling: (B, C, T) -> (B, C, T), output t pools x[t-(k-1)d], ..., x[t-d], x[t].

    The first outputs have fewer than k inputs: they pool the real values only. For "max" the
    missing ones are padded with -inf (a padded value never wins); for "avg" the result is the
    mean of the real values in the window (not of a zero-padded window). Keeps x's dtype.
    """
    if mode not in POOL_MODES:
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"causal_pool1d expects x of shape (B, C, T), got {shape}")
    check_int("kernel_size", kernel_size)
    check_int("dilation", dilation)
    left = (kernel_size - 1) * dilation
    span = left + 1
    if mode == "max":
        padded = F.pad(x, (left, 0), value=float("-inf"))  # (B, C, T + left)
        windows = padded.unfold(-1, span, 1)[..., ::dilation]  # (B, C, T, k)
        return windows.amax(dim=-1)  # (B, C, T)
    padded = F.pad(x, (left, 0))  # (B, C, T + left)
    real = F.pad(torch.ones_like(x[:1, :1]), (left, 0))  # (1, 1, T + left): 1 where real
    total = padded.unfold(-1, span, 1)[..., ::dilation].sum(dim=-1)  # (B, C, T)
    count = real.unfold(-1, span, 1)[..., ::dilation].sum(dim=-1)  # (1, 1, T)
    return total / count  # (B, C, T)


class CausalPool1d(nn.Module):
    """``causal_pool1d`` as a layer: (B, C, T) -> (B, C, T)."""

    def __init__(self, kernel_size: int, dilation: int = 1, mode: str = "max") -> None:
        super().__init__()
        if mode not in POOL_MODES:
            raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
        self.kernel_size = check_int("kernel_size", kernel_size)
        self.dilation = check_int("dilation", dilation)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return causal_pool1d(x, self.kernel_size, self.dilation, self.mode)  # (B, C, T)


class DilatedStack(nn.Module):
    """Causal convolutions with the given dilations, each followed by a ReLU: (B, C, T) ->
    (B, C, T). ``connection`` joins each layer's input x and output f(x): "none" (f(x)),
    "residual" (x + f(x)) or "concat" (a 1x1 convolution of [x; f(x)], 2C -> C channels)."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int],
                 connection: str = "none") -> None:
        super().__init__()
        if connection not in ("none", "residual", "concat"):
            raise ValueError(f"connection must be 'none', 'residual' or 'concat', got "
                             f"{connection!r}")
        self.connection = connection
        self.convs = nn.ModuleList(CausalConv1d(channels, channels, kernel_size, dilation=d)
                                   for d in dilations)
        self.mixers = nn.ModuleList(nn.Conv1d(2 * channels, channels, 1) for _ in dilations
                                    ) if connection == "concat" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, conv in enumerate(self.convs):
            h = F.relu(conv(x))  # (B, C, T)
            if self.connection == "residual":
                x = x + h  # (B, C, T)
            elif self.connection == "concat":
                x = self.mixers[index](torch.cat([x, h], dim=1))  # (B, 2C, T) -> (B, C, T)
            else:
                x = h
        return x


class TemporalBlock(nn.Module):
    """The residual block of a TCN: (B, C_in, T) -> (B, C_out, T).

    relu(conv1) -> dropout -> relu(conv2) -> dropout, each convolution (kernel k, dilation d,
    no padding of its own) on an input padded with (k - 1) d zeros on the left; the block returns
    relu(h + residual), the residual being x, or ``downsample(x)`` (a 1x1 convolution) when the
    number of channels changes. Receptive field of one block: 1 + 2 (k - 1) d.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.left_pad = (check_int("kernel_size", kernel_size) - 1) * check_int("dilation",
                                                                                dilation)
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, dilation=dilation)
        self.dropout = nn.Dropout(dropout)
        self.downsample = (nn.Conv1d(in_channels, out_channels, 1)
                           if in_channels != out_channels else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence_input(x, self.conv1.in_channels, "TemporalBlock")
        h = self.dropout(F.relu(self.conv1(F.pad(x, (self.left_pad, 0)))))  # (B, C_out, T)
        h = self.dropout(F.relu(self.conv2(F.pad(h, (self.left_pad, 0)))))  # (B, C_out, T)
        residual = x if self.downsample is None else self.downsample(x)  # (B, C_out, T)
        return F.relu(h + residual)  # (B, C_out, T)


class WaveNetBlock(nn.Module):
    """A WaveNet residual block: (B, C, T) -> ((B, C, T) residual output, (B, S, T) skip).

    z = tanh(a) * sigmoid(b), where [a; b] is a dilated causal convolution of x with 2C output
    channels (the gated activation); the residual output is x + W_res z and the skip output
    W_skip z (1x1 convolutions)."""

    def __init__(self, channels: int, skip_channels: int, kernel_size: int = 2,
                 dilation: int = 1) -> None:
        super().__init__()
        self.dilated = CausalConv1d(channels, 2 * channels, kernel_size, dilation=dilation)
        self.residual = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip_channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.dilated(x).chunk(2, dim=1)  # (B, C, T) each
        z = torch.tanh(a) * torch.sigmoid(b)  # (B, C, T): the gated activation
        return x + self.residual(z), self.skip(z)  # (B, C, T), (B, S, T)
