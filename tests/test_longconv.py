"""toylib.longconv against independent references: the causal sum written as Python loops in
float64, F.conv1d for the FFT path at larger sizes, and toylib.checks for what must not leak."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.checks import CausalityError, assert_causal, dependency_map
from toylib.exercise import differs
from toylib.longconv import (
    ShortConv,
    causal_conv1d_update,
    causal_conv_direct,
    circular_fft_conv,
    fft_causal_conv,
    fft_size,
    same_document_mask,
    seq_idx_from_lengths,
    token_shift,
)

F64 = torch.float64


def randn(*shape, seed=0, dtype=F64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def loop_causal_sum(x, kernel):
    """y[b, c, t] = sum_{s <= min(t, L-1)} kernel[c, s] x[b, c, t - s], as a double loop."""
    y = torch.zeros(x.shape, dtype=F64)
    for t in range(x.size(2)):
        for s in range(min(t, kernel.size(1) - 1) + 1):
            y[:, :, t] += kernel[:, s].double() * x[:, :, t - s].double()
    return y


def loop_short_conv(x, weight, bias, state=None, seq_idx=None):
    """ShortConv's rule as loops: tap w reads position t - (W-1-w); the state holds the W - 1
    positions before 0 and counts as the row's first document."""
    (batch, _, length), width = x.shape, weight.size(1)
    y = torch.zeros(x.shape, dtype=F64) + (0 if bias is None else bias.double()[:, None])
    for b in range(batch):
        for t in range(length):
            for w in range(width):
                pos = t - (width - 1 - w)
                if pos < 0:
                    if state is None or (seq_idx is not None and seq_idx[b, t] != seq_idx[b, 0]):
                        continue
                    value = state[b, :, width - 1 + pos]
                elif seq_idx is not None and seq_idx[b, pos] != seq_idx[b, t]:
                    continue
                else:
                    value = x[b, :, pos]
                y[b, :, t] += weight[:, w].double() * value.double()
    return y


SIZES = [(1, 1, 1, 1), (2, 3, 7, 1), (2, 3, 7, 7), (1, 1, 5, 3), (3, 2, 9, 4), (1, 4, 2, 2)]


@pytest.mark.parametrize("batch,channels,length,taps", SIZES)
def test_direct_and_fft_equal_the_double_loop_in_float64(batch, channels, length, taps):
    x, kernel = randn(batch, channels, length), randn(channels, taps, seed=1)
    expected = loop_causal_sum(x, kernel)
    torch.testing.assert_close(causal_conv_direct(x, kernel), expected, rtol=0, atol=1e-12)
    assert not differs(fft_causal_conv(x, kernel), expected, tol=1e-10).any()


@pytest.mark.parametrize("taps", [1, 37, 512, 1000])
def test_fft_equals_direct_at_larger_sizes(taps):
    x, kernel = randn(2, 8, 1000, dtype=torch.float32), randn(8, taps, seed=1,
                                                              dtype=torch.float32)
    assert not differs(fft_causal_conv(x, kernel), causal_conv_direct(x, kernel)).any()
    x, kernel = x.double(), kernel.double()
    assert not differs(fft_causal_conv(x, kernel), causal_conv_direct(x, kernel), tol=1e-10).any()


def test_dtype_is_kept_and_fft_size_is_a_power_of_two():
    for dtype in (torch.float32, F64):
        x = randn(1, 2, 10, dtype=dtype)
        for kernel_dtype in (torch.float32, F64):  # the kernel follows x
            kernel = randn(2, 4, dtype=kernel_dtype)
            for conv in (causal_conv_direct, fft_causal_conv, circular_fft_conv):
                assert conv(x, kernel).dtype == dtype, (conv.__name__, dtype, kernel_dtype)
    assert [fft_size(n) for n in (1, 2, 3, 8, 9, 8191)] == [1, 2, 4, 8, 16, 8192]


def test_circular_fft_differs_exactly_where_the_end_wraps_round():
    x, kernel = randn(2, 3, 12), randn(3, 5, seed=1)
    length, taps = 12, 5
    wrong, right = circular_fft_conv(x, kernel), causal_conv_direct(x, kernel)
    # what wraps: taps s > t read x[T + t - s], the end of the sequence
    wrapped = torch.zeros_like(right)
    for t in range(length):
        for s in range(t + 1, taps):
            wrapped[:, :, t] += kernel[:, s] * x[:, :, length + t - s]
    torch.testing.assert_close(wrong - right, wrapped, rtol=0, atol=1e-12)
    assert (wrapped[..., : taps - 1] != 0).all() and (wrapped[..., taps - 1:] == 0).all()


class Filter(nn.Module):
    """A function of (x, kernel) with its kernel as a parameter, for toylib.checks."""

    def __init__(self, conv, taps):
        super().__init__()
        self.conv = conv
        self.kernel = nn.Parameter(randn(1, taps, seed=3, dtype=torch.float32))

    def forward(self, x):
        return self.conv(x, self.kernel)


def test_the_checker_passes_the_padded_fft_and_catches_the_circular_one():
    assert_causal(Filter(fft_causal_conv, 4), length=16)
    assert_causal(Filter(causal_conv_direct, 4), length=16)
    with pytest.raises(CausalityError) as caught:
        assert_causal(Filter(circular_fft_conv, 4), length=16)
    # t = 0 reads x[16 - 3], x[14], x[15] through taps 3, 2, 1
    assert (caught.value.output_t, caught.value.input_s) == (0, 13), str(caught.value)


def test_tap_orders_present_tap_is_last_in_the_update_and_first_in_the_kernel():
    x = randn(2, 3, 6)
    present_weight = torch.zeros(3, 4, dtype=F64)
    present_weight[:, 3] = 1  # ShortConv / causal_conv1d_update: weight[:, W - 1] is x_t
    present_kernel = torch.zeros(3, 4, dtype=F64)
    present_kernel[:, 0] = 1  # causal_conv_direct / fft_causal_conv: kernel[:, 0] is x_t
    state = torch.zeros(2, 3, 3, dtype=F64)
    assert torch.equal(causal_conv1d_update(x[..., 0], state, present_weight), x[..., 0])
    assert torch.equal(causal_conv_direct(x, present_kernel), x)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_update_steps_from_zeros_equal_forward_and_direct_with_the_weight_flipped(width):
    torch.manual_seed(0)
    conv = ShortConv(5, width).double()
    x = randn(2, 5, 9)
    state = torch.zeros(2, 5, width - 1, dtype=F64)
    with torch.no_grad():
        steps = torch.stack([conv.step(x[..., t], state) for t in range(9)], -1)  # (B, D, T)
        full = conv(x)
        direct = causal_conv_direct(x, conv.weight.flip(-1)) + conv.bias[:, None]
    expected = loop_short_conv(x, conv.weight.detach(), conv.bias.detach())
    for got in (steps, full, direct):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(state, x[..., 9 - (width - 1):], rtol=0, atol=0)


def test_update_writes_the_state_in_place_even_in_a_view_of_a_larger_cache():
    weight, bias, x = randn(4, 4), randn(4, seed=1), randn(2, 4, seed=2)
    for name in ("slice", "transposed"):
        if name == "slice":
            cache = randn(2, 4, 6, seed=3)
            state = cache[:, :, 1:4]  # (B, D, 3), a non-contiguous view
        else:
            cache = randn(2, 6, 4, seed=3)
            state = cache[:, 1:4, :].transpose(1, 2)  # (B, D, 3), strided
        before, old = cache.clone(), state.clone()
        threads = torch.get_num_threads()
        y = causal_conv1d_update(x, state, weight, bias)
        assert torch.get_num_threads() == threads  # one_thread gives the setting back
        expected = bias + (torch.cat([old, x[..., None]], -1) * weight).sum(-1)
        torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)
        torch.testing.assert_close(state, torch.cat([old[..., 1:], x[..., None]], -1),
                                   rtol=0, atol=0)
        untouched = torch.ones_like(cache, dtype=torch.bool)
        if name == "slice":
            untouched[:, :, 1:4] = False
        else:
            untouched[:, 1:4, :] = False
        assert torch.equal(cache[untouched], before[untouched]), name


def test_steps_from_a_strided_state_continue_forward_with_initial_state():
    torch.manual_seed(0)
    conv = ShortConv(3, 4, activation="silu").double()
    cache = randn(2, 5, 3, seed=4)  # (B, slots, D): the state lives in a transposed cache
    initial = cache[:, 1:4, :].transpose(1, 2).clone()  # (B, D, W - 1)
    x = randn(2, 3, 7, seed=5)
    with torch.no_grad():
        y, final = conv(x, initial_state=initial, return_final_state=True)
        state = cache[:, 1:4, :].transpose(1, 2)
        steps = torch.stack([conv.step(x[..., t], state) for t in range(7)], -1)
    torch.testing.assert_close(steps, y, rtol=0, atol=1e-12)
    torch.testing.assert_close(state, final, rtol=0, atol=0)
    expected = F.silu(loop_short_conv(x, conv.weight.detach(), conv.bias.detach(), initial))
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)


def test_silu_is_swish_and_other_activations_are_refused():
    weight, x = randn(3, 4), randn(2, 3, seed=1)
    state = randn(2, 3, 3, seed=2)
    plain = causal_conv1d_update(x, state.clone(), weight)
    for name in ("silu", "swish"):
        torch.testing.assert_close(causal_conv1d_update(x, state.clone(), weight,
                                                        activation=name), F.silu(plain))
    with pytest.raises(ValueError, match=r"None, 'silu' or 'swish', got 'relu'"):
        causal_conv1d_update(x, state, weight, activation="relu")
    with pytest.raises(ValueError, match="'silu' or 'swish'"):
        ShortConv(3, activation="relu")


def test_kernel_size_one_has_an_empty_state():
    conv = ShortConv(3, 1, bias=False).double()
    x = randn(2, 3, 5)
    y, final = conv(x, return_final_state=True)
    torch.testing.assert_close(y, conv.weight[:, 0, None] * x)
    assert final.shape == (2, 3, 0)
    state = torch.zeros(2, 3, 0, dtype=F64)
    torch.testing.assert_close(conv.step(x[..., 0], state), y[..., 0])


def test_chunked_prefill_equals_one_pass():
    torch.manual_seed(0)
    conv = ShortConv(4, 4).double()
    x = randn(2, 4, 23)
    y_all, final_all = conv(x, return_final_state=True)
    state, outputs, start = None, [], 0
    for size in (1, 2, 7, 13):  # chunks shorter than W - 1 reach into the state they were given
        y, state = conv(x[..., start:start + size], initial_state=state, return_final_state=True)
        outputs.append(y)
        start += size
    torch.testing.assert_close(torch.cat(outputs, -1), y_all, rtol=0, atol=1e-12)
    torch.testing.assert_close(state, final_all, rtol=0, atol=0)


def test_seq_idx_cuts_every_tap_into_an_earlier_document():
    torch.manual_seed(0)
    conv = ShortConv(1, 4).double()
    seq_idx = seq_idx_from_lengths([3, 1, 5, 4])[None]  # (1, 13)

    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(x, seq_idx=seq_idx.expand(x.size(0), -1))

    deps = dependency_map(Packed(), 13)  # (T, T): output t depends on x[s]
    t, s = torch.meshgrid(torch.arange(13), torch.arange(13), indexing="ij")
    same = seq_idx[0][t] == seq_idx[0][s]
    assert torch.equal(deps, same & (s <= t) & (t - s < 4)), deps.int()


def test_seq_idx_equals_each_document_alone_and_the_loop_with_a_state():
    torch.manual_seed(0)
    conv = ShortConv(3, 4, activation="silu").double()
    lengths = [[2, 6, 1, 3], [5, 5, 2]]
    seq_idx = torch.stack([seq_idx_from_lengths(n) for n in lengths])  # (2, 12)
    x = randn(2, 3, 12)
    y = conv(x, seq_idx=seq_idx)
    for b, row in enumerate(lengths):
        alone = torch.cat([conv(part[None]) for part in x[b].split(row, -1)], -1)[0]
        torch.testing.assert_close(y[b], alone, rtol=0, atol=1e-12)
    state = randn(2, 3, 3, seed=1)  # the state belongs to each row's first document
    y, _ = conv(x, initial_state=state, seq_idx=seq_idx, return_final_state=True)
    expected = loop_short_conv(x, conv.weight.detach(), conv.bias.detach(), state, seq_idx)
    torch.testing.assert_close(y, F.silu(expected), rtol=0, atol=1e-12)


def test_seq_idx_chunked_prefill_through_a_document_split_between_chunks():
    torch.manual_seed(0)
    conv = ShortConv(2, 4).double()
    seq_idx = seq_idx_from_lengths([4, 2, 7])[None]  # a chunk ends 1 step into document 2
    x = randn(1, 2, 13)
    y_all = conv(x, seq_idx=seq_idx)
    y1, state = conv(x[..., :7], seq_idx=seq_idx[:, :7], return_final_state=True)
    assert (state[..., :2] == 0).all()  # inputs of earlier documents are not carried on
    y2 = conv(x[..., 7:], initial_state=state, seq_idx=seq_idx[:, 7:])
    torch.testing.assert_close(torch.cat([y1, y2], -1), y_all, rtol=0, atol=1e-12)


def test_seq_idx_from_lengths_and_same_document_mask():
    assert seq_idx_from_lengths([2, 3]).tolist() == [0, 0, 1, 1, 1]
    assert seq_idx_from_lengths(torch.tensor([1, 2]), length=5).tolist() == [0, 1, 1, 1, 1]
    assert seq_idx_from_lengths([2]).dtype == torch.int64
    with pytest.raises(ValueError, match="more than length=4"):
        seq_idx_from_lengths([2, 3], length=4)
    with pytest.raises(ValueError, match="every document length must be an int >= 1, got 0"):
        seq_idx_from_lengths([2, 0])
    seq_idx = torch.stack([seq_idx_from_lengths([1, 3, 2]), seq_idx_from_lengths([6])])
    mask = same_document_mask(seq_idx, 3)
    assert mask.shape == (2, 3, 6) and mask.dtype == torch.bool
    for b in range(2):
        for w in range(3):
            for t in range(6):
                expected = t - w >= 0 and bool(seq_idx[b, t - w] == seq_idx[b, t])
                assert mask[b, w, t].item() == expected, (b, w, t)
    assert same_document_mask(seq_idx[0], 2).shape == (1, 2, 6)


def test_token_shift_is_a_kernel_two_depthwise_causal_conv():
    x, mix = randn(2, 7, 5), torch.rand(5, dtype=F64)
    kernel = torch.stack([mix, 1 - mix], 1)  # (C, 2): kernel[:, 0] multiplies x_t
    expected = causal_conv_direct(x.transpose(1, 2), kernel).transpose(1, 2)
    torch.testing.assert_close(token_shift(x, mix), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(token_shift(x, mix)[:, 0], mix * x[:, 0])


X, K = torch.randn(2, 3, 5), torch.randn(3, 2)
BAD = [
    (lambda: fft_causal_conv(X[0], K), r"x must be a 3D tensor \(B, C, T\), got 2D shape "
     r"\(3, 5\) \(for one sequence use x.unsqueeze\(0\)\)"),
    (lambda: causal_conv_direct(X, torch.randn(3, 6)), r"L must be between 1 and T = 5, got "
     r"kernel shape \(3, 6\)"),
    (lambda: causal_conv_direct(X, torch.randn(3, 0)), r"between 1 and T = 5"),
    (lambda: circular_fft_conv(X, torch.randn(4, 2)), r"one filter per channel.*\(4, 2\)"),
    (lambda: fft_causal_conv(X.long(), K), "x must be a floating-point tensor, got torch.int64"),
    (lambda: causal_conv_direct(X, K[0]), r"kernel must be a 2D tensor \(C, L\), got 1D"),
    (lambda: causal_conv1d_update(X[..., 0], torch.zeros(2, 3, 2), K), r"conv_state must be "
     r"\(B, D, W - 1\) = \(2, 3, 1\), got shape \(2, 3, 2\)"),
    (lambda: causal_conv1d_update(X[..., 0], torch.zeros(2, 3, 1), K, torch.zeros(4)),
     r"bias must be None or a tensor \(D,\) = \(3,\)"),
    (lambda: causal_conv1d_update(X, torch.zeros(2, 3, 1), K), r"x must be a 2D tensor"),
    (lambda: ShortConv(3, 0), "kernel_size must be an int >= 1, got 0"),
    (lambda: ShortConv(3)(X.double()), "x is torch.float64 but the weights are torch.float32"),
    (lambda: ShortConv(4)(X), r"x must be \(B, D=4, T\)"),
    (lambda: ShortConv(3)(X, initial_state=torch.zeros(2, 3, 2)),
     r"initial_state must be \(B, D, W - 1\) = \(2, 3, 3\), got \(2, 3, 2\)"),
    (lambda: ShortConv(3)(X, seq_idx=torch.tensor([[0, 1, 1, 0, 2]] * 2)), "nondecreasing"),
    (lambda: ShortConv(3)(X, seq_idx=torch.zeros(2, 5)), "integer document indices"),
    (lambda: ShortConv(3)(X, seq_idx=torch.zeros(2, 4, dtype=torch.long)),
     r"seq_idx must be \(B, T\) = \(2, 5\), got \(2, 4\)"),
    (lambda: token_shift(X, torch.rand(3)), r"mix must be \(C,\) = \(5,\)"),
    (lambda: fft_size(0), "n must be an int >= 1, got 0"),
]


@pytest.mark.parametrize("call,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_inputs_get_value_errors_that_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
