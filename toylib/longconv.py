"""Causal convolutions inside today's sequence models: long filters by FFT, short ones with a state.

Lecture 06 (and the references of exercise 06's answers ``fft_causal_conv`` and
``causal_conv1d_update``). Every function here is a *depthwise* causal convolution: channel c of
the output reads channel c of the input only, at the present and past positions.

- Long convolutions (S4's convolution view: Gu, Goel & Ré, 2022, "Efficiently Modeling Long
  Sequences with Structured State Spaces", arXiv:2111.00396; H3: Fu et al., 2023, "Hungry Hungry
  Hippos", arXiv:2212.14052; Hyena: Poli et al., 2023, "Hyena Hierarchy", arXiv:2302.10866): a
  filter as long as the sequence, L = T. Summed directly it costs O(T L) per channel
  (``causal_conv_direct``); by FFT, O(T log T) (``fft_causal_conv``). The FFT computes a
  *circular* convolution: without zero padding to n >= T + L - 1 the end of the sequence wraps
  round to its start and the output sees the future (``circular_fft_conv``, the bug kept on
  purpose).
- Short convolutions (Mamba: Gu & Dao, 2023, "Mamba: Linear-Time Sequence Modeling with Selective
  State Spaces", arXiv:2312.00752, and H3's shift convolution): ``ShortConv``, a depthwise causal
  conv of kernel 4 with a decode step on a state of the last W - 1 inputs
  (``causal_conv1d_update``: lecture 03's queue), chunked prefill (initial and final state) and
  packed sequences (``seq_idx``: no tap crosses into an earlier document).
- RWKV's token shift (Peng et al., 2023, "RWKV: Reinventing RNNs for the Transformer Era",
  arXiv:2305.13048): a kernel-2 depthwise causal convolution written as a shift.

Two tap orders, both the usual ones of their world; ``kernel = weight.flip(-1)`` turns one into
the other:

    causal_conv_direct / fft_causal_conv (filter order):  y_t = sum_s kernel[c, s] * x_{t-s}
        kernel[c, 0] multiplies the present x_t (the impulse response h_s of S4 and Hyena);
    ShortConv / causal_conv1d_update (nn.Conv1d order):   y_t = sum_w weight[c, w] * x_{t-(W-1-w)}
        weight[c, W - 1] multiplies the present x_t (Mamba's and causal-conv1d's weight (D, W)).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.config import one_thread
from toylib.layers import check_int

ACTIVATIONS = (None, "silu", "swish")


def _check_tensor(name: str, value: object, shape: str, hint: str = "") -> torch.Tensor:
    """``value`` if it is a floating-point tensor of the rank that ``shape`` spells, e.g.
    "(B, C, T)"; else a ``ValueError`` naming ``name`` and the shape it got."""
    rank = len([part for part in shape.strip("()").split(",") if part.strip()])
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {shape}, got "
                         f"{type(value).__name__}")
    if value.dim() != rank:
        raise ValueError(f"{name} must be a {rank}D tensor {shape}, got {value.dim()}D shape "
                         f"{tuple(value.shape)}{hint if value.dim() == rank - 1 else ''}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {value.dtype} of shape "
                         f"{tuple(value.shape)}")
    return value


def _check_signal_and_kernel(x: torch.Tensor, kernel: torch.Tensor, who: str) -> None:
    _check_tensor(f"{who}: x", x, "(B, C, T)", " (for one sequence use x.unsqueeze(0))")
    _check_tensor(f"{who}: kernel", kernel, "(C, L)", " (one filter per channel: (C, L))")
    channels, length = x.size(1), x.size(2)
    if length < 1:
        raise ValueError(f"{who}: x needs at least one time step, got shape {tuple(x.shape)}")
    if kernel.size(0) != channels:
        raise ValueError(f"{who}: kernel must have one filter per channel of x, (C={channels}, "
                         f"L), got shape {tuple(kernel.shape)} for x of shape {tuple(x.shape)}")
    if not 1 <= kernel.size(1) <= length:
        raise ValueError(
            f"{who}: the kernel length L must be between 1 and T = {length}, got kernel shape "
            f"{tuple(kernel.shape)}: a causal output of T steps reads at most T taps (crop the "
            "kernel to kernel[:, :T])")
    if kernel.device != x.device:
        raise ValueError(f"{who}: kernel is on {kernel.device} but x on {x.device}")


def causal_conv_direct(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """The depthwise causal convolution summed directly: x (B, C, T), kernel (C, L) -> (B, C, T).

    ``y[b, c, t] = sum_{s=0}^{min(t, L-1)} kernel[c, s] * x[b, c, t - s]``: left padding by L - 1
    (lecture 02) and ``F.conv1d`` with ``groups=C``. ``conv1d`` is a correlation (its weight[j]
    multiplies x[t - (L-1) + j]), so it gets the kernel flipped. O(B C T L) operations."""
    _check_signal_and_kernel(x, kernel, "causal_conv_direct")
    weight = kernel.to(x.dtype).flip(-1).unsqueeze(1)  # (C, 1, L), nn.Conv1d's tap order
    return F.conv1d(F.pad(x, (kernel.size(1) - 1, 0)), weight, groups=x.size(1))  # (B, C, T)


def fft_size(n: int) -> int:
    """The smallest power of two >= n: an FFT length that is fast and leaves room for padding."""
    check_int("n", n)
    return 1 << (n - 1).bit_length()


def _fft_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 and float64 are computed as they are; half precisions in float32."""
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def fft_causal_conv(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """The same convolution as ``causal_conv_direct`` by FFT, in O(B C n log n), n ~ 2T.

    The product of two FFTs of length n is a *circular* convolution of period n. Zero padding both
    signals to n >= T + L - 1 (``fft_size``: a power of two) leaves room for the whole linear
    convolution, so nothing wraps round; the first T outputs are the causal ones (H3/Hyena's
    ``irfft(rfft(u, n=2T) * rfft(k, n=2T))[..., :T]``). Computed and returned in x's dtype
    (float32 or float64; half precisions are computed in float32): in float32 it differs from the
    direct sum by round-off of about 1e-7 of the output's magnitude."""
    _check_signal_and_kernel(x, kernel, "fft_causal_conv")
    length = x.size(-1)
    n = fft_size(length + kernel.size(1) - 1)
    dtype = _fft_dtype(x)
    x_f = torch.fft.rfft(x.to(dtype), n=n)  # (B, C, n // 2 + 1), complex
    k_f = torch.fft.rfft(kernel.to(dtype), n=n)  # (C, n // 2 + 1), complex
    y = torch.fft.irfft(x_f * k_f, n=n)[..., :length]  # (B, C, T): the causal part
    return y.to(x.dtype)


def circular_fft_conv(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """WRONG on purpose: the FFT convolution without zero padding (n = T), for demonstrations.

    With n = T the FFT computes ``y_t = sum_s kernel[s] * x_{(t - s) mod T}``: for t < L - 1 the
    taps that should read zeros before the start read x_{T-1}, x_{T-2}, ... instead, the END of
    the sequence, so the first L - 1 outputs see the future (``toylib.checks.assert_causal``
    finds it). From t = L - 1 on it equals the causal answer. Fix: pad to n >= T + L - 1."""
    _check_signal_and_kernel(x, kernel, "circular_fft_conv")
    length, dtype = x.size(-1), _fft_dtype(x)
    x_f = torch.fft.rfft(x.to(dtype), n=length)  # (B, C, T // 2 + 1): no room, it wraps
    k_f = torch.fft.rfft(kernel.to(dtype), n=length)  # (C, T // 2 + 1)
    return torch.fft.irfft(x_f * k_f, n=length).to(x.dtype)  # (B, C, T)


def _activate(y: torch.Tensor, activation: str | None) -> torch.Tensor:
    return y if activation is None else F.silu(y)  # "silu" and "swish" are one function


def _check_activation(activation: object) -> str | None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be None, 'silu' or 'swish', got {activation!r}")
    return activation


def causal_conv1d_update(x: torch.Tensor, conv_state: torch.Tensor, weight: torch.Tensor,
                         bias: torch.Tensor | None = None,
                         activation: str | None = None) -> torch.Tensor:
    """One decode step of a depthwise causal convolution (causal-conv1d's update, as in Mamba).

    x (B, D): the new input; conv_state (B, D, W - 1): the last W - 1 inputs, oldest first;
    weight (D, W), nn.Conv1d's tap order (weight[:, W - 1] multiplies the new x, weight[:, 0] the
    oldest input of the state); bias (D,) or None; activation None, "silu" or "swish". Returns
    ``act(bias + sum_w weight[:, w] * window[:, :, w])`` (B, D) in x's dtype, with window = the
    state then x, and updates ``conv_state`` IN PLACE to the newest W - 1 inputs (shifted left by
    one, x written last), also when it is a non-contiguous view into a larger cache. Started from
    zeros, T steps give the full causal convolution (``ShortConv.forward``)."""
    _check_tensor("causal_conv1d_update: x", x, "(B, D)")
    _check_tensor("causal_conv1d_update: weight", weight, "(D, W)")
    _check_tensor("causal_conv1d_update: conv_state", conv_state, "(B, D, W - 1)")
    _check_activation(activation)
    (batch, channels), width = x.shape, weight.size(1)
    if weight.size(0) != channels or width < 1:
        raise ValueError(f"causal_conv1d_update: weight must be (D={channels}, W) with W >= 1, "
                         f"got shape {tuple(weight.shape)} for x of shape {tuple(x.shape)}")
    if conv_state.shape != (batch, channels, width - 1):
        raise ValueError(f"causal_conv1d_update: conv_state must be (B, D, W - 1) = "
                         f"{(batch, channels, width - 1)}, got shape {tuple(conv_state.shape)}")
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != (channels,)):
        raise ValueError(f"causal_conv1d_update: bias must be None or a tensor (D,) = "
                         f"({channels},), got {getattr(bias, 'shape', type(bias).__name__)}")
    tiny = x.numel() * width <= 1 << 16  # a step of a few operations: one thread is faster
    with one_thread() if tiny else contextlib.nullcontext():
        dtype = torch.promote_types(x.dtype, weight.dtype)
        window = torch.cat([conv_state.to(dtype), x.to(dtype).unsqueeze(-1)], -1)  # (B, D, W)
        y = (window * weight.to(dtype)).sum(-1)  # (B, D)
        if bias is not None:
            y = y + bias.to(dtype)
        conv_state.copy_(window[:, :, 1:])  # the newest W - 1 inputs, in place
        return _activate(y, activation).to(x.dtype)  # (B, D)


def _check_seq_idx(seq_idx: object, who: str) -> torch.Tensor:
    if not isinstance(seq_idx, torch.Tensor) or seq_idx.dim() not in (1, 2):
        raise ValueError(f"{who}: seq_idx must be an integer tensor (B, T), got "
                         f"{getattr(seq_idx, 'shape', type(seq_idx).__name__)}")
    if seq_idx.is_floating_point() or seq_idx.is_complex() or seq_idx.dtype == torch.bool:
        raise ValueError(f"{who}: seq_idx must hold integer document indices, got {seq_idx.dtype}")
    seq_idx = seq_idx.reshape(-1, seq_idx.size(-1)).long()  # (B, T)
    if seq_idx.size(1) < 1:
        raise ValueError(f"{who}: seq_idx needs at least one position, got shape "
                         f"{tuple(seq_idx.shape)}")
    if (seq_idx[:, 1:] < seq_idx[:, :-1]).any():
        raise ValueError(f"{who}: seq_idx must be nondecreasing along each row (documents packed "
                         "one after the other), got a decrease")
    return seq_idx


def _reads_document(seq_idx: torch.Tensor, kernel_size: int, before: torch.Tensor) -> torch.Tensor:
    """(B, kernel_size, T) bool: tap w at t reads a position of t's document; positions before the
    row start count as document ``before`` (B, 1)."""
    batch = seq_idx.size(0)
    padded = torch.cat([before.expand(batch, kernel_size - 1), seq_idx], 1)  # (B, W - 1 + T)
    reads = padded.unfold(1, kernel_size, 1).flip(-1)  # (B, T, W): [b, t, w] = index at t - w
    return (reads == seq_idx.unsqueeze(-1)).transpose(1, 2)  # (B, W, T)


def same_document_mask(seq_idx: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """(B, kernel_size, T) bool: True where tap w at position t (it reads t - w) stays inside t's
    document and t - w >= 0; the False entries are the taps a packed convolution cuts. seq_idx
    (B, T), or (T,) for one row (then B = 1)."""
    seq_idx = _check_seq_idx(seq_idx, "same_document_mask")
    check_int("kernel_size", kernel_size)
    return _reads_document(seq_idx, kernel_size, seq_idx[:, :1] - 1)  # before: no document


def seq_idx_from_lengths(lengths, length: int | None = None) -> torch.Tensor:
    """(T,) int64: the document index of each position when documents of ``lengths`` (each >= 1)
    are packed one after the other; ``length`` pads to T with the last document's index (a
    ``ValueError`` if the documents are longer)."""
    lengths = lengths.tolist() if isinstance(lengths, torch.Tensor) else list(lengths)
    for n in lengths:
        check_int("every document length", n)
    if not lengths:
        raise ValueError("seq_idx_from_lengths: lengths is empty, give at least one document")
    seq_idx = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))  # (T,)
    if length is not None:
        check_int("length", length)
        if length < seq_idx.numel():
            raise ValueError(f"seq_idx_from_lengths: documents of lengths {lengths} fill "
                             f"{seq_idx.numel()} positions, more than length={length}")
        seq_idx = F.pad(seq_idx, (0, length - seq_idx.numel()), value=len(lengths) - 1)
    return seq_idx


class ShortConv(nn.Module):
    """Mamba's and H3's short depthwise causal convolution: (B, D, T) -> (B, D, T).

    ``weight`` (D, W) in nn.Conv1d's tap order (weight[:, W - 1] multiplies x_t), ``bias`` (D,) or
    None, then the activation (None, "silu" or "swish"). ``forward`` runs ``F.conv1d`` (groups=D)
    on the input with W - 1 columns of state (``initial_state``, or zeros) in front: those are
    lecture 02's left padding, and the state of a previous chunk continues it exactly (chunked
    prefill). ``step(x, conv_state)`` is one decode step (``causal_conv1d_update``)."""

    def __init__(self, channels: int, kernel_size: int = 4, bias: bool = True,
                 activation: str | None = None) -> None:
        super().__init__()
        self.channels = check_int("channels", channels)
        self.kernel_size = check_int("kernel_size", kernel_size)
        self.activation = _check_activation(activation)
        bound = kernel_size ** -0.5  # nn.Conv1d's default: fan_in = W for a depthwise conv
        self.weight = nn.Parameter(torch.empty(channels, kernel_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(channels).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor, initial_state: torch.Tensor | None = None,
                seq_idx: torch.Tensor | None = None, return_final_state: bool = False):
        """x (B, D, T); initial_state (B, D, W - 1), the W - 1 inputs before x (oldest first), or
        None for zeros; seq_idx (B, T) integer document index of each position of packed rows
        (nondecreasing), or None: the output at t reads x_s (s < t) only if seq_idx[b, s] ==
        seq_idx[b, t], and the state counts as the row's first document. Returns y (B, D, T), and
        with ``return_final_state`` also (y, final_state (B, D, W - 1)): the last W - 1 inputs
        (reaching into the initial state when T < W - 1; with seq_idx, those before the row's
        last document are zeros, so a next chunk that continues that document reads only it; a
        chunk whose row starts a new document is given no initial_state)."""
        _check_tensor("ShortConv: x", x, "(B, D, T)", " (for one sequence use x.unsqueeze(0))")
        (batch, channels, length), width = x.shape, self.kernel_size
        if channels != self.channels or length < 1:
            raise ValueError(f"ShortConv: x must be (B, D={self.channels}, T) with T >= 1, got "
                             f"shape {tuple(x.shape)}")
        if x.dtype != self.weight.dtype:
            raise ValueError(f"ShortConv: x is {x.dtype} but the weights are "
                             f"{self.weight.dtype}: convert one (module.double(), x.float())")
        if initial_state is None:
            initial_state = x.new_zeros(batch, channels, width - 1)  # (B, D, W - 1)
        _check_tensor("ShortConv: initial_state", initial_state, "(B, D, W - 1)")
        if initial_state.shape != (batch, channels, width - 1):
            raise ValueError(f"ShortConv: initial_state must be (B, D, W - 1) = "
                             f"{(batch, channels, width - 1)}, got {tuple(initial_state.shape)}")
        full = torch.cat([initial_state.to(x.dtype), x], -1)  # (B, D, W - 1 + T)
        final_state = full[..., full.size(-1) - (width - 1):].clone()  # (B, D, W - 1)
        if seq_idx is None:
            y = F.conv1d(full, self.weight.unsqueeze(1), self.bias, groups=channels)  # (B, D, T)
        else:
            seq_idx = _check_seq_idx(seq_idx, "ShortConv").to(x.device)
            if seq_idx.shape != (batch, length):
                raise ValueError(f"ShortConv: seq_idx must be (B, T) = {(batch, length)}, got "
                                 f"{tuple(seq_idx.shape)}")
            first = seq_idx[:, :1]  # (B, 1): the state belongs to the row's first document
            keep = _reads_document(seq_idx, width, first).flip(1).to(x.dtype)  # (B, W, T)
            windows = full.unfold(-1, width, 1)  # (B, D, T, W): [..., t, w] reads t-(W-1-w)
            y = torch.einsum("bdtw,bwt,dw->bdt", windows, keep, self.weight)  # (B, D, T)
            if self.bias is not None:
                y = y + self.bias[:, None]  # (B, D, T)
            last = torch.cat([first.expand(batch, width - 1), seq_idx], 1)[:, length:]
            final_state = final_state * (last == seq_idx[:, -1:]).unsqueeze(1)  # (B, D, W - 1)
        y = _activate(y, self.activation)
        return (y, final_state) if return_final_state else y

    def step(self, x: torch.Tensor, conv_state: torch.Tensor) -> torch.Tensor:
        """One decode step: x (B, D) -> (B, D); conv_state (B, D, W - 1) is updated in place."""
        return causal_conv1d_update(x, conv_state, self.weight, self.bias, self.activation)

    def extra_repr(self) -> str:
        return (f"{self.channels}, kernel_size={self.kernel_size}, bias={self.bias is not None}, "
                f"activation={self.activation!r}")


def token_shift(x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """RWKV's token shift: x (B, T, C) (time on dim 1), mix (C,) -> (B, T, C),
    ``mix * x_t + (1 - mix) * x_{t-1}`` with x_{-1} = 0.

    A kernel-2 depthwise causal convolution written as a shift: ``causal_conv_direct`` with
    kernel[c] = (mix[c], 1 - mix[c]) on x.transpose(1, 2). RWKV-LM shifts with
    ``nn.ZeroPad2d((0, 0, 1, -1))``, the same as F.pad below."""
    _check_tensor("token_shift: x", x, "(B, T, C)", " (for one sequence use x.unsqueeze(0))")
    _check_tensor("token_shift: mix", mix, "(C,)")
    if mix.shape != (x.size(2),):
        raise ValueError(f"token_shift: mix must be (C,) = ({x.size(2)},), one weight per channel "
                         f"of x (B, T, C), got shape {tuple(mix.shape)} for x {tuple(x.shape)}")
    previous = F.pad(x, (0, 0, 1, -1))  # (B, T, C): x_{t-1}, zeros at t = 0
    return mix * x + (1 - mix) * previous  # (B, T, C)
