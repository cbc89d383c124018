"""Cached (streaming) inference: one new step of a causal net in O(layers), not O(T x layers).

Sampling asks a causal net for one new position at a time. Re-running the net on the whole prefix
recomputes every unit of every earlier position, and a window of R + 1 positions (the R =
``receptive_field`` past inputs plus the slot being predicted) still recomputes a whole cone of
units per step (lecture 03b). But a causal convolution of kernel k and
dilation d reads, at step t, only its inputs at t, t - d, ..., t - (k-1) d: a layer that keeps a
queue of its last (k - 1) d inputs computes its new output from that queue and its new input, and
nothing else (Paine et al., 2016, "Fast Wavenet Generation Algorithm", arXiv:1611.09482; the same
idea as the key/value cache of a transformer). Every output is the one the full forward pass gives
(the sums run in another order, so equal to round-off, not bitwise).

``StreamingNet(model, batch_size)`` wraps any 1D net of ``toylib.models`` (``ToyCausalNet``,
``DilatedCausalNet`` with any connection, ``TCN``, ``WaveNet``; value or embedded input). Its
``step(x_prev)`` takes the previous input value (B,) (``None`` at the first step, where the net
sees only padding) and returns the logits (B, nb_classes) of the next position. ``ConvStep`` is
one layer's queue: a ring buffer of (k - 1) d input columns and one matrix product per tap
(``addmm``: a tiny ``conv1d`` call costs about 15 times more on a CPU, and at batch 16 the
per-call overhead, not arithmetic, is what a step costs).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.config import one_thread
from toylib.layers import CausalConv1d, check_int


def _weight_and_bias(conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """(weight (C_out, C_in, k), bias or None, dilation) of a Conv1d or a CausalConv1d."""
    if isinstance(conv, CausalConv1d):
        conv = conv.conv
    return conv.weight.detach(), None if conv.bias is None else conv.bias.detach(), conv.dilation[0]


class ConvStep:
    """One causal convolution of kernel k and dilation d, one time step per call.

    ``conv`` is a ``CausalConv1d`` (its ``hide_present`` shift is the caller's business: feed it
    the previous input) or a plain ``nn.Conv1d`` that is used after a left padding of (k - 1) d.
    Call it with the newest input column (B, C_in); it returns the output column (B, C_out) that
    the full pass gives at that step, the inputs before the first call being zeros."""

    def __init__(self, conv: nn.Module, batch_size: int, dtype: torch.dtype = torch.float32):
        weight, bias, dilation = _weight_and_bias(conv)
        c_out, c_in, k = weight.shape
        self.dilation, self.kernel_size = dilation, k
        self.span = (k - 1) * dilation  # the number of past inputs the kernel reads
        # tap j multiplies the input (k - 1 - j) d steps back; (C_in, C_out) for addmm
        self.taps = [weight[:, :, j].t().to(dtype).contiguous() for j in range(k)]
        self.bias = (torch.zeros(c_out, dtype=dtype) if bias is None else bias.to(dtype))
        self.queue = torch.zeros(max(self.span, 1), batch_size, c_in, dtype=dtype)  # ring buffer
        self.position = 0  # where the next input goes: the oldest one kept

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.addmm(self.bias, x, self.taps[-1])  # (B, C_out): the present tap
        for j in range(self.kernel_size - 1):
            lag = (self.kernel_size - 1 - j) * self.dilation
            out.addmm_(self.queue[(self.position - lag) % self.span], self.taps[j])  # (B, C_out)
        if self.span:
            self.queue[self.position] = x  # the newest replaces the oldest
            self.position = (self.position + 1) % self.span
        return out


class PointwiseStep:
    """1x1 convolutions of the same input on one column: (B, C_in) -> (B, sum of C_out), one
    ``addmm`` (several convolutions are fused into one product, their outputs side by side)."""

    def __init__(self, *convs: nn.Conv1d, dtype: torch.dtype = torch.float32):
        weights, biases = [], []
        for conv in convs:
            weight, bias, _ = _weight_and_bias(conv)
            weights.append(weight[:, :, 0])  # (C_out, C_in)
            biases.append(torch.zeros(weight.size(0)) if bias is None else bias)
        self.weight = torch.cat(weights).t().to(dtype).contiguous()  # (C_in, sum C_out)
        self.bias = torch.cat(biases).to(dtype)  # (sum C_out,)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.weight)  # (B, C_out)


class StreamingNet:
    """Step-by-step inference of a causal 1D net of ``toylib.models``, with every layer cached.

    ``step(x_prev)``: x_prev (B,) is the input value of the previous position (as
    ``tokens_to_input`` makes it, in [-1, 1]), or ``None`` at the first position; returns the
    logits (B, nb_classes) of the current position, equal to the full forward pass's."""

    def __init__(self, model: nn.Module, batch_size: int, dtype: torch.dtype = torch.float32):
        from toylib.models import TCN, DilatedCausalNet, ToyCausalNet, WaveNet

        check_int("batch_size", batch_size)
        if model.training:
            raise ValueError("put the model in eval mode first (model.eval()): dropout would "
                             "make the cached steps differ from the full pass")
        self.model, self.batch_size, self.dtype = model, batch_size, dtype
        self.nb_classes = getattr(model, "nb_classes", None)
        self.embed = False  # the input is a value (a 1x1 conv of it), or an embedded token
        if isinstance(model, ToyCausalNet):
            self.kind = "toy"
            self.first = ConvStep(model.input_conv, batch_size, dtype)
            self.convs = [ConvStep(c, batch_size, dtype) for c in model.convs]
            self.output = PointwiseStep(model.output_conv, dtype=dtype)
        elif isinstance(model, DilatedCausalNet | TCN | WaveNet):
            self._input_layer(model.input_layer)
            if isinstance(model, DilatedCausalNet):
                self.kind = "dilated"
                self.connection = model.stack.connection
                self.convs = [ConvStep(c, batch_size, dtype) for c in model.stack.convs]
                if self.connection == "concat":
                    self.mixers = [PointwiseStep(m, dtype=dtype) for m in model.stack.mixers]
                self.output = PointwiseStep(model.output_conv, dtype=dtype)
            elif isinstance(model, TCN):
                self.kind = "tcn"
                self.blocks = [(ConvStep(b.conv1, batch_size, dtype),
                                ConvStep(b.conv2, batch_size, dtype),
                                None if b.downsample is None
                                else PointwiseStep(b.downsample, dtype=dtype))
                               for b in model.blocks]
                self.output = PointwiseStep(model.output_conv, dtype=dtype)
            else:
                self.kind = "wavenet"
                self.blocks = [(ConvStep(block.dilated, batch_size, dtype),
                                PointwiseStep(block.residual, block.skip, dtype=dtype),
                                block.residual.out_channels)  # residual and skip in one product
                               for block in model.blocks]
                self.head = [PointwiseStep(model.head[1], dtype=dtype),
                             PointwiseStep(model.head[3], dtype=dtype)]
        else:
            raise ValueError(f"StreamingNet knows ToyCausalNet, DilatedCausalNet, TCN and "
                             f"WaveNet, not {type(model).__name__}")

    def _input_layer(self, layer: nn.Module) -> None:
        self.embed = layer.embed
        if layer.embed:
            self.embedding = layer.embedding.weight.detach().to(self.dtype)  # (nb_classes, C)
        else:
            self.first = ConvStep(layer.conv, self.batch_size, self.dtype)

    def _first(self, x_prev: torch.Tensor | None) -> torch.Tensor:
        """The input layer at this position: it reads x_{t-1} only (the present is hidden)."""
        if x_prev is None:
            x_prev = torch.zeros(self.batch_size, dtype=self.dtype)  # t = 0: padding only
            if self.embed:  # the shifted embedding is zero at t = 0
                return torch.zeros(self.batch_size, self.embedding.size(1), dtype=self.dtype)
        x_prev = x_prev.to(self.dtype).reshape(self.batch_size, 1)  # (B, 1)
        if self.embed:
            tokens = ((x_prev[:, 0] + 1) * (self.nb_classes - 1) / 2).round().long()  # (B,)
            return self.embedding[tokens.clamp(0, self.nb_classes - 1)]  # (B, C)
        return self.first(x_prev)  # (B, C)

    @torch.no_grad()
    def step(self, x_prev: torch.Tensor | None) -> torch.Tensor:
        with one_thread():  # tiny operations: a second thread only adds wake-ups
            return self._step(x_prev)

    def _step(self, x_prev: torch.Tensor | None) -> torch.Tensor:
        h = self._first(x_prev)  # (B, C)
        if self.kind == "toy":
            h = F.relu(h)
            for conv in self.convs:
                h = F.relu(conv(h))  # (B, C)
            return self.output(h)  # (B, nb_classes)
        if self.kind == "dilated":
            h = F.relu(h)
            for index, conv in enumerate(self.convs):
                new = F.relu(conv(h))  # (B, C)
                if self.connection == "residual":
                    h = h + new
                elif self.connection == "concat":
                    h = self.mixers[index](torch.cat([h, new], dim=1))  # (B, 2C) -> (B, C)
                else:
                    h = new
            return self.output(h)
        if self.kind == "tcn":
            for conv1, conv2, downsample in self.blocks:
                inner = F.relu(conv2(F.relu(conv1(h))))  # (B, C)
                h = F.relu(inner + (h if downsample is None else downsample(h)))
            return self.output(h)
        skips = 0
        for dilated, both, channels in self.blocks:  # WaveNet
            a, b = dilated(h).chunk(2, dim=1)  # (B, C) each
            out = both(torch.tanh(a) * torch.sigmoid(b))  # (B, C + S)
            h = h + out[:, :channels]  # (B, C)
            skips = skips + out[:, channels:]  # (B, S)
        return self.head[1](F.relu(self.head[0](F.relu(skips))))  # (B, nb_classes)


@torch.no_grad()
def streaming_logits(model: nn.Module, tokens: torch.Tensor, nb_classes: int,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The logits (N, T, nb_classes) of every position of ``tokens`` (N, T), computed step by step
    with the cache: to compare with ``model(tokens_to_input(tokens, nb_classes))``."""
    from toylib.data import tokens_to_input

    values = tokens_to_input(tokens, nb_classes)[:, 0].to(dtype)  # (N, T)
    net = StreamingNet(model, tokens.size(0), dtype)
    steps = [net.step(None if t == 0 else values[:, t - 1]) for t in range(tokens.size(1))]
    return torch.stack(steps, dim=1)  # (N, T, nb_classes)
