"""Causality checks and receptive fields for sequence models.

A sequence model f is *causal* when its output at position t does not depend on the inputs at
positions s > t (and, for a model that *hides the present*, not on s = t either). That is the
property that lets an autoregressive model be trained on every position in one forward pass and
then sampled one position at a time (van den Oord et al., 2016, "Pixel Recurrent Neural Networks",
arXiv:1601.06759, and "WaveNet", arXiv:1609.03499).

``dependency_strength`` measures how strongly each output depends on each input, two ways:

- gradients: the gradient of a random combination of the outputs at t with respect to the input
  is zero at every position the output cannot see (autograd follows the graph), and
- perturbation: change the input at one position s and see which outputs move,

over a small batch of random inputs, so a ReLU that happens to be inactive, or a tiny weight,
cannot hide a leak. Both are taken relative to the model's strongest dependency: a right layer
computed another way (by FFT, as in CKConv, S4 or Hyena-style code) leaves round-off of about
1e-7 in float32, which must not count as a leak. ``dependency_map`` thresholds the strengths;
``assert_causal`` names the first offending (output t, input s) pair and how strong it is, and
probes more than one length (a leak farther away than the probed length cannot show): by default
``length`` and a length beyond twice the receptive field. A black box that returns tensors (e.g.
a model running in another process, as the course's grader runs students' code) is probed by
perturbation alone: ``method="perturbation"``. ``assert_batch_independent`` checks what the
others cannot see: that no sequence's output depends on another sequence of its batch (batch
statistics). The *receptive field* is given by the formula ``1 + sum((k - 1) * d)`` and measured
as the widest span of inputs one output depends on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from toylib.layers import check_int

METHODS = ("both", "gradients", "perturbation")
# a dependency weaker than this, relative to the strongest, is round-off of that dtype
ROUND_OFF = {torch.float64: 1e-12, torch.float32: 1e-6}


class BatchMixingError(AssertionError):
    """The output of sequence ``output_b`` of a batch depends on sequence ``input_b``."""

    def __init__(self, message: str, output_b: int, input_b: int) -> None:
        super().__init__(message)
        self.output_b = output_b
        self.input_b = input_b


class CausalityError(AssertionError):
    """A model's output at ``output_t`` depends on the input at ``input_s`` (a future position,
    or the present one when the check is strict)."""

    def __init__(self, message: str, output_t: int, input_s: int) -> None:
        super().__init__(message)
        self.output_t = output_t
        self.input_s = input_s


class ModelCallError(ValueError):
    """The model raised on an input of the shape a check gave it (the length is named)."""


def _run(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, time_dim: int,
         seed: int) -> torch.Tensor:
    """Call the model and return its output as (T, rest): time first, everything else flattened.

    The random generator is reseeded before every call so that a model with dropout draws the same
    masks for the reference and the perturbed inputs.
    """
    torch.manual_seed(seed)
    try:
        y = model(x)
    except AssertionError:  # a check of the caller's, inside the model: theirs to report
        raise
    except Exception as error:  # noqa: BLE001 - named with the input it was given
        raise ModelCallError(f"the model raised {type(error).__name__} on an input of shape "
                             f"{tuple(x.shape)} (length {x.size(-1)}): {error}") from error
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


def dependency_strength(
    model: Callable[[torch.Tensor], torch.Tensor],
    length: int,
    in_channels: int = 1,
    *,
    time_dim: int = -1,
    batch_size: int = 4,
    seed: int = 0,
    method: str = "both",
    known_channels: Sequence[int] = (),
    one_call: bool = False,
) -> torch.Tensor:
    """How strongly each output depends on each input: a float tensor S of shape (length, length).

    ``S[t, s]`` is the larger of two measures, each relative to its largest value over the whole
    map (1.0 is the model's strongest dependency, 0.0 none): the gradient of a random combination
    of the outputs at t with respect to the input at s, and how far the outputs at t move when the
    input at s is changed. Round-off is not a dependency: a right layer computed another way (by
    FFT, say) leaves about 1e-7 of the scale in float32, while the farthest input of a deep stack
    can weigh 1e-11 of the nearest. So an ``nn.Module`` is probed in float64 (a copy), where
    round-off is about 1e-16 and anything below ``1e-12`` of the strongest is set to 0; another
    callable (a black box) in float32, below ``1e-6``. The copy is in the model's train/eval
    mode; its parameters, buffers and the global random state are left as they were. ``method``
    is ``"both"``, ``"gradients"`` or ``"perturbation"`` (for a black box running elsewhere).
    Channels in ``known_channels`` (positions, conditioning: known everywhere, so they cannot
    leak) are neither perturbed nor differentiated. ``one_call=True`` sends every perturbed input
    in one batch, one model call instead of ``length + 1``, for a model whose sequences do not
    interact and where each call costs (one running in another process).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    check_int("length", length)
    check_int("in_channels", in_channels)
    model, dtype = _probe_copy(model, sample=(in_channels, length))
    round_off = ROUND_OFF[dtype]
    data = [c for c in range(in_channels) if c not in set(known_channels)]  # perturbed ones
    gradients = torch.zeros(length, length, dtype=dtype)  # (T_out, T_in)
    moves = torch.zeros(length, length, dtype=dtype)  # (T_out, T_in)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        x = torch.randn(batch_size, in_channels, length, dtype=dtype)  # (B, C_in, T)
        x.requires_grad_(method != "perturbation")
        y = _run(model, x, time_dim, seed)  # (T, rest)

        # 1) gradients of a random combination of the outputs at t (no cancellation by chance)
        if y.requires_grad and method != "perturbation":
            weights = torch.randn(y.shape, dtype=y.dtype)  # (T, rest)
            for t in range(length):
                (grad,) = torch.autograd.grad((y[t] * weights[t]).sum(), x, retain_graph=True,
                                              allow_unused=True)
                if grad is not None:
                    gradients[t] = grad.detach()[:, data].abs().sum(dim=(0, 1))  # (T_in,)

        # 2) perturb one input position at a time and see which outputs move
        if method != "gradients":
            with torch.no_grad():
                x0, y0 = x.detach(), y.detach()
                floor = round_off * (1.0 + y0.abs().max().item())  # round-off of the output
                bumped = []
                for s in range(length):
                    x1 = x0.clone()
                    x1[:, data, s] += 1.0 + torch.rand(batch_size, len(data), dtype=dtype)
                    bumped.append(x1)
                if one_call:  # (T * B, C, T) in, (T, T bumps, B * rest) out
                    both = _run(model, torch.cat(bumped), time_dim, seed).view(length, length, -1)
                    outs = [both[:, s] for s in range(length)]
                else:
                    outs = (_run(model, x1, time_dim, seed) for x1 in bumped)  # (T, rest) each
                for s, y1 in enumerate(outs):
                    moved = (y1 - y0).abs().amax(dim=1).to(dtype)  # (T,)
                    moves[:, s] = torch.where(moved > floor, moved, torch.zeros_like(moved))
    strength = torch.maximum(*[m / m.max() if m.max() > 0 else m for m in (gradients, moves)])
    return torch.where(strength > round_off, strength, torch.zeros_like(strength)).float()


def _probe_copy(model: Callable, sample: tuple[int, ...]) -> tuple[Callable, torch.dtype]:
    """A float64 copy of an ``nn.Module`` that runs in float64 on an input of shape
    (1, *sample), else the model (a copy if possible) in torch's default dtype (float32 unless
    the notebook set float64)."""
    default = torch.get_default_dtype()
    black_box = default if default in ROUND_OFF else torch.float32
    if isinstance(model, nn.Module):
        try:
            copied = copy.deepcopy(model).double()
            with torch.random.fork_rng(), torch.no_grad():
                copied(torch.zeros(1, *sample, dtype=torch.float64))
            return copied, torch.float64
        except Exception:  # noqa: BLE001 - a model that cannot run in float64 is probed as is
            try:
                return copy.deepcopy(model), black_box
            except Exception:  # noqa: BLE001 - an uncopyable model is probed as it is
                return model, black_box
    return model, black_box


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

    ``D[t, s]`` is True when the output at position t depends on the input at position s by more
    than round-off (``dependency_strength``, which says how the model is probed). ``time_dim``
    is the time axis of the model's *output* (-1 for (B, C, T) outputs, 1 for (B, T, C) ones).
    """
    strength = dependency_strength(model, length, in_channels, time_dim=time_dim,
                                   batch_size=batch_size, seed=seed, method=method)
    return strength > 0


def assert_causal(
    model: Callable[[torch.Tensor], torch.Tensor],
    length: int = 16,
    in_channels: int = 1,
    *,
    strict: bool = False,
    time_dim: int = -1,
    seed: int = 0,
    method: str = "both",
    lengths: Sequence[int] | None = None,
    receptive_field: int | None = None,
) -> None:
    """Raise ``CausalityError`` unless the output at every t depends only on inputs s <= t.

    With ``strict=True`` the model must also hide the present: only s < t is allowed. The error
    names the first offending (output t, input s) pair, scanning t then s in increasing order,
    and how strong the dependency is. A leak farther away than the probed length cannot show, so
    the model is probed at ``lengths`` (default: ``length``, then a length beyond twice the
    receptive field, given or measured at ``length``; if the measured span fills the whole probe,
    four times ``length``). A model that raises at that extra length (made for one length only,
    e.g. a BatchNorm over C * T features) is probed at ``length`` alone; one that raises at a
    length it was given gets a ``ModelCallError`` naming that length.
    """
    probes = [length] if lengths is None else [check_int("every length", n) for n in lengths]
    probed = []
    for index, probe in enumerate(probes):
        try:
            strength = dependency_strength(model, probe, in_channels, time_dim=time_dim,
                                           seed=seed, method=method)
        except ModelCallError:
            if lengths is None and index > 0:  # a model made for one length: that one only
                continue
            raise
        probed.append(probe)
        allowed = torch.ones(probe, probe, dtype=torch.bool).tril(-1 if strict else 0)
        leaks = ((strength > 0) & ~allowed).nonzero().tolist()  # [[t, s], ...] by t then s
        if leaks:
            _raise_leak(leaks, strength, probed)
        if lengths is None and index == 0:  # then a length beyond twice the receptive field
            if receptive_field is None:
                widest = max(_spans(strength > 0), default=0)
                receptive_field = widest if widest < probe else 2 * probe
            probes.append(max(2 * length, 2 * receptive_field + 2))


def _raise_leak(leaks: list[list[int]], strength: torch.Tensor, probed: list[int]) -> None:
    t, s = leaks[0]
    others = f"; {len(leaks)} such (t, s) pairs in all" if len(leaks) > 1 else ""
    earlier = (f", after length{'s' if len(probed) > 2 else ''} "
               f"{', '.join(map(str, probed[:-1]))} showed none" if len(probed) > 1 else "")
    size = (f" (dependency {strength[t, s].item():.2g} of the strongest; inputs of length "
            f"{probed[-1]}{earlier}")
    if s == t:
        allowed_inputs = f"may only use x[:{t}]" if t else "may use no input at t=0"
        what = (f"output at t={t} depends on x[{s}], the present input: a model that hides the "
                f"present {allowed_inputs}")
    else:
        what = f"output at t={t} depends on x[{s}], a future input: the model sees the future"
    raise CausalityError(what + size + others + ")", output_t=t, input_s=s)


def _spans(deps: torch.Tensor) -> list[int]:
    """For each output that depends on anything, the span (last - first + 1) of its inputs."""
    spans = []
    for row in deps:
        seen = row.nonzero().flatten()
        if seen.numel():
            spans.append(int(seen[-1] - seen[0]) + 1)
    return spans


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
    It measures the model as it is: a narrow random ReLU stack whose units are all dead on the
    probe's inputs for some path really does not depend on those inputs (use more channels, or
    tanh, to see the wiring).
    """
    deps = dependency_map(model, length, in_channels, time_dim=time_dim, method=method)
    return max(_spans(deps), default=0)


def batch_dependency_map(
    model: Callable[[torch.Tensor], torch.Tensor],
    length: int = 16,
    in_channels: int = 1,
    *,
    batch_size: int = 4,
    seed: int = 0,
) -> torch.Tensor:
    """Which sequences of a batch each sequence's output depends on: bool (batch_size, batch_size).

    ``M[i, j]`` is True when changing sequence j of the batch (all its positions) moves the
    output of sequence i (dim 0 of the output). A model should give M = identity: a layer that
    uses statistics of the batch (batch norm in training mode, a mean over dim 0) makes each
    prediction depend on the other sequences of its batch, which ``dependency_map``, perturbing
    every sequence at once, cannot tell apart from a leak in time.
    """
    check_int("length", length)
    check_int("batch_size", batch_size, 2)
    if isinstance(model, nn.Module):
        try:
            model = copy.deepcopy(model)
        except Exception:  # noqa: BLE001 - an uncopyable model is probed as it is
            pass
    mixed = torch.zeros(batch_size, batch_size, dtype=torch.bool)  # (B_out, B_in)
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        x0 = torch.randn(batch_size, in_channels, length)  # (B, C_in, T)
        torch.manual_seed(seed)
        y0 = model(x0)
        if not isinstance(y0, torch.Tensor) or y0.size(0) != batch_size:
            raise ValueError(f"the model must return a tensor with the batch on dim 0, got "
                             f"{getattr(y0, 'shape', type(y0).__name__)}")
        floor = 1e-6 * (1.0 + y0.abs().max().item())
        for j in range(batch_size):
            x1 = x0.clone()
            x1[j] += 1.0 + torch.rand(in_channels, length)  # (C_in, T)
            torch.manual_seed(seed)
            moved = (model(x1) - y0).reshape(batch_size, -1).abs().amax(dim=1)  # (B,)
            mixed[:, j] = moved > floor
    return mixed


def assert_batch_independent(
    model: Callable[[torch.Tensor], torch.Tensor],
    length: int = 16,
    in_channels: int = 1,
    *,
    batch_size: int = 4,
    seed: int = 0,
) -> None:
    """Raise ``BatchMixingError`` if the output of a sequence depends on another of its batch."""
    mixed = batch_dependency_map(model, length, in_channels, batch_size=batch_size, seed=seed)
    pairs = (mixed & ~torch.eye(batch_size, dtype=torch.bool)).nonzero().tolist()
    if pairs:
        i, j = pairs[0]
        raise BatchMixingError(
            f"the output of sequence {i} of a batch depends on sequence {j}: the model mixes the "
            "sequences of a batch (batch statistics? a mean over dim 0?), so a prediction also "
            "sees other sequences' futures", output_b=i, input_b=j)


def format_dependency_map(deps: torch.Tensor) -> str:
    """Text picture of a dependency map: one line per output t, '#' where it depends on x[s]."""
    if deps.dim() != 2:
        raise ValueError(f"expected a 2D dependency map, got shape {tuple(deps.shape)}")
    width = len(str(deps.size(0) - 1))
    return "\n".join(
        f"t={t:>{width}} " + "".join("#" if v else "." for v in row.tolist())
        for t, row in enumerate(deps)
    )


def __getattr__(name: str):
    """The image (2D) checks live in ``toylib.checks2d``; they can be imported from here too."""
    if name in ("dependency_map_2d", "assert_causal_2d", "blind_spot", "raster_past",
                "CausalityError2d"):
        from toylib import checks2d
        return getattr(checks2d, name)
    raise AttributeError(f"module 'toylib.checks' has no attribute {name!r}")
