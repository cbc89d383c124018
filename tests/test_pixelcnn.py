"""toylib.images, toylib.pixelcnn, toylib.checks2d and the image training and sampling loops,
against independent references (loops, F.conv2d with a masked weight, hand-made models)."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import toylib.images as images
from toylib.checks2d import (
    CausalityError2d,
    assert_causal_2d,
    blind_spot,
    dependency_map_2d,
    raster_past,
)
from toylib.images import digits_split, images_to_input, load_binarized_mnist, load_digits
from toylib.pixelcnn import (
    MaskedConv2d,
    MaskedPixelCNN,
    TwoStackPixelCNN,
    binary_positional_encoding,
    pixelcnn_mask,
)
from toylib.sample import sample_images
from toylib.train import image_nll, train_images


@pytest.mark.parametrize("height, width, channels", [(8, 8, 6), (28, 28, 10), (1, 5, 3),
                                                     (1, 1, 0), (5, 2, 4), (16, 9, 8)])
def test_binary_positional_encoding_equals_a_loop(height, width, channels):
    pe = binary_positional_encoding(height, width)
    assert pe.shape == (channels, height, width) and pe.dtype == torch.float32
    nr = math.ceil(math.log2(height))
    for i in range(height):
        for j in range(width):
            bits = [(i >> b) & 1 for b in range(nr)]
            bits += [(j >> b) & 1 for b in range(channels - nr)]
            assert pe[:, i, j].tolist() == [float(b) for b in bits]


@pytest.mark.parametrize("k", [1, 3, 5, 7])
@pytest.mark.parametrize("kind", ["A", "B"])
def test_pixelcnn_mask_equals_its_definition(k, kind):
    mask = pixelcnn_mask(k, kind)
    c = k // 2
    for r in range(k):
        for s in range(k):
            before = r < c or (r == c and s < c)
            centre = (r, s) == (c, c)
            assert mask[r, s] == (1.0 if before or (centre and kind == "B") else 0.0)


@pytest.mark.parametrize("args, message", [((4, "A"), "odd int"), ((0, "B"), "odd int"),
                                           ((-3, "A"), "odd int"), ((3, "C"), "'A' or 'B'")])
def test_pixelcnn_mask_errors(args, message):
    with pytest.raises(ValueError, match=message):
        pixelcnn_mask(*args)


def test_masked_conv2d_masks_in_forward_only():
    torch.manual_seed(0)
    layer = MaskedConv2d(2, 3, 5, "A")
    weight = layer.weight.detach().clone()
    x = torch.randn(2, 2, 7, 6)
    expected = F.conv2d(x, weight * pixelcnn_mask(5, "A"), layer.bias, padding=2)
    torch.testing.assert_close(layer(x), expected)
    assert torch.equal(layer.weight, weight)  # the parameter itself is never overwritten
    assert_causal_2d(layer, 6, 6, in_channels=2, strict=True)
    assert_causal_2d(MaskedConv2d(1, 2, 3, "B"), 5, 5, strict=False)
    with pytest.raises(CausalityError2d,
                       match=r"output \(0, 0\) depends on input pixel \(0, 0\), its own"):
        assert_causal_2d(MaskedConv2d(1, 2, 3, "B"), 5, 5, strict=True)


def test_same_padding_names_the_first_leak():
    with pytest.raises(CausalityError2d) as err:
        assert_causal_2d(nn.Conv2d(1, 1, 3, padding=1), 4, 4, strict=False)
    assert err.value.output == (0, 0) and err.value.input == (0, 1)
    assert "comes after it" in str(err.value)


def test_masked_stack_has_a_blind_spot_and_two_stacks_do_not():
    torch.manual_seed(0)
    masked = MaskedPixelCNN(5, 16, 3, 3)
    assert_causal_2d(masked, 8, 8)
    deps = dependency_map_2d(masked, 8, 8)
    assert blind_spot(deps, 6, 3, 4) == [(3, 7), (4, 6), (4, 7), (5, 5), (5, 6), (5, 7)]
    two = TwoStackPixelCNN(5, 16, 3, 3)
    assert_causal_2d(two, 8, 8)
    deps = dependency_map_2d(two, 8, 8)
    for i, j in [(6, 3), (7, 4), (5, 2), (4, 4)]:  # 3 layers of kernel 3: a reach of 3 each way
        assert blind_spot(deps, i, j, 3) == [], (i, j)
        assert blind_spot(dependency_map_2d(masked, 8, 8), i, j, 3), (i, j)


def test_residual_and_dropout_keep_the_two_stacks_causal():
    torch.manual_seed(0)
    model = TwoStackPixelCNN(5, 8, 3, 3, residual=True, dropout=0.3).eval()
    assert_causal_2d(model, 6, 7)
    deps = dependency_map_2d(model, 6, 7)
    assert blind_spot(deps, 5, 3, 3) == []
    x = images_to_input(torch.randint(0, 5, (2, 6, 7)), 5)  # (2, 1, 6, 7)
    torch.testing.assert_close(model(x), model(x))  # eval: no dropout
    plain = TwoStackPixelCNN(5, 8, 3, 3)
    plain.load_state_dict(model.state_dict())
    assert not torch.allclose(plain(x), model(x))  # the residual path changes the function
    with pytest.raises(ValueError, match="dropout"):
        TwoStackPixelCNN(5, dropout=1.0)


def test_positions_are_known_channels_not_leaks():
    class ReadsChannelOne(nn.Module):  # channel 1 is read everywhere, channel 0 causally
        def forward(self, x):
            causal = F.pad(x[:, :1], (1, -1))  # the pixel to the left
            return causal + x[:, 1:].mean(dim=(2, 3), keepdim=True)
    assert_causal_2d(ReadsChannelOne(), 4, 4, in_channels=2, known_channels=[1])
    with pytest.raises(CausalityError2d):
        assert_causal_2d(ReadsChannelOne(), 4, 4, in_channels=2)
    torch.manual_seed(0)
    assert_causal_2d(TwoStackPixelCNN(5, 8, 3, 2, positional=True), 8, 8)
    assert_causal_2d(MaskedPixelCNN(5, 8, 3, 2, positional=True), 8, 8)


def test_without_positions_a_convolution_cannot_tell_where_it_is():
    """Two interior pixels with the same neighbourhood get the same logits, unless the model
    reads the positions."""
    flat = torch.zeros(1, 1, 16, 16)  # (B, 1, H, W): every pixel alike
    torch.manual_seed(0)
    plain = TwoStackPixelCNN(5, 8, 3, 1, image_size=(16, 16))(flat)
    torch.manual_seed(0)
    placed = TwoStackPixelCNN(5, 8, 3, 1, positional=True, image_size=(16, 16))(flat)
    assert torch.allclose(plain[..., 5, 5], plain[..., 9, 12])
    assert not torch.allclose(placed[..., 5, 5], placed[..., 9, 12])
    with pytest.raises(ValueError, match=r"positions of \(16, 16\) images"):
        TwoStackPixelCNN(5, 8, 3, 1, positional=True, image_size=(16, 16))(torch.zeros(1, 1, 8, 8))


def test_digits_and_their_split():
    digits = load_digits()
    assert digits.shape == (1797, 8, 8) and digits.dtype == torch.long
    assert digits.min() == 0 and digits.max() == 16
    train, val, test = digits_split()
    assert (len(train), len(val), len(test)) == (1000, 350, 447)
    assert torch.equal(torch.cat([train, val, test]), digits)  # the published order
    shuffled = digits_split(seed=1)
    assert not torch.equal(shuffled[0], train) and torch.equal(shuffled[0], digits_split(1)[0])
    x = images_to_input(train[:2], 17)
    assert x.shape == (2, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    with pytest.raises(ValueError, match="levels must lie in"):
        images_to_input(train[:1] + 17, 17)


def test_mnist_loader_downloads_once_checks_and_fails_clearly(tmp_path, monkeypatch):
    rows = ["0 1 " * 391 + "0 1", "1 0 " * 391 + "1 0"]
    text = ("\n".join(rows) + "\n").encode("ascii")
    source = tmp_path / "server"
    source.mkdir()
    (source / "tiny.amat").write_bytes(text)
    files = {"test": ("tiny.amat", len(text), hashlib.sha256(text).hexdigest())}
    monkeypatch.setattr(images, "MNIST_FILES", files)
    cache = tmp_path / "cache"
    got = load_binarized_mnist("test", cache, base_url=source.as_uri() + "/")
    assert got.shape == (2, 28, 28) and got[0, 0, :4].tolist() == [0, 1, 0, 1]
    (source / "tiny.amat").unlink()  # the second load uses the cache
    assert torch.equal(load_binarized_mnist("test", cache, base_url=source.as_uri() + "/"), got)
    (cache / "tiny.amat").write_bytes(text.replace(b"1", b"0", 1))  # a damaged cache
    with pytest.raises(RuntimeError, match="not the published tiny.amat"):
        load_binarized_mnist("test", cache)
    with pytest.raises(RuntimeError, match="cannot download .* copy it to"):
        load_binarized_mnist("test", tmp_path / "elsewhere", base_url="http://127.0.0.1:9/")
    assert not list((tmp_path / "elsewhere").glob("*"))  # no partial file left behind
    with pytest.raises(ValueError, match="split must be one of"):
        load_binarized_mnist("dev", cache)


def test_image_nll_equals_a_per_pixel_sum():
    torch.manual_seed(0)
    model = TwoStackPixelCNN(4, 8, 3, 1)
    batch = torch.randint(0, 4, (3, 5, 6))
    logits = model(images_to_input(batch, 4)).double()  # (3, 4, 5, 6)
    total = -sum(torch.log_softmax(logits[n, :, i, j], 0)[batch[n, i, j]].item()
                 for n in range(3) for i in range(5) for j in range(6))
    assert image_nll(model, batch, 4, batch_size=2) == pytest.approx(total / 3, abs=1e-4)


def test_training_learns_the_digits():
    train, val, _ = digits_split()
    torch.manual_seed(0)
    model = TwoStackPixelCNN(17, 16, 3, 2)
    history = train_images(model, train[:256], 17, epochs=12, lr=1e-2, test_images=val[:100],
                           progress=False)
    assert history["test_nll"][-1] < 0.8 * 64 * math.log(17)  # clearly better than uniform
    with pytest.raises(ValueError, match="give epochs, seconds or both"):
        train_images(model, train, 17)


def test_validation_keeps_the_best_epoch_and_ema_averages_the_weights():
    train, val, _ = digits_split()
    torch.manual_seed(0)
    model = TwoStackPixelCNN(17, 8, 3, 1)
    history = train_images(model, train[:128], 17, epochs=6, lr=3e-2, schedule="cosine",
                           ema=0.9, val_images=val[:64], progress=False)
    best = history["best_epoch"][0]
    assert history["val_nll"][best - 1] == min(history["val_nll"])
    # the model holds the best epoch's (averaged) weights, not the last ones
    assert image_nll(model, val[:64], 17) == pytest.approx(min(history["val_nll"]), rel=1e-6)
    for bad, match in [({"schedule": "linear"}, "schedule"), ({"ema": 1.0}, "ema")]:
        with pytest.raises(ValueError, match=match):
            train_images(model, train[:8], 17, epochs=1, progress=False, **bad)


def test_ema_of_zero_is_plain_training():
    train, _, _ = digits_split()
    models = []
    for ema in (None, 0.0):
        torch.manual_seed(0)
        model = TwoStackPixelCNN(17, 4, 3, 1)
        train_images(model, train[:64], 17, epochs=2, lr=1e-2, ema=ema, progress=False)
        models.append(model)
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b)


class RasterCounter(nn.Module):
    """All mass on (number of pixels before (i, j) in raster order) % levels."""

    def __init__(self, levels):
        super().__init__()
        self.levels = levels

    def forward(self, x):  # (B, 1, H, W) -> (B, L, H, W)
        b, _, h, w = x.shape
        index = torch.arange(h * w).view(1, h, w).expand(b, h, w) % self.levels
        return F.one_hot(index, self.levels).permute(0, 3, 1, 2).float() * 60 - 30


def test_sampling_goes_in_raster_order():
    drawn = sample_images(RasterCounter(7), 2, 3, 4, 7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(drawn[0], (torch.arange(12) % 7).view(3, 4))
    assert raster_past(2, 2)[1, 0].tolist() == [[True, True], [False, False]]
