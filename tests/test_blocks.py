"""toylib.blocks, the dilated nets of toylib.models, toylib.text and toylib.plots, against
independent references (loops, Conv1d(padding) then crop, hand-written gates) and the checker."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from toylib.blocks import (  # noqa: E402
    CausalPool1d,
    DilatedStack,
    TemporalBlock,
    WaveNetBlock,
    causal_pool1d,
)
from toylib.checks import (  # noqa: E402
    assert_batch_independent,
    assert_causal,
    measured_receptive_field,
    receptive_field,
)
from toylib.data import tokens_to_input  # noqa: E402
from toylib.layers import CausalConv1d  # noqa: E402
from toylib.models import TCN, DilatedCausalNet, InputLayer, WaveNet  # noqa: E402
from toylib.plots import cone, draw_stack, layer_dependencies  # noqa: E402
from toylib.text import decode, encode, python_docs_text, split, vocabulary, windows  # noqa: E402


def pool_reference(x: torch.Tensor, k: int, d: int, mode: str) -> torch.Tensor:
    """Position by position, over the real values of the window only."""
    out = torch.empty_like(x)
    for t in range(x.size(-1)):
        taps = [t - j * d for j in range(k) if t - j * d >= 0]
        window = x[..., taps]  # (B, C, n)
        out[..., t] = window.amax(-1) if mode == "max" else window.mean(-1)
    return out


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("k, d, length", [(1, 1, 5), (2, 1, 7), (3, 2, 9), (2, 8, 5), (4, 3, 1)])
def test_causal_pool_equals_a_loop(mode, k, d, length):
    x = torch.randn(2, 3, length, dtype=torch.float64) - 5  # all negative: zero padding would win
    out = causal_pool1d(x, k, d, mode)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, pool_reference(x, k, d, mode))
    assert_causal(CausalPool1d(k, d, mode), length=12, in_channels=3)


@pytest.mark.parametrize("args, message", [
    ((torch.zeros(2, 5), 2), r"shape \(B, C, T\)"),
    ((torch.zeros(1, 1, 5), 0), "kernel_size must be an int >= 1"),
    ((torch.zeros(1, 1, 5), 2, 0), "dilation must be an int >= 1"),
    ((torch.zeros(1, 1, 5), 2, 1, "min"), "mode must be 'max' or 'avg'"),
])
def test_causal_pool_errors(args, message):
    with pytest.raises(ValueError, match=message):
        causal_pool1d(*args)


@pytest.mark.parametrize("connection", ["none", "residual", "concat"])
def test_dilated_stacks_are_causal_with_the_formula_receptive_field(connection):
    torch.manual_seed(0)
    stack = DilatedStack(8, 2, [1, 2, 4, 8], connection)
    formula = receptive_field([2] * 4, [1, 2, 4, 8])
    assert formula == 16
    assert_causal(stack, length=20, in_channels=8)
    assert measured_receptive_field(stack, 40, in_channels=8) == formula


def test_temporal_block_equals_the_pad_both_sides_then_crop_form():
    """TCN code pads both sides with Conv1d(padding=p) and crops the right end (a "chomp")."""
    torch.manual_seed(0)
    for c_in, c_out, k, d in [(3, 5, 3, 2), (4, 4, 2, 1), (2, 3, 1, 4)]:
        block = TemporalBlock(c_in, c_out, k, d).eval()
        x = torch.randn(2, c_in, 11)
        p = (k - 1) * d

        def chomped(conv, h, d=d, p=p):
            y = F.conv1d(h, conv.weight, conv.bias, dilation=d, padding=p)
            return y[..., : h.size(-1)]  # crop to T: y[..., :-p] would be empty for p = 0

        h = F.relu(chomped(block.conv1, x))
        h = F.relu(chomped(block.conv2, h))
        residual = x if block.downsample is None else block.downsample(x)
        torch.testing.assert_close(block(x), F.relu(h + residual))
        assert (block.downsample is None) == (c_in == c_out)
        assert measured_receptive_field(block, 30, in_channels=c_in) == 1 + 2 * (k - 1) * d


def test_temporal_block_with_dropout_is_causal_in_training():
    block = TemporalBlock(2, 3, 3, 2, dropout=0.5).train()
    assert_causal(block, length=16, in_channels=2)


def test_wavenet_block_gates_and_skips():
    torch.manual_seed(1)
    block = WaveNetBlock(4, 6, kernel_size=2, dilation=3)
    x = torch.randn(2, 4, 10)
    residual, skip = block(x)
    a, b = block.dilated(x).chunk(2, dim=1)
    z = torch.tanh(a) * torch.sigmoid(b)
    torch.testing.assert_close(residual, x + block.residual(z))
    torch.testing.assert_close(skip, block.skip(z))
    assert skip.shape == (2, 6, 10)
    assert_causal(lambda h: torch.cat(block(h), dim=1), length=16, in_channels=4)


@pytest.mark.parametrize("make", [
    lambda: DilatedCausalNet(5, 8, 2, [1, 2, 4, 8]),
    lambda: DilatedCausalNet(5, 8, 3, [1, 3], connection="residual"),
    lambda: DilatedCausalNet(5, 8, 2, [1, 2, 4], connection="concat", embed=True),
    lambda: TCN(5, 8, 2, [1, 2, 4], dropout=0.1),
    lambda: WaveNet(5, 8, 6, 2, [1, 2, 4, 8]),
    lambda: WaveNet(5, 8, 6, 2, [1, 2], embed=True),
])
def test_models_hide_the_present_and_have_the_stated_receptive_field(make):
    torch.manual_seed(0)
    model = make()
    assert_causal(model, length=20, strict=True, time_dim=1)
    assert measured_receptive_field(model, 2 * model.receptive_field + 4, time_dim=1) == (
        model.receptive_field)
    assert_batch_independent(lambda x: model.eval()(x))
    assert model(torch.zeros(2, 1, 7)).shape == (2, 7, 5)


def test_the_embedding_input_recovers_every_token():
    layer = InputLayer(103, 4, embed=True)
    tokens = torch.arange(103).view(1, -1)
    h = layer(tokens_to_input(tokens, 103))  # (1, 4, 103)
    expected = layer.embedding(tokens[:, :-1]).transpose(1, 2)
    torch.testing.assert_close(h[..., 1:], expected)  # position t holds token t - 1
    assert h[..., 0].abs().sum() == 0


def test_python_docs_text_encodes_and_splits():
    text = python_docs_text()
    assert len(text) > 300_000
    chars = vocabulary(text)
    tokens = encode(text[:5000], chars)
    assert decode(tokens, chars) == text[:5000]
    train, test = split(tokens, 0.2)
    assert train.numel() == 4000 and torch.equal(torch.cat([train, test]), tokens)
    w = windows(train, 64, stride=32)
    assert w.shape == ((4000 - 64) // 32 + 1, 64) and torch.equal(w[1, :32], w[0, 32:])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        encode("\u2603", chars)


def test_stack_picture_from_measured_maps():
    torch.manual_seed(0)
    dilations = [1, 2, 4]
    layers = [CausalConv1d(1, 2, 1, hide_present=True)] + [
        CausalConv1d(2, 2, 2, dilation=d) for d in dilations]
    maps = layer_dependencies(layers, 12, [1, 2, 2, 2])
    assert maps[0][5, 4] and not maps[0][5, 5]  # the first layer reads the previous step
    rows = cone(maps, 11)
    assert sorted(rows[0]) == list(range(3, 11))  # 8 inputs: the receptive field, shifted by one
    ax = draw_stack(maps, output=11)
    assert "8 inputs" in ax.get_title()
    with pytest.raises(ValueError, match="2 layers but 1 channel counts"):
        layer_dependencies(layers[:2], 12, [1])
    assert isinstance(layers[0], nn.Module)
