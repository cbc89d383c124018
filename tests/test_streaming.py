"""Cached inference (toylib.streaming) against the full forward pass, its independent reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.data import tokens_to_input
from toylib.layers import CausalConv1d
from toylib.models import TCN, DilatedCausalNet, ToyCausalNet, WaveNet
from toylib.sample import sample, sample_cached
from toylib.streaming import ConvStep, StreamingNet, streaming_logits

C = 7


def nets():
    torch.manual_seed(0)
    return {
        "toy": ToyCausalNet(C, 8, 3, 3),
        "toy kernel 1": ToyCausalNet(C, 8, 1, 2),
        "dilated": DilatedCausalNet(C, 8, 2, (1, 2, 4, 8)),
        "dilated residual k3": DilatedCausalNet(C, 8, 3, (1, 2, 4), "residual"),
        "dilated concat embed": DilatedCausalNet(C, 8, 2, (1, 2, 4), "concat", embed=True),
        "tcn": TCN(C, 8, 3, (1, 2, 4), dropout=0.3),
        "wavenet": WaveNet(C, 8, 6, 2, (1, 2, 4, 8, 16)),
        "wavenet k3 embed": WaveNet(C, 8, 6, 3, (1, 3), embed=True),
    }


@pytest.mark.parametrize("name", list(nets()))
@pytest.mark.parametrize("length", [1, 5, 70])  # 70: longer than every receptive field here
def test_cached_logits_equal_the_full_pass_in_float64(name, length):
    model = nets()[name].double().eval()
    tokens = torch.randint(0, C, (3, length), generator=torch.Generator().manual_seed(1))
    full = model(tokens_to_input(tokens, C).double())  # (3, T, C)
    cached = streaming_logits(model, tokens, C, torch.float64)
    assert (full - cached).abs().max().item() < 1e-12


def test_one_conv_step_against_conv1d_padding_then_crop():
    torch.manual_seed(0)
    for k, d, length in [(2, 1, 9), (2, 4, 20), (3, 5, 6), (1, 3, 4), (4, 2, 1)]:
        conv = CausalConv1d(3, 5, k, dilation=d).double()
        x = torch.randn(2, 3, length, dtype=torch.float64)
        # independent reference: nn.Conv1d padding both ends, then the right end cropped
        both = nn.Conv1d(3, 5, k, dilation=d, padding=(k - 1) * d).double()
        both.load_state_dict(conv.conv.state_dict())
        expected = both(x)[..., : length]  # (2, 5, T)
        step = ConvStep(conv, 2, torch.float64)
        got = torch.stack([step(x[..., t]) for t in range(length)], dim=-1)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
        assert step.queue.shape[0] == max((k - 1) * d, 1)  # exactly the past it reads


def test_conv_step_without_bias_and_dilation_past_the_end():
    conv = CausalConv1d(2, 2, 2, dilation=50, bias=False).double()
    x = torch.randn(1, 2, 10, dtype=torch.float64)
    step = ConvStep(conv, 1, torch.float64)
    got = torch.stack([step(x[..., t]) for t in range(10)], dim=-1)
    torch.testing.assert_close(got, conv(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["toy", "dilated residual k3", "tcn", "wavenet k3 embed"])
def test_cached_sampling_draws_the_same_tokens_as_the_naive_loop(name):
    model = nets()[name].eval()
    naive = sample(model, 4, 40, C, generator=torch.Generator().manual_seed(3))
    cached = sample_cached(model, 4, 40, C, generator=torch.Generator().manual_seed(3))
    assert torch.equal(naive, cached)
    window = sample(model, 4, 40, C, generator=torch.Generator().manual_seed(3),
                    window=model.receptive_field)
    assert torch.equal(naive, window)
    prefix = naive[:, :15]
    again = sample_cached(model, 4, 40, C, generator=torch.Generator().manual_seed(5),
                          prefix=prefix)
    assert torch.equal(again[:, :15], prefix)
    assert torch.equal(again, sample(model, 4, 40, C, generator=torch.Generator().manual_seed(5),
                                     prefix=prefix))


def test_streaming_refuses_what_it_cannot_do_exactly():
    model = nets()["tcn"]
    with pytest.raises(ValueError, match="eval mode"):
        StreamingNet(model.train(), 2)
    with pytest.raises(ValueError, match="StreamingNet knows"):
        StreamingNet(nn.Sequential(nn.Conv1d(1, 1, 1)).eval(), 2)
    with pytest.raises(ValueError, match="batch_size"):
        StreamingNet(model.eval(), 0)
    assert model.training is False


def test_sample_cached_keeps_the_model_mode_and_checks_its_arguments():
    model = nets()["wavenet"].train()
    sample_cached(model, 2, 3, C)
    assert model.training
    with pytest.raises(ValueError, match="temperature"):
        sample_cached(model, 2, 3, C, temperature=0)
    with pytest.raises(ValueError, match="prefix"):
        sample_cached(model, 2, 3, C, prefix=torch.zeros(3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="window"):
        sample(model, 2, 3, C, window=0)


def test_float32_cached_logits_are_within_round_off():
    model = nets()["wavenet"].eval()
    tokens = torch.randint(0, C, (2, 100), generator=torch.Generator().manual_seed(0))
    full = model(tokens_to_input(tokens, C))
    diff = (full - streaming_logits(model, tokens, C)).abs().max().item()
    assert diff < 1e-5
    assert F.softmax(full, -1).shape == (2, 100, C)


@pytest.mark.parametrize("kwargs, size", [({}, (8, 8)), ({"positional": True}, (8, 8)),
                                          ({"residual": True, "nb_layers": 3}, (5, 7)),
                                          ({"kernel_size": 3}, (1, 6)), ({}, (6, 1))])
def test_row_cached_pixelcnn_sampling_draws_the_same_images(kwargs, size):
    from toylib.pixelcnn import TwoStackPixelCNN
    from toylib.sample import sample_images, sample_images_cached

    torch.manual_seed(0)
    model = TwoStackPixelCNN(5, 8, **{"kernel_size": 5, "image_size": size, **kwargs}).eval()
    naive = sample_images(model, 6, *size, 5, generator=torch.Generator().manual_seed(2))
    cached = sample_images_cached(model, 6, *size, 5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(naive, cached)
    assert len(set(naive.flatten().tolist())) > 1  # something was drawn


def test_row_cached_sampling_refuses_other_models():
    from toylib.pixelcnn import MaskedPixelCNN
    from toylib.sample import sample_images_cached

    with pytest.raises(ValueError, match="TwoStackPixelCNN"):
        sample_images_cached(MaskedPixelCNN(5, 4, 3, 1), 1, 4, 4, 5)


def test_per_step_code_runs_on_one_thread_and_gives_the_callers_threads_back(monkeypatch):
    from toylib.config import one_thread
    from toylib.pixelcnn import TwoStackPixelCNN
    from toylib.sample import sample_images_cached
    from toylib.sequences import CausalCNNEncoder, Stepper

    seen = []
    original_step = StreamingNet._step
    monkeypatch.setattr(StreamingNet, "_step",
                        lambda self, x: seen.append(torch.get_num_threads()) or
                        original_step(self, x))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        net = nets()["wavenet"].eval()
        sample_cached(net, 3, 12, C, generator=torch.Generator().manual_seed(0))
        streaming_logits(net, torch.randint(C, (2, 5)), C)
        StreamingNet(net, 2).step(None)
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2

        torch.manual_seed(0)
        pixelcnn = TwoStackPixelCNN(3, nb_channels=4, kernel_size=3, nb_layers=1).eval()
        original_links = pixelcnn.vertical_links
        threads = []
        monkeypatch.setattr(pixelcnn, "vertical_links",
                            lambda x: threads.append(torch.get_num_threads()) or
                            original_links(x))
        sample_images_cached(pixelcnn, 2, 4, 4, 3, generator=torch.Generator().manual_seed(0))
        assert threads == [1] * 4 and torch.get_num_threads() == 2

        stepper = Stepper(CausalCNNEncoder(10, 8, 2, (1, 2)).eval(), 2)
        original_stepper = Stepper._step
        monkeypatch.setattr(Stepper, "_step", lambda self, p: threads.append(
            torch.get_num_threads()) or original_stepper(self, p))
        stepper.step(None)
        assert threads[-1] == 1 and torch.get_num_threads() == 2

        with pytest.raises(RuntimeError, match="inside"):
            with one_thread():
                assert torch.get_num_threads() == 1
                raise RuntimeError("raised inside the block")
        assert torch.get_num_threads() == 2  # put back even after an exception
    finally:
        torch.set_num_threads(before)
