"""toylib.masked against independent references: masked_input against a loop over positions, the
NLL against a per-sequence log-softmax, sampling against a hand-made model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from toylib.data import make_sequences, tokens_to_input, train_test_split
from toylib.masked import (
    MaskedInputNet,
    masked_input,
    masked_sequence_nll,
    sample_masked,
    train_masked,
)


def reference_masked_input(x: torch.Tensor, t: list[int]) -> torch.Tensor:
    """Position by position: known (s < t) -> (1, x), unknown -> (0, 0)."""
    batch, _, length = x.shape
    out = torch.zeros(batch, 2, length, dtype=x.dtype)
    for b in range(batch):
        for s in range(length):
            if s < t[b]:
                out[b, 0, s] = 1.0
                out[b, 1, s] = x[b, 0, s]
    return out


@pytest.mark.parametrize("length", [1, 2, 7])
def test_masked_input_equals_a_loop_for_every_t(length):
    x = torch.rand(3, 1, length) * 2 - 1
    for t in range(length + 1):
        assert torch.equal(masked_input(x, t), reference_masked_input(x, [t] * 3))


def test_masked_input_per_row_t_dtype_and_no_change_in_place():
    x = torch.randn(4, 1, 6, dtype=torch.float64)
    before = x.clone()
    t = torch.tensor([0, 6, 2, 5])
    out = masked_input(x, t)
    assert out.dtype == torch.float64 and out.shape == (4, 2, 6)
    assert torch.equal(out, reference_masked_input(x, t.tolist()))
    assert torch.equal(x, before)
    out[:, 1] += 1  # the result is not a view of x
    assert torch.equal(x, before)


@pytest.mark.parametrize("x, t, message", [
    (torch.zeros(2, 6), 1, r"shape \(B, 1, T\), got \(2, 6\)"),
    (torch.zeros(2, 2, 6), 1, r"shape \(B, 1, T\), got \(2, 2, 6\)"),
    (torch.zeros(2, 1, 6), 7, r"t must be an int in \[0, 6\], got 7"),
    (torch.zeros(2, 1, 6), -1, r"t must be an int in \[0, 6\]"),
    (torch.zeros(2, 1, 6), 1.0, r"t must be an int"),
    (torch.zeros(2, 1, 6), torch.tensor([1, 2, 3]), r"integer tensor of shape \(2,\)"),
    (torch.zeros(2, 1, 6), torch.tensor([1.0, 2.0]), r"integer tensor"),
    (torch.zeros(2, 1, 6), torch.tensor([1, 9]), r"from 1 to 9"),
])
def test_masked_input_errors_name_the_problem(x, t, message):
    with pytest.raises(ValueError, match=message):
        masked_input(x, t)


def test_the_model_never_depends_on_blanked_positions():
    torch.manual_seed(0)
    model = MaskedInputNet(5, 8)
    x = torch.rand(2, 1, 8) * 2 - 1
    for t in range(9):
        future = x.clone()
        future[..., t:] = torch.rand_like(future[..., t:])  # change only what is hidden
        assert torch.equal(model(masked_input(x, t)), model(masked_input(future, t)))


def test_the_ablated_model_reads_values_only():
    model = MaskedInputNet(5, 8, use_mask=False)
    assert model.hidden[0].in_features == 8
    with pytest.raises(ValueError, match=r"\(B, 2, 8\)"):
        model(torch.zeros(2, 1, 8))


def test_sequence_nll_equals_a_per_sequence_reference():
    torch.manual_seed(1)
    model = MaskedInputNet(4, 5)
    tokens = torch.randint(0, 4, (3, 5))
    total = 0.0
    for row in tokens:  # one sequence, one position at a time, log-softmax by hand
        x = tokens_to_input(row[None], 4)
        for t in range(5):
            logits = model(masked_input(x, t))[0].double()
            total -= (logits[row[t]] - logits.exp().sum().log()).item()
    expected = total / tokens.numel()
    assert masked_sequence_nll(model, tokens, 4, batch_size=2) == pytest.approx(expected, abs=1e-5)


def test_training_on_random_cut_points_learns_and_stops_on_time():
    tokens = make_sequences(400, 16, 9, seed=0)
    train, test = train_test_split(tokens, 0.25)
    torch.manual_seed(0)
    model = MaskedInputNet(9, 16, hidden=64)
    history = train_masked(model, train, 9, epochs=30, lr=3e-3, test_tokens=test,
                           progress=False)
    assert len(history["test_nll"]) == 30
    assert history["test_nll"][-1] < 0.85 * math.log(9)  # clearly better than uniform
    timed = train_masked(MaskedInputNet(9, 16), train, 9, seconds=0.3, progress=False)
    assert timed["seconds"][-1] > 0.3  # stops after the batch past the budget (the exact rule,
    # on a fake clock, in tests/test_time_budgets.py: a wall-clock bound here would be load's)
    with pytest.raises(ValueError, match="give epochs, seconds or both"):
        train_masked(model, train, 9)


class Counting(nn.Module):
    """All mass on (number of known positions) % C: a correct loop draws 0, 1, 2, ..."""

    def __init__(self, nb_classes):
        super().__init__()
        self.nb_classes = nb_classes

    def forward(self, inputs):  # (B, 2, T) -> (B, C)
        known = inputs[:, 0].sum(-1).long() % self.nb_classes  # (B,)
        return torch.nn.functional.one_hot(known, self.nb_classes).float() * 60 - 30


def test_sampling_follows_the_model_position_by_position():
    tokens = sample_masked(Counting(5), 3, 12, 5)
    assert torch.equal(tokens, (torch.arange(12) % 5).expand(3, 12))
    uniform = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    nn.init.zeros_(uniform[1].weight)
    nn.init.zeros_(uniform[1].bias)
    first = sample_masked(uniform, 8, 8, 4, generator=torch.Generator().manual_seed(3))
    again = sample_masked(uniform, 8, 8, 4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again) and len(first.unique()) == 4
