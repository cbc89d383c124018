"""The toy sequences: shape, range, determinism, and the two-segments-and-a-jump structure."""

import pytest
import torch

from toylib.data import MIN_JUMP, make_sequences, tokens_to_input, train_test_split


def test_shape_range_and_determinism():
    a = make_sequences(50, length=40, nb_classes=16, seed=3)
    assert a.shape == (50, 40) and a.dtype == torch.long
    assert a.min() >= 0 and a.max() <= 15
    assert torch.equal(a, make_sequences(50, length=40, nb_classes=16, seed=3))
    assert not torch.equal(a, make_sequences(50, length=40, nb_classes=16, seed=4))


def test_two_straight_segments_and_one_jump():
    """Rebuild each sequence from its two segments: every step but one moves by at most the
    per-step slope (plus one level of rounding); exactly one step jumps by >= MIN_JUMP."""
    nb_classes, length = 256, 64
    seqs = make_sequences(200, length=length, nb_classes=nb_classes, seed=0).float()
    steps = (seqs[:, 1:] - seqs[:, :-1]).abs()  # (N, T-1)
    biggest = steps.max(dim=1)
    # the jump is the largest step and is at least MIN_JUMP of the range (minus rounding)
    assert (biggest.values >= MIN_JUMP * (nb_classes - 1) - 1).all()
    # the split point p (jump between p-1 and p) lies in [T/4, 3T/4]
    split = biggest.indices + 1
    assert (split >= length // 4).all() and (split <= 3 * length // 4).all()
    # each segment is a straight line: second differences are only rounding noise
    for seq, p in zip(seqs, split.tolist(), strict=True):
        for segment in (seq[:p], seq[p:]):
            if segment.numel() >= 3:
                assert (segment[2:] - 2 * segment[1:-1] + segment[:-2]).abs().max() <= 2


def test_tokens_to_input():
    tokens = torch.tensor([[0, 3, 7]])
    x = tokens_to_input(tokens, nb_classes=8)
    assert x.shape == (1, 1, 3)
    torch.testing.assert_close(x.flatten(), torch.tensor([-1.0, -1 + 6 / 7, 1.0]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 8\)"):
        tokens_to_input(torch.tensor([[0, 8]]), nb_classes=8)
    with pytest.raises(ValueError, match="must be integers"):
        tokens_to_input(torch.zeros(2, 3), nb_classes=8)
    with pytest.raises(ValueError, match=r"2D tensor \(N, T\)"):
        tokens_to_input(torch.zeros(3, dtype=torch.long), nb_classes=8)


def test_train_test_split_is_a_partition():
    tokens = torch.arange(40).view(20, 2)
    train, test = train_test_split(tokens, test_fraction=0.25, seed=1)
    assert train.shape == (15, 2) and test.shape == (5, 2)
    rows = sorted(r[0] for r in torch.cat([train, test]).tolist())
    assert rows == list(range(0, 40, 2))
    again = train_test_split(tokens, test_fraction=0.25, seed=1)
    assert torch.equal(train, again[0]) and torch.equal(test, again[1])
    with pytest.raises(ValueError, match="both parts need at least one"):
        train_test_split(tokens[:1])


@pytest.mark.parametrize("kwargs,message", [
    (dict(nb_sequences=0), "nb_sequences must be an int >= 1"),
    (dict(nb_sequences=2, length=3), "length must be an int >= 4"),
    (dict(nb_sequences=2, nb_classes=1), "nb_classes must be an int >= 2"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_sequences(**kwargs)
