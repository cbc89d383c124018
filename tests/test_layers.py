"""CausalConv1d against independent references: nn.Conv1d(padding) cropped on the right, and a
direct sum over the taps written with Python loops."""

import itertools

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.checks import assert_causal
from toylib.layers import CausalConv1d


def reference_cropped(layer: CausalConv1d, x: torch.Tensor) -> torch.Tensor:
    """nn.Conv1d pads both ends by (k-1)d; keeping the first T outputs gives the causal conv."""
    pad = (layer.kernel_size - 1) * layer.dilation
    ref = nn.Conv1d(layer.in_channels, layer.out_channels, layer.kernel_size,
                    dilation=layer.dilation, padding=pad, bias=layer.conv.bias is not None)
    ref.load_state_dict(layer.conv.state_dict())
    if layer.hide_present:  # shift right by one: x_{t-1} at t, zero at t = 0
        x = torch.cat([torch.zeros_like(x[..., :1]), x[..., :-1]], dim=-1)
    return ref(x)[..., : x.size(-1)]


def reference_loops(layer: CausalConv1d, x: torch.Tensor) -> torch.Tensor:
    """y[b, o, t] = bias[o] + sum_{c,j} w[o, c, j] x[b, c, t - shift - (k-1-j) d], 0 if < 0."""
    w = layer.conv.weight.detach().double()
    b = layer.conv.bias
    B, _, T = x.shape
    k, d, shift = layer.kernel_size, layer.dilation, int(layer.hide_present)
    y = torch.zeros(B, layer.out_channels, T, dtype=torch.float64)
    if b is not None:
        y += b.detach().double()[None, :, None]
    xd = x.double()
    for t, j in itertools.product(range(T), range(k)):
        s = t - shift - (k - 1 - j) * d
        if s >= 0:
            y[:, :, t] += xd[:, :, s] @ w[:, :, j].T
    return y


CONFIGS = [  # (in, out, kernel_size, dilation, T, B)
    (1, 1, 1, 1, 5, 2),  # kernel_size 1: no padding at all
    (2, 3, 2, 1, 7, 3),
    (3, 2, 3, 2, 11, 2),
    (2, 2, 4, 3, 9, 1),  # batch of one
    (1, 4, 3, 8, 5, 2),  # dilation larger than T: only the present tap sees data
    (2, 3, 5, 1, 1, 2),  # T of one
    (2, 3, 3, 4, 1, 1),  # T of one, batch of one, dilated
]


@pytest.mark.parametrize("hide_present", [False, True], ids=["plain", "hide_present"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("cin,cout,k,d,T,B", CONFIGS)
def test_matches_references(cin, cout, k, d, T, B, bias, hide_present):
    torch.manual_seed(0)
    layer = CausalConv1d(cin, cout, k, dilation=d, hide_present=hide_present, bias=bias)
    x = torch.randn(B, cin, T)
    y = layer(x)
    assert y.shape == (B, cout, T)
    torch.testing.assert_close(y, reference_cropped(layer, x))
    torch.testing.assert_close(y.double(), reference_loops(layer, x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("hide_present", [False, True])
@pytest.mark.parametrize("k,d", [(1, 1), (2, 1), (3, 2), (2, 16)])
def test_is_causal(k, d, hide_present):
    layer = CausalConv1d(2, 3, k, dilation=d, hide_present=hide_present)
    assert_causal(layer, length=12, in_channels=2, strict=hide_present)


def test_plain_layer_uses_the_present():
    layer = CausalConv1d(1, 1, 2)
    with pytest.raises(AssertionError, match="present"):
        assert_causal(layer, length=6, strict=True)


def test_gradients_match_reference():
    torch.manual_seed(1)
    layer = CausalConv1d(2, 3, 3, dilation=2, hide_present=True)
    x = torch.randn(2, 2, 9, requires_grad=True)
    layer(x).pow(2).sum().backward()
    grad_x, grad_w = x.grad.clone(), layer.conv.weight.grad.clone()
    x.grad = None
    layer.conv.weight.grad = None
    reference_cropped(layer, x).pow(2).sum().backward()
    torch.testing.assert_close(grad_x, x.grad)
    assert layer.conv.weight.grad is None  # the reference has its own weights...
    assert grad_w.abs().sum() > 0  # ...and the layer's own conv did receive gradients


def test_input_is_left_untouched_and_conv_has_no_padding():
    layer = CausalConv1d(1, 2, 3, dilation=2, hide_present=True)
    x = torch.randn(2, 1, 8)
    before = x.clone()
    layer(x)
    assert torch.equal(x, before)
    assert layer.conv.padding == (0,)
    assert layer.left_pad == 4


def test_float64_input_works():
    layer = CausalConv1d(1, 1, 2).double()
    assert layer(torch.randn(1, 1, 4, dtype=torch.float64)).dtype == torch.float64


def test_first_layer_output_at_t0_is_the_bias_alone():
    layer = CausalConv1d(1, 2, 3, hide_present=True)
    y = layer(torch.randn(4, 1, 6))
    torch.testing.assert_close(y[:, :, 0], layer.conv.bias.expand(4, 2))


@pytest.mark.parametrize("kwargs,message", [
    (dict(kernel_size=0), "kernel_size must be an int >= 1"),
    (dict(kernel_size=2.0), "kernel_size must be an int"),
    (dict(dilation=0), "dilation must be an int >= 1"),
    (dict(in_channels=0), "in_channels must be an int >= 1"),
    (dict(out_channels=-2), "out_channels must be an int >= 1"),
    (dict(hide_present="yes"), "hide_present must be a bool"),
])
def test_bad_arguments(kwargs, message):
    args = dict(in_channels=1, out_channels=1, kernel_size=2) | kwargs
    with pytest.raises(ValueError, match=message):
        CausalConv1d(**args)


@pytest.mark.parametrize("x,message", [
    (torch.randn(2, 5), r"3D tensor \(B, C, T\), got 2D .*unsqueeze"),
    (torch.randn(2, 2, 2, 5), r"3D tensor \(B, C, T\), got 4D"),
    (torch.randn(2, 3, 5), "expects 2 input channel"),
    (torch.zeros(2, 2, 5, dtype=torch.long), "floating-point tensor, got torch.int64"),
    (torch.randn(2, 2, 0), "at least one time step"),
    ([[1.0, 2.0]], "expects a torch.Tensor"),
])
def test_bad_input(x, message):
    with pytest.raises(ValueError, match=message):
        CausalConv1d(2, 1, 2)(x)


def test_shift_is_one_step_whatever_the_dilation():
    """A real bug: shifting the first layer by `dilation` steps instead of one."""
    layer = CausalConv1d(1, 1, 2, dilation=4, hide_present=True, bias=False)
    with torch.no_grad():
        layer.conv.weight.copy_(torch.tensor([[[0.0, 1.0]]]))  # only the newest tap
    x = torch.arange(1.0, 9.0).view(1, 1, 8)
    assert layer(x).flatten().tolist() == [0.0, 1, 2, 3, 4, 5, 6, 7]
    assert F.pad(x, (1, -1)).flatten().tolist() == [0.0, 1, 2, 3, 4, 5, 6, 7]
