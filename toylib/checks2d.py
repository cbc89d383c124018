"""Causality of image models, in raster order: which input pixels each output pixel reads.

An image model that generates pixels in raster order (row by row, left to right) is causal when
its output at pixel (i, j) depends only on input pixels (k, l) that come before it: k < i, or
k == i and l < j (strictly; a model whose output may also read its own pixel is causal in the
non-strict sense). ``dependency_map_2d`` measures, as ``toylib.checks.dependency_map`` does for
sequences, by gradients and by perturbation, relative to the strongest dependency so that
round-off is not a dependency (an ``nn.Module`` is probed in a float64 copy). Channels named in
``known_channels`` (positional encodings, conditioning) are never perturbed: they are known at
every pixel and so are not inputs that can leak.

``assert_causal_2d`` names the first leaking (output pixel, input pixel) pair; ``blind_spot``
lists the past pixels inside an output's reach that it cannot see, the flaw of stacked masked
convolutions (van den Oord et al., 2016, arXiv:1606.05328).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from toylib.checks import dependency_strength
from toylib.layers import check_int


class CausalityError2d(AssertionError):
    """Output pixel ``output`` depends on input pixel ``input``, which is not before it."""

    def __init__(self, message: str, output: tuple[int, int], input: tuple[int, int]) -> None:
        super().__init__(message)
        self.output = output
        self.input = input


def dependency_map_2d(model: Callable[[torch.Tensor], torch.Tensor], height: int, width: int,
                      in_channels: int = 1, *, known_channels: Sequence[int] = (),
                      batch_size: int = 4, seed: int = 0, method: str = "both",
                      one_call: bool = False) -> torch.Tensor:
    """D (H, W, H, W) bool: ``D[i, j, k, l]`` when output pixel (i, j) depends on input (k, l).

    The model maps (B, in_channels, H, W) to (B, C, H, W). It is measured as a sequence model
    over its H * W pixels in raster order (``toylib.checks.dependency_strength``, with the same
    ``known_channels``, ``method`` and ``one_call``)."""
    check_int("height", height)
    check_int("width", width)
    raster = _Raster(model, height, width) if isinstance(model, nn.Module) else (
        lambda x: _as_sequence(model, x, height, width))
    strength = dependency_strength(raster, height * width, in_channels, batch_size=batch_size,
                                   seed=seed, method=method, known_channels=known_channels,
                                   one_call=one_call)  # (H*W, H*W)
    return (strength > 0).view(height, width, height, width)


def _as_sequence(model: Callable, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The image model on x (B, C, H*W) read as images: (B, C_out, H*W), pixels in raster
    order."""
    y = model(x.view(x.size(0), x.size(1), height, width))  # (B, C_out, H, W)
    if not isinstance(y, torch.Tensor) or y.dim() != 4 or tuple(y.shape[2:]) != (height, width):
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"the model must return (B, C, H, W) images of the input's size "
                         f"{(height, width)}, got {shape}")
    return y.flatten(2)  # (B, C_out, H*W)


class _Raster(nn.Module):
    """An image model as a sequence model over its pixels (a module, so that the checker probes
    a float64 copy of it)."""

    def __init__(self, model: nn.Module, height: int, width: int) -> None:
        super().__init__()
        self.model, self.height, self.width = model, height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _as_sequence(self.model, x, self.height, self.width)  # (B, C_out, H*W)


def raster_past(height: int, width: int, strict: bool = True) -> torch.Tensor:
    """P (H, W, H, W) bool: ``P[i, j, k, l]`` when (k, l) comes before (i, j) in raster order
    (or is (i, j) itself, when not ``strict``)."""
    order = torch.arange(height * width)
    allowed = order.view(-1, 1) > order.view(1, -1) if strict else (
        order.view(-1, 1) >= order.view(1, -1))
    return allowed.view(height, width, height, width)


def assert_causal_2d(model: Callable[[torch.Tensor], torch.Tensor], height: int, width: int,
                     in_channels: int = 1, *, strict: bool = True,
                     known_channels: Sequence[int] = (), seed: int = 0,
                     method: str = "both") -> None:
    """Raise ``CausalityError2d`` unless every output pixel depends only on input pixels before
    it in raster order (strict: not on itself either), naming the first leaking pair."""
    deps = dependency_map_2d(model, height, width, in_channels, known_channels=known_channels,
                             seed=seed, method=method)
    leaks = (deps & ~raster_past(height, width, strict)).nonzero().tolist()
    if leaks:
        i, j, k, c = leaks[0]
        what = (f"input pixel ({k}, {c}), its own" if (i, j) == (k, c)
                else f"input pixel ({k}, {c}), which comes after it in raster order")
        others = f" ({len(leaks)} such pairs in all)" if len(leaks) > 1 else ""
        raise CausalityError2d(f"output ({i}, {j}) depends on {what}{others}",
                               output=(i, j), input=(k, c))


def blind_spot(deps: torch.Tensor, i: int, j: int, reach: int) -> list[tuple[int, int]]:
    """Pixels before (i, j) in raster order, at most ``reach`` rows up and columns aside, that
    output pixel (i, j) does not depend on according to ``deps`` (H, W, H, W)."""
    height, width = deps.shape[:2]
    past = raster_past(height, width)[i, j]
    missing = []
    for k in range(max(0, i - reach), i + 1):
        for c in range(max(0, j - reach), min(width, j + reach + 1)):
            if past[k, c] and not deps[i, j, k, c]:
                missing.append((k, c))
    return missing
