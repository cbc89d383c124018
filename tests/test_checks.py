"""The causality checker must catch every kind of leak, name the pair, and leave the model alone;
the measured receptive field must equal the formula."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.checks import (
    BatchMixingError,
    CausalityError,
    assert_batch_independent,
    assert_causal,
    batch_dependency_map,
    dependency_map,
    dependency_strength,
    format_dependency_map,
    measured_receptive_field,
    receptive_field,
)
from toylib.layers import CausalConv1d


class Lambda(nn.Module):
    """A one-conv model whose forward is given as a function of (conv, x)."""

    def __init__(self, fn, kernel_size=3, channels=1):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.conv, x)


def shifted(conv, x):  # strictly causal: output t uses x[t-3], x[t-2], x[t-1]
    return conv(F.pad(x, (3, -1)))


def present_leak_at_last_step(conv, x):  # the last output also sees x[T-1], the present
    y = shifted(conv, x)
    return torch.cat([y[..., :-1], y[..., -1:] + 1e-3 * x[..., -1:]], dim=-1)


def future_leak_before_last_step(conv, x):  # output T-2 also sees x[T-1], the future
    y = shifted(conv, x)
    return torch.cat([y[..., :-2], y[..., -2:-1] + 1e-3 * x[..., -1:], y[..., -1:]], dim=-1)


LEAKY = {  # name -> (model, first (t, s) found in strict mode)
    "symmetric_same_padding": (Lambda(lambda c, x: c(F.pad(x, (1, 1)))), (0, 0)),
    "right_padding": (Lambda(lambda c, x: c(F.pad(x, (0, 2)))), (0, 0)),
    "roll_instead_of_shift": (Lambda(lambda c, x: c(F.pad(torch.roll(x, 1, -1), (2, 0)))),
                              (0, 15)),
    "crop_wrong_side": (Lambda(lambda c, x: c(F.pad(x, (2, 2)))[..., 2:]), (0, 0)),
    "present_leak_at_last_step": (Lambda(present_leak_at_last_step), (15, 15)),
    "future_leak_before_last_step": (Lambda(future_leak_before_last_step), (14, 15)),
    "global_mean": (Lambda(lambda c, x: shifted(c, x - x.mean(-1, keepdim=True))), (1, 1)),
}


@pytest.mark.parametrize("name", LEAKY)
def test_leaky_models_are_caught(name):
    model, (t, s) = LEAKY[name]
    with pytest.raises(CausalityError) as err:
        assert_causal(model, length=16, strict=True)
    assert (err.value.output_t, err.value.input_s) == (t, s)
    assert f"output at t={t} depends on x[{s}]" in str(err.value)


def test_strict_base_model_passes():
    assert_causal(Lambda(shifted), length=16, strict=True)


def test_single_step_leaks_at_the_last_positions():
    # the present at the very last step: only a strict check may complain
    assert_causal(Lambda(present_leak_at_last_step), length=16)
    with pytest.raises(CausalityError, match="the present input"):
        assert_causal(Lambda(present_leak_at_last_step), length=16, strict=True)
    # one future step, one position before the end: caught either way
    with pytest.raises(CausalityError) as err:
        assert_causal(Lambda(future_leak_before_last_step), length=16)
    assert (err.value.output_t, err.value.input_s) == (14, 15)
    assert "sees the future" in str(err.value)
    assert "pairs in all" not in str(err.value)  # exactly one leaking pair


def test_first_position_only_leak():
    """Output t=0 alone sees x[1]; every other output is causal."""
    def fn(conv, x):
        y = conv(F.pad(x, (2, 0)))
        return torch.cat([y[..., :1] + x[..., 1:2], y[..., 1:]], dim=-1)
    with pytest.raises(CausalityError) as err:
        assert_causal(Lambda(fn), length=8)
    assert (err.value.output_t, err.value.input_s) == (0, 1)
    assert "sees the future" in str(err.value)


def test_leak_through_a_dead_relu_path_is_still_caught():
    """A leak through a ReLU that is inactive for most inputs: gradients on one input could miss
    it, the batch of random inputs and the perturbation cross-check do not."""
    def fn(conv, x):
        return conv(F.pad(x, (2, 0))) + F.relu(x.roll(-1, -1) - 1.5)
    with pytest.raises(CausalityError):
        assert_causal(Lambda(fn), length=16)


def test_leak_hidden_from_gradients_is_caught_by_perturbation():
    class NoGrad(nn.Module):
        def forward(self, x):
            return x.detach().flip(-1)  # no gradient path at all
    with pytest.raises(CausalityError):
        assert_causal(NoGrad(), length=6)


def test_batchnorm_in_train_mode_leaks_and_the_model_is_not_modified():
    """Batch-norm statistics over time let every output see the whole sequence in training."""
    model = nn.Sequential(CausalConv1d(1, 4, 2), nn.BatchNorm1d(4)).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    with pytest.raises(CausalityError):
        assert_causal(model, length=8)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())
    assert model.training
    assert_causal(model.eval(), length=8)  # with running statistics it is causal


def test_dropout_does_not_cause_false_alarms():
    model = nn.Sequential(CausalConv1d(1, 8, 3), nn.Dropout(0.5), CausalConv1d(8, 1, 2)).train()
    assert_causal(model, length=10)


def test_time_dim_for_batch_time_channel_outputs():
    layer = CausalConv1d(1, 5, 2, hide_present=True)
    assert_causal(lambda x: layer(x).transpose(1, 2), length=9, strict=True, time_dim=1)


def test_wrong_output_length_is_a_clear_error():
    conv = nn.Conv1d(1, 1, 3)  # no padding: T - 2 outputs
    with pytest.raises(ValueError, match="output has 6 steps .* input has 8"):
        assert_causal(conv, length=8)


def test_dependency_map_of_a_dilated_layer():
    deps = dependency_map(CausalConv1d(1, 1, 2, dilation=3), length=6)
    expected = torch.zeros(6, 6, dtype=torch.bool)
    for t in range(6):
        expected[t, t] = True
        if t >= 3:
            expected[t, t - 3] = True
    assert torch.equal(deps, expected)
    assert format_dependency_map(deps).splitlines()[4] == "t=4 .#..#."


@pytest.mark.parametrize("kernel_sizes,dilations", [
    ([2, 2, 2], [1, 1, 1]),
    ([2, 2, 2, 2], [1, 2, 4, 8]),
    ([3, 3], [1, 3]),
    ([1], [1]),
    ([5, 2], [1, 7]),
])
@pytest.mark.parametrize("hide_present", [False, True])
def test_receptive_field_formula_equals_measured(kernel_sizes, dilations, hide_present):
    layers = [CausalConv1d(1, 4, kernel_sizes[0], dilations[0], hide_present=hide_present)]
    layers += [CausalConv1d(4, 4, k, d) for k, d in zip(kernel_sizes[1:], dilations[1:],
                                                           strict=True)]
    model = nn.Sequential(*[m for layer in layers for m in (layer, nn.Tanh())])
    rf = receptive_field(kernel_sizes, dilations)
    assert measured_receptive_field(model, length=rf + 4, in_channels=1) == rf


def test_receptive_field_errors():
    with pytest.raises(ValueError, match="2 kernel sizes but 1 dilations"):
        receptive_field([2, 2], [1])
    with pytest.raises(ValueError, match="kernel size must be an int >= 1"):
        receptive_field([0])
    with pytest.raises(ValueError, match="length must be an int >= 1"):
        dependency_map(nn.Identity(), 0)
    assert receptive_field([]) == 1


def test_nan_outputs_are_a_clear_error_not_a_pass():
    """NaN differences compare False: without this check a NaN model would look causal."""
    class NaNs(nn.Module):
        def forward(self, x):
            return x * float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        assert_causal(NaNs(), length=6)


class FFTCausalConv(nn.Module):
    """A right causal convolution computed by FFT, as long-convolution code (CKConv, S4, Hyena)
    does: its gradients carry round-off of about 1e-7 at positions it does not depend on."""

    def __init__(self, kernel_size=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(kernel_size))

    def forward(self, x):  # (B, 1, T) -> (B, 1, T)
        length = x.size(-1)
        n = 2 * length
        kernel = F.pad(self.weight.flip(0), (0, max(0, length - self.weight.numel())))[:length]
        y = torch.fft.irfft(torch.fft.rfft(x, n=n) * torch.fft.rfft(kernel, n=n), n=n)
        return y[..., :length]


def test_a_right_fft_convolution_is_not_a_leak():
    torch.manual_seed(0)
    layer = FFTCausalConv()
    x = torch.randn(1, 1, 16, requires_grad=True)
    reference = F.conv1d(F.pad(x, (3, 0)), layer.weight.view(1, 1, -1))
    torch.testing.assert_close(layer(x), reference, atol=1e-5, rtol=1e-5)  # it is right
    (grad,) = torch.autograd.grad(layer(x)[0, 0, 5], x)  # output 5 reads x[2..5] only
    future = grad[0, 0, 6:].abs()
    assert 0 < future.max() < 1e-5  # in float32, round-off gradients from the future
    assert dependency_strength(layer, 16).triu(1).max() == 0  # probed in float64: none
    assert_causal(layer, length=16)
    black_box = lambda x: layer(x)  # noqa: E731 - a callable is probed in float32
    assert_causal(black_box, length=16)
    assert_causal(black_box, length=16, method="perturbation")


def test_a_deep_stack_keeps_its_weakest_dependencies():
    """The farthest input of a deep stack weighs about 1e-11 of the nearest: not round-off."""
    torch.manual_seed(0)
    deep = nn.Sequential(*[m for _ in range(30) for m in (CausalConv1d(4 if _ else 1, 4, 2),
                                                        nn.Tanh())])
    strength = dependency_strength(deep, 40)
    assert strength[39, 39 - 30] > 0  # 30 layers of kernel 2: 31 inputs
    assert measured_receptive_field(deep, 40) == 31


def test_a_leak_farther_away_than_the_probe_is_caught():
    """Output t sees x[t + 20]: invisible at length 16, caught by the default second length."""
    def fn(conv, x):
        y = shifted(conv, x)
        return y + 1e-2 * F.pad(x, (0, 20))[..., 20:]
    model = Lambda(fn)
    assert_causal(model, length=16, lengths=[16])  # one short probe misses it
    with pytest.raises(CausalityError) as err:
        assert_causal(model, length=16)
    assert err.value.input_s - err.value.output_t == 20
    assert "inputs of length" in str(err.value) and "dependency" in str(err.value)


def test_the_message_says_how_strong_the_leak_is():
    with pytest.raises(CausalityError, match=r"\(dependency 0\.00[0-9]+ of the strongest"):
        assert_causal(Lambda(future_leak_before_last_step), length=16)


def test_batch_mixing_is_found_and_named():
    class BatchMean(nn.Module):
        def forward(self, x):
            return x - x.mean(dim=0, keepdim=True)  # each sequence sees the others
    with pytest.raises(BatchMixingError) as err:
        assert_batch_independent(BatchMean())
    assert (err.value.output_b, err.value.input_b) == (0, 1)
    assert batch_dependency_map(BatchMean(), batch_size=3).all()
    assert_batch_independent(CausalConv1d(1, 2, 3))
    batchnorm = nn.Sequential(CausalConv1d(1, 4, 2), nn.BatchNorm1d(4)).train()
    with pytest.raises(BatchMixingError):
        assert_batch_independent(batchnorm)
    assert_batch_independent(batchnorm.eval())


def test_explicit_lengths_and_receptive_field():
    model = Lambda(shifted)
    assert_causal(model, lengths=[4, 9, 33], strict=True)
    assert_causal(model, length=8, receptive_field=40, strict=True)
    with pytest.raises(ValueError, match="every length must be an int >= 1"):
        assert_causal(model, lengths=[0])


def test_known_channels_and_one_call():
    """A channel read everywhere is no leak when it is known; one batched call measures the same
    map as one call per perturbed position."""
    class ReadsChannelOne(nn.Module):  # channel 0 causally (the step before), channel 1 anywhere
        def forward(self, x):  # (B, 2, T) -> (B, 1, T)
            return F.pad(x[:, :1], (1, -1)) + x[:, 1:].mean(dim=2, keepdim=True)

    model = ReadsChannelOne()
    everything = dependency_map(model, 6, 2)
    assert everything.all()  # the mean over time of channel 1 reaches every output
    known = dependency_strength(model, 6, 2, known_channels=[1]) > 0
    assert torch.equal(known, torch.diag(torch.ones(5, dtype=torch.bool), -1))
    calls = []

    def counted(x):
        calls.append(x.size(0))
        return model(x)

    batched = dependency_strength(counted, 6, 2, method="perturbation", known_channels=[1],
                                  one_call=True)
    assert calls == [4, 6 * 4]  # the reference, then every perturbed input at once
    one_by_one = dependency_strength(lambda x: model(x), 6, 2, method="perturbation",
                                     known_channels=[1])
    torch.testing.assert_close(batched, one_by_one)
    assert torch.equal(batched > 0, known)


def test_a_model_made_for_one_length_is_probed_at_that_length_only() -> None:
    """BatchNorm over C * T features accepts one length: the extra probe is skipped, and a
    length the model refuses is named."""
    from toylib.checks import ModelCallError

    class OneLength(torch.nn.Module):
        def __init__(self, channels: int, length: int) -> None:
            super().__init__()
            self.conv = CausalConv1d(1, channels, kernel_size=3)
            self.norm = torch.nn.BatchNorm1d(channels * length)

        def forward(self, x):
            h = self.conv(x)  # (B, C, T)
            return self.norm(h.flatten(1)).view_as(h)  # (B, C, T)

    model = OneLength(8, 16).eval()
    assert_causal(model, 16)  # causal in eval mode, and only length 16 runs
    with pytest.raises(ModelCallError, match=r"length 12\)"):
        assert_causal(model, 12)
    with pytest.raises(CausalityError, match=r"inputs of length 12, after length 8 showed none"):
        assert_causal(lambda x: F.pad(x, (0, 4))[..., 4:] if x.size(-1) > 8 else x, 8,
                      lengths=[8, 12])
