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

from toylib.checks import ROUND_OFF, _probe_copy
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

    The model maps (B, in_channels, H, W) to (B, C, H, W). Only the channels not listed in
    ``known_channels`` are perturbed and differentiated. ``one_call=True`` sends every perturbed
    image in one batch, one model call instead of H * W + 1 (for a model whose images do not
    interact, e.g. one that runs in another process, where each call costs)."""
    if method not in ("both", "gradients", "perturbation"):
        raise ValueError(f"method must be 'both', 'gradients' or 'perturbation', got {method!r}")
    check_int("height", height)
    check_int("width", width)
    model, dtype = _probe_copy(model, sample=(in_channels, height, width))
    data = [c for c in range(in_channels) if c not in set(known_channels)]
    pixels = height * width
    gradients = torch.zeros(pixels, pixels, dtype=dtype)  # (out pixel, in pixel)
    moves = torch.zeros(pixels, pixels, dtype=dtype)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        x = torch.randn(batch_size, in_channels, height, width, dtype=dtype)  # (B, C, H, W)
        x.requires_grad_(method != "perturbation")
        y = _run(model, x, seed)  # (H*W, rest)
        if y.requires_grad and method != "perturbation":
            weights = torch.randn(y.shape, dtype=dtype)
            for p in range(pixels):
                (grad,) = torch.autograd.grad((y[p] * weights[p]).sum(), x, retain_graph=True,
                                              allow_unused=True)
                if grad is not None:
                    gradients[p] = grad.detach()[:, data].abs().sum(dim=(0, 1)).flatten()
        if method != "gradients":
            with torch.no_grad():
                x0, y0 = x.detach(), y.detach()
                floor = ROUND_OFF[dtype] * (1.0 + y0.abs().max().item())
                bumped = []
                for p in range(pixels):
                    x1 = x0.clone()
                    x1[:, data, p // width, p % width] += 1.0 + torch.rand(
                        batch_size, len(data), dtype=dtype)
                    bumped.append(x1)
                if one_call:  # (pixels * B, C, H, W): (H*W, pixels, B*C), one per bump
                    outs = _run(model, torch.cat(bumped), seed).view(pixels, pixels, -1)
                    outs = [outs[:, p] for p in range(pixels)]
                else:
                    outs = (_run(model, x1, seed) for x1 in bumped)
                for p, out in enumerate(outs):
                    moved = (out - y0).abs().amax(dim=1)  # (H*W,)
                    moves[:, p] = torch.where(moved > floor, moved, torch.zeros_like(moved))
    strength = torch.maximum(*[m / m.max() if m.max() > 0 else m for m in (gradients, moves)])
    return (strength > ROUND_OFF[dtype]).view(height, width, height, width)


def _run(model: Callable, x: torch.Tensor, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    y = model(x)
    if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[2:] != x.shape[2:]:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"the model must return (B, C, H, W) images of the input's size "
                         f"{tuple(x.shape[2:])}, got {shape}")
    if not torch.isfinite(y).all():
        raise ValueError("the model's output holds NaN or infinite values")
    return y.permute(2, 3, 0, 1).reshape(x.size(2) * x.size(3), -1)  # (H*W, B*C)


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
        what = "itself" if (i, j) == (k, c) else f"pixel ({k}, {c}), which comes after it"
        others = f" ({len(leaks)} such pairs in all)" if len(leaks) > 1 else ""
        raise CausalityError2d(f"output pixel ({i}, {j}) depends on input {what} in raster "
                               f"order{others}", output=(i, j), input=(k, c))


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
