"""Causality checks and receptive fields for sequence models.

A sequence model f is *causal* when its output at position t does not depend on the inputs at
positions s > t (and, for a model that *hides the present*, not on s = t either). That is the
property that lets an autoregressive model be trained on every position in one forward pass and
then sampled one position at a time (van den Oord et al., 2016, "Pixel Recurrent Neural Networks",
arXiv:1601.06759, and "WaveNet", arXiv:1609.03499).

``dependency_map`` finds which input positions influence which output positions, two ways:

- gradients: the gradient of a random combination of the outputs at t with respect to the input
  is exactly zero at every position the output cannot see (autograd follows the graph), and
- perturbation: change the input at one position s and see which outputs move.

The two are combined (a dependency found by either counts), over a small batch of random inputs,
so a ReLU that happens to be inactive, or a tiny weight, cannot hide a leak. A model that is only
a black box returning tensors (e.g. one that runs in another process, as the course's grader
runs students' code) is probed by perturbation alone: ``method="perturbation"``.
``assert_causal`` uses the map to name the first offending (output t, input s) pair. The *receptive
field* is given by the formula ``1 + sum((k - 1) * d)`` and measured as the widest span of inputs
one output depends on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from toylib.layers import check_int

METHODS = ("both", "gradients", "perturbation")


class CausalityError(AssertionError):
    """A model's output at ``output_t`` depends on the input at ``input_s`` (a future position,
    or the present one when the check is strict)."""

    def __init__(self, message: str, output_t: int, input_s: int) -> None:
        super().__init__(message)
        self.output_t = output_t
        self.input_s = input_s


def _run(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, time_dim: int,
         seed: int) -> torch.Tensor:
    """Call the model and return its output as (T, rest): time first, everything else flattened.

    The random generator is reseeded before every call so that a model with dropout draws the same
    masks for the reference and the perturbed inputs.
    """
    torch.manual_seed(seed)
    y = model(x)
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"the model must return a tensor, got {type(y).__name__}")
    if not -y.dim() <= time_dim < y.dim():
        raise ValueError(f"time_dim={time_dim} is out of range for an output of shape "
                         f"{tuple(y.shape)}")
    length = x.size(-1)
    if not torch.isfinite(y).all():
        raise ValueError(f"the model's output (shape {tuple(y.shape)}) holds NaN or infinite "
                         "values: dependencies cannot be measured")
    if y.size(time_dim) != length:
        raise ValueError(
            f"the model's output has {y.size(time_dim)} steps on time_dim={time_dim} (shape "
            f"{tuple(y.shape)}) but the input has {length}: a causal sequence model must keep "
            "the length (is the padding right? is time_dim right?)"
        )
    return y.movedim(time_dim, 0).reshape(length, -1)  # (T, rest)


def dependency_map(
    model: Callable[[torch.Tensor], torch.Tensor],
    length: int,
    in_channels: int = 1,
    *,
    time_dim: int = -1,
    batch_size: int = 4,
    seed: int = 0,
    method: str = "both",
) -> torch.Tensor:
    """Which inputs each output depends on: a bool tensor D of shape (length, length).

    ``D[t, s]`` is True when the output at position t depends on the input at position s. The
    model is called on float32 inputs of shape (batch_size, in_channels, length); ``time_dim`` is
    the time axis of its *output* (-1 for (B, C, T) outputs, 1 for (B, T, C) ones). The model is
    probed through a copy in its current train/eval mode, so its parameters, buffers (e.g.
    batch-norm statistics) and the global random state are left as they were. ``method`` is
    ``"both"`` (gradients and perturbation), ``"gradients"`` or ``"perturbation"``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    check_int("length", length)
    check_int("in_channels", in_channels)
    if isinstance(model, nn.Module):
        try:
            model = copy.deepcopy(model)
        except Exception:  # noqa: BLE001 - an uncopyable model is probed as it is
            pass
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        x = torch.randn(batch_size, in_channels, length)  # (B, C_in, T)
        x.requires_grad_(method != "perturbation")
        y = _run(model, x, time_dim, seed)  # (T, rest)
        deps = torch.zeros(length, length, dtype=torch.bool)  # (T_out, T_in)

        # 1) gradients of a random combination of the outputs at t (no cancellation by chance)
        if y.requires_grad and method != "perturbation":
            weights = torch.randn(y.shape)  # (T, rest)
            for t in range(length):
                (grad,) = torch.autograd.grad((y[t] * weights[t]).sum(), x, retain_graph=True,
                                              allow_unused=True)
                if grad is not None:
                    deps[t] |= grad.abs().sum(dim=(0, 1)) > 0  # (T_in,)

        # 2) perturb one input position at a time and see which outputs move
        with torch.no_grad():
            if method == "gradients":
                return deps
            x0 = x.detach()
            y0 = y.detach()
            tol = 1e-6 * (1.0 + y0.abs().max().item())
            for s in range(length):
                x1 = x0.clone()
                x1[:, :, s] += 1.0 + torch.rand(batch_size, in_channels)  # (B, C_in)
                y1 = _run(model, x1, time_dim, seed)  # (T, rest)
                deps[:, s] |= (y1 - y0).abs().amax(dim=1) > tol
    return deps


def assert_causal(
    model: Callable[[torch.Tensor], torch.Tensor],
    length: int = 16,
    in_channels: int = 1,
    *,
    strict: bool = False,
    time_dim: int = -1,
    seed: int = 0,
    method: str = "both",
) -> None:
    """Raise ``CausalityError`` unless the output at every t depends only on inputs s <= t.

    With ``strict=True`` the model must also hide the present: only s < t is allowed. The error
    names the first offending (output t, input s) pair, scanning t then s in increasing order.
    """
    deps = dependency_map(model, length, in_channels, time_dim=time_dim, seed=seed, method=method)
    allowed = torch.ones(length, length, dtype=torch.bool).tril(-1 if strict else 0)
    leaks = (deps & ~allowed).nonzero().tolist()  # [[t, s], ...] sorted by t then s
    if not leaks:
        return
    t, s = leaks[0]
    others = f" ({len(leaks)} such (t, s) pairs in all)" if len(leaks) > 1 else ""
    if s == t:
        allowed_inputs = f"may only use x[:{t}]" if t else "may use no input at t=0"
        what = (f"output at t={t} depends on x[{s}], the present input: a model that hides the "
                f"present {allowed_inputs}")
    else:
        what = f"output at t={t} depends on x[{s}], a future input: the model sees the future"
    raise CausalityError(what + others, output_t=t, input_s=s)


def receptive_field(kernel_sizes: Sequence[int], dilations: Sequence[int] | None = None) -> int:
    """Receptive field of a stack of 1D convolutions, by the formula ``1 + sum((k - 1) * d)``.

    It counts the span of input positions one output can depend on; a shift by one (hiding the
    present) moves that span back one step without widening it.
    """
    kernel_sizes = list(kernel_sizes)
    dilations = [1] * len(kernel_sizes) if dilations is None else list(dilations)
    if len(dilations) != len(kernel_sizes):
        raise ValueError(f"got {len(kernel_sizes)} kernel sizes but {len(dilations)} dilations")
    for name, values in (("kernel size", kernel_sizes), ("dilation", dilations)):
        for v in values:
            check_int(f"every {name}", v)
    return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations, strict=True))


def measured_receptive_field(
    model: Callable[[torch.Tensor], torch.Tensor],
    length: int,
    in_channels: int = 1,
    *,
    time_dim: int = -1,
    method: str = "both",
) -> int:
    """The widest span (last - first + 1) of input positions that one output depends on.

    Measured from ``dependency_map``; ``length`` must exceed the receptive field, or the spans of
    all outputs are cut by the start of the sequence. Returns 0 if no output depends on any input.
    """
    deps = dependency_map(model, length, in_channels, time_dim=time_dim, method=method)
    widest = 0
    for row in deps:
        seen = row.nonzero().flatten()
        if seen.numel():
            widest = max(widest, int(seen[-1] - seen[0]) + 1)
    return widest


def format_dependency_map(deps: torch.Tensor) -> str:
    """Text picture of a dependency map: one line per output t, '#' where it depends on x[s]."""
    if deps.dim() != 2:
        raise ValueError(f"expected a 2D dependency map, got shape {tuple(deps.shape)}")
    width = len(str(deps.size(0) - 1))
    return "\n".join(
        f"t={t:>{width}} " + "".join("#" if v else "." for v in row.tolist())
        for t, row in enumerate(deps)
    )
