"""Causal 1D convolution written with ``F.pad``.

A convolution is *causal* when its output at position t depends only on inputs at positions <= t
(or < t for a layer that *hides the present*). PyTorch's ``nn.Conv1d`` pads both ends by the same
amount, so we pad the left end ourselves with ``F.pad`` and let the convolution pad nothing:

    y_t = b + sum_{j=0}^{k-1} w_j * x_{t - (k-1-j) * d}      (x_s = 0 for s < 0)

Left padding by ``(k - 1) * d`` keeps the length, so one forward pass yields a prediction for every
position: the trick behind WaveNet (van den Oord et al., 2016, "WaveNet: A Generative Model for Raw
Audio", arXiv:1609.03499) and temporal convolutional networks (Bai et al., 2018, "An Empirical
Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling",
arXiv:1803.01271).

The first layer of an autoregressive model must not see ``x_t`` when it predicts ``x_t``. With
``hide_present=True`` the input is shifted right by one step first, ``F.pad(x, (1, -1))`` (a
negative pad removes the last step), so the output at t uses x_{t-1-(k-1)d}, ..., x_{t-1}.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum`` (not a bool), else raise a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_sequence_input(x: object, channels: int, who: str) -> None:
    """Raise a ``ValueError`` naming the problem unless ``x`` is a float (B, channels, T) tensor."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{who} expects a torch.Tensor of shape (B, C, T), got {type(x).__name__}")
    if x.dim() != 3:
        hint = " (for one sequence use x.unsqueeze(0))" if x.dim() == 2 else ""
        raise ValueError(
            f"{who} expects a 3D tensor (B, C, T), got {x.dim()}D shape {tuple(x.shape)}{hint}"
        )
    if x.size(1) != channels:
        raise ValueError(
            f"{who} expects {channels} input channel(s) on dim 1, got shape {tuple(x.shape)}"
        )
    if x.size(2) < 1:
        raise ValueError(f"{who} expects at least one time step, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(
            f"{who} expects a floating-point tensor, got {x.dtype} "
            "(integer tokens must be converted first, e.g. toylib.data.tokens_to_input)"
        )


class CausalConv1d(nn.Module):
    """A causal 1D convolution: (B, C_in, T) -> (B, C_out, T).

    ``self.conv`` is a plain ``nn.Conv1d`` with no padding of its own; ``forward`` left-pads the
    input with ``F.pad`` by ``(kernel_size - 1) * dilation``. With ``hide_present=True`` the input
    is first shifted right by one step, so the output at t depends on ``x[..., :t]`` only.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        hide_present: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.kernel_size = check_int("kernel_size", kernel_size)
        self.dilation = check_int("dilation", dilation)
        if not isinstance(hide_present, bool):
            raise ValueError(f"hide_present must be a bool, got {hide_present!r}")
        self.hide_present = hide_present
        self.left_pad = (self.kernel_size - 1) * self.dilation
        self.conv = nn.Conv1d(
            self.in_channels, self.out_channels, self.kernel_size, dilation=self.dilation, bias=bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence_input(x, self.in_channels, "CausalConv1d")
        if self.hide_present:
            x = F.pad(x, (1, -1))  # (B, C_in, T): x_{t-1} now sits at t, zero at t=0
        return self.conv(F.pad(x, (self.left_pad, 0)))  # (B, C_out, T)

    def extra_repr(self) -> str:
        return f"left_pad={self.left_pad}, hide_present={self.hide_present}"
