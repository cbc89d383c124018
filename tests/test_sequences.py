"""toylib.sequences: the sessions data, the three encoders, scoring, metrics and training.

Each encoder is checked against an independent reference (a python loop, ``nn.LSTMCell``), its
causality measured two ways (``toylib.checks`` on the embeddings, and by changing item ids), and
the CNN's receptive field measured against the formula.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.checks import assert_causal, dependency_map, measured_receptive_field
from toylib.sequences import (
    CausalCNNEncoder,
    LSTMEncoder,
    MeanPoolEncoder,
    NextItemModel,
    OnEmbeddings,
    Stepper,
    make_sessions,
    mrr_and_hit_rate,
    next_item_loss,
    next_item_probabilities,
    rank_metrics,
    train_next_item,
    transition_matrix,
)

V, DIM = 20, 16
ENCODERS = {
    "mean": lambda: MeanPoolEncoder(V, DIM),
    "lstm": lambda: LSTMEncoder(V, DIM),
    "cnn": lambda: CausalCNNEncoder(V, DIM, 2, (1, 2)),
}


def past_band(length: int, receptive_field: int | None) -> torch.Tensor:
    """The map an encoder must have: output t reads items t - r, ..., t - 1 (all of s < t if r is
    None)."""
    t = torch.arange(length).view(-1, 1)
    s = torch.arange(length).view(1, -1)
    allowed = s < t
    return allowed if receptive_field is None else allowed & (s >= t - receptive_field)


def item_map(encoder: nn.Module, length: int, batch: int = 4) -> torch.Tensor:
    """[t, s] True when changing the item ids at s moves the output at t (float64 copy)."""
    model = encoder.double().eval()
    g = torch.Generator().manual_seed(0)
    items = torch.randint(V, (batch, length), generator=g)  # (B, T)
    with torch.no_grad():
        y0 = model(items)  # (B, T, dim)
        deps = torch.zeros(length, length, dtype=torch.bool)
        for s in range(length):
            other = items.clone()
            other[:, s] = (items[:, s] + torch.randint(1, V, (batch,), generator=g)) % V
            deps[:, s] = (model(other) - y0).abs().amax(dim=(0, 2)) > 1e-12
    return deps


# ---------------------------------------------------------------------------------- causality
@pytest.mark.parametrize("name", list(ENCODERS))
def test_each_encoder_reads_strictly_the_past(name):
    torch.manual_seed(0)
    encoder = ENCODERS[name]()
    length = 10
    expected = past_band(length, encoder.receptive_field)
    measured = dependency_map(OnEmbeddings(encoder), length, DIM, time_dim=1)
    assert torch.equal(measured, expected), f"{name}: measured map differs from the expected one"
    assert torch.equal(item_map(encoder, length), expected), f"{name}: item ids map differs"
    assert_causal(OnEmbeddings(encoder), 8, DIM, strict=True, time_dim=1)


@pytest.mark.parametrize("kernel_size, dilations", [(2, (1, 2, 4, 8)), (3, (1, 2)),
                                                    (2, (1, 1, 1, 1)), (1, (1,)), (4, (3,))])
def test_cnn_receptive_field_measured_equals_formula(kernel_size, dilations):
    torch.manual_seed(0)
    encoder = CausalCNNEncoder(V, DIM, kernel_size, dilations)
    formula = 1 + sum((kernel_size - 1) * d for d in dilations)
    assert encoder.receptive_field == formula
    length = formula + 6
    measured = measured_receptive_field(OnEmbeddings(encoder), length, DIM, time_dim=1)
    assert measured == formula, f"k={kernel_size}, d={dilations}: measured {measured}"
    # exactly the items t - 1 - sum_i j_i d_i, 0 <= j_i < k (a hole where no sum lands)
    offsets = {1}
    for d in dilations:
        offsets = {o + j * d for o in offsets for j in range(kernel_size)}
    t, s = torch.arange(length).view(-1, 1), torch.arange(length).view(1, -1)
    expected = torch.isin(t - s, torch.tensor(sorted(offsets)))
    assert torch.equal(dependency_map(OnEmbeddings(encoder), length, DIM, time_dim=1), expected)
    if formula == len(offsets):  # no hole: the band of the last R items
        assert torch.equal(expected, past_band(length, formula))


# ---------------------------------------------------------------------------------- references
def test_cnn_forward_equals_a_python_loop():
    torch.manual_seed(0)
    for k, dilations in [(2, (1, 2, 4)), (3, (2, 1)), (1, (5,))]:
        encoder = CausalCNNEncoder(V, 4, k, dilations).double()
        items = torch.randint(V, (2, 13))
        got = encoder(items)  # (B, T, dim)
        e = encoder.embedding.weight[items]  # (B, T, dim)
        h = [torch.zeros(2, 4, dtype=torch.float64)] + [e[:, t - 1] for t in range(1, 13)]
        for conv, d in zip(encoder.convs, dilations, strict=True):
            new = []
            for t in range(13):
                y = conv.bias.clone().expand(2, 4).clone()
                for j in range(k):  # tap j reads (k - 1 - j) d steps back; zeros before 0
                    s = t - (k - 1 - j) * d
                    if s >= 0:
                        y = y + h[s] @ conv.weight[:, :, j].t()
                new.append(h[t] + F.relu(y))
            h = new
        torch.testing.assert_close(got, torch.stack(h, dim=1), rtol=0, atol=1e-12)


def test_mean_pool_and_lstm_against_loops():
    torch.manual_seed(0)
    items = torch.randint(V, (3, 9))
    pool = MeanPoolEncoder(V, 5).double()
    e = pool.embedding.weight[items]  # (B, T, dim)
    expected = torch.stack([torch.zeros(3, 5, dtype=torch.float64)]
                           + [e[:, :t].mean(dim=1) for t in range(1, 9)], dim=1)
    torch.testing.assert_close(pool(items), expected, rtol=0, atol=1e-12)

    lstm = LSTMEncoder(V, 5).double()
    cell = nn.LSTMCell(5, 5).double()
    cell.weight_ih.data, cell.weight_hh.data = lstm.lstm.weight_ih_l0, lstm.lstm.weight_hh_l0
    cell.bias_ih.data, cell.bias_hh.data = lstm.lstm.bias_ih_l0, lstm.lstm.bias_hh_l0
    e = lstm.embedding.weight[items]  # (B, T, dim)
    state, outs = None, []
    for t in range(9):
        x = torch.zeros(3, 5, dtype=torch.float64) if t == 0 else e[:, t - 1]
        state = cell(x, state)
        outs.append(state[0])
    torch.testing.assert_close(lstm(items), torch.stack(outs, dim=1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_stepper_equals_the_full_pass(name):
    torch.manual_seed(0)
    encoder = ENCODERS[name]().double().eval()
    items = torch.randint(V, (3, 20))
    stepper = Stepper(encoder, 3)
    steps = [stepper.step(None if t == 0 else items[:, t - 1]) for t in range(20)]
    with torch.no_grad():
        torch.testing.assert_close(torch.stack(steps, dim=1), encoder(items), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------- data
def test_sessions_are_deterministic_shaped_and_in_range():
    a = make_sessions(50, 30, V, seed=3)
    assert a.shape == (50, 30) and a.dtype == torch.long
    assert a.min() >= 0 and a.max() < V
    assert torch.equal(a, make_sessions(50, 30, V, seed=3))
    assert not torch.equal(a, make_sessions(50, 30, V, seed=4))


def test_transitions_follow_the_sparse_chain():
    probs = transition_matrix(V, branching=3)
    torch.testing.assert_close(probs.sum(1), torch.ones(V, dtype=torch.float64))
    assert ((probs > 0).sum(1) == 3).all()
    items = make_sessions(200, 25, V, seed=0, lag=10)
    before = items[:, :10]  # no repeat before t = lag: every step is a transition of the chain
    assert (probs[before[:, :-1], before[:, 1:]] > 0).all()
    # every later item is a successor of the previous one or a repeat of the one lag back
    ok = (probs[items[:, 9:-1], items[:, 10:]] > 0) | (items[:, 10:] == items[:, :-10])
    assert ok.all()


def test_the_long_range_repeat_is_present():
    items = make_sessions(2000, 40, 50, seed=0, lag=7, repeat=0.5)
    same_at_lag = (items[:, 7:] == items[:, :-7]).float().mean().item()
    same_at_6 = (items[:, 6:] == items[:, :-6]).float().mean().item()
    assert 0.5 <= same_at_lag < 0.6, same_at_lag  # the repeat, plus the chain's own returns
    assert same_at_6 < 0.2, same_at_6
    assert (items[:, :7] == 0).float().mean() < 0.2  # nothing repeated before t = lag
    none = make_sessions(2000, 40, 50, seed=0, lag=7, repeat=0.0)
    assert (none[:, 7:] == none[:, :-7]).float().mean().item() < 0.2


def test_the_rule_probabilities_rank_better_when_they_see_the_lag():
    items = make_sessions(300, 30, V, seed=1, lag=8)
    full = next_item_probabilities(items, V, lag=8)
    chain = next_item_probabilities(items, V, lag=8, see_lag=False)
    torch.testing.assert_close(full.sum(2), torch.ones(300, 30, dtype=torch.float64))
    late = list(range(8, 30))
    assert rank_metrics(full, items, positions=late)["mrr"] > \
        rank_metrics(chain, items, positions=late)["mrr"] + 0.1


# ---------------------------------------------------------------------------------- metrics
def test_rank_metrics_on_a_hand_computed_example():
    items = torch.tensor([[0, 2, 1]])  # positions 1 and 2 are scored: items 2 and 1
    scores = torch.tensor([[[0.0, 0.0, 0.0, 0.0],
                            [0.1, 0.2, 0.9, 0.3],    # item 2 first: rank 1
                            [0.5, 0.2, 0.9, 0.3]]])  # item 1 below three others: rank 4
    out = rank_metrics(scores, items, k=3)
    # position 2: item 1 scores 0.2, beaten by 0.5, 0.9 and 0.3: rank 4
    assert out["mrr"] == pytest.approx((1 + 1 / 4) / 2)
    assert out["hit_rate"] == pytest.approx(0.5) and out["positions"] == 2
    assert rank_metrics(scores, items, k=4)["hit_rate"] == pytest.approx(1.0)
    # ties count half: all four equal gives rank 1 + 3/2 = 2.5
    flat = torch.zeros(1, 3, 4)
    assert rank_metrics(flat, items, k=10)["mrr"] == pytest.approx(1 / 2.5)
    assert rank_metrics(scores, items, positions=[1])["mrr"] == pytest.approx(1.0)


def test_mrr_and_hit_rate_of_a_model_by_batches():
    class Fixed(nn.Module):  # returns the scores above, whatever the batch
        nb_items = 4

        def forward(self, items):
            return torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.9, 0.3],
                                 [0.5, 0.2, 0.9, 0.3]]).expand(items.size(0), 3, 4)

    items = torch.tensor([[0, 2, 1]] * 5)
    model = Fixed().train()
    out = mrr_and_hit_rate(model, items, k=3, batch_size=2)
    assert out["mrr"] == pytest.approx(0.625) and out["hit_rate"] == pytest.approx(0.5)
    assert out["positions"] == 10 and model.training  # the mode is restored


# ---------------------------------------------------------------------------------- training
@pytest.mark.parametrize("name", list(ENCODERS))
def test_training_reduces_the_loss_and_beats_chance(name):
    torch.manual_seed(0)
    train = make_sessions(200, 24, V, seed=0, lag=4)
    test = make_sessions(100, 24, V, seed=1, lag=4)
    model = NextItemModel(ENCODERS[name](), V)
    with torch.no_grad():
        before = next_item_loss(model, test).item()
    history = train_next_item(model, train, epochs=4, lr=1e-2, test_items=test, progress=False)
    with torch.no_grad():
        after = next_item_loss(model, test).item()
    assert after < before - 0.3, (before, after)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert len(history["epoch_seconds"]) == 4 and len(history["test_mrr"]) == 4
    chance = sum(1 / r for r in range(1, V + 1)) / V  # MRR of a random ranking
    assert history["test_mrr"][-1] > chance + 0.1


def test_tied_and_own_output_embeddings():
    encoder = CausalCNNEncoder(V, 8)
    tied = NextItemModel(encoder, V)
    assert tied.output_embedding is encoder.embedding
    own = NextItemModel(CausalCNNEncoder(V, 8), V, tie_embeddings=False)
    assert own.output_embedding is not own.encoder.embedding
    count = sum(p.numel() for p in own.parameters()) - sum(p.numel() for p in tied.parameters())
    assert count == V * 8
    assert tied(torch.randint(V, (2, 5))).shape == (2, 5, V)


def test_same_parameter_budget_for_lstm_and_cnn_of_four_layers_of_kernel_2():
    def extra(encoder):  # parameters besides the embedding
        return sum(p.numel() for p in encoder.parameters()) - V * 32
    lstm, cnn = extra(LSTMEncoder(V, 32)), extra(CausalCNNEncoder(V, 32))
    assert lstm == 8 * 32 * 32 + 8 * 32 and cnn == 8 * 32 * 32 + 4 * 32


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("items, match", [
    (torch.tensor([1, 2, 3]), r"2D tensor \(B, T\).*items.unsqueeze\(0\)"),
    (torch.rand(2, 3), "LongTensor.*float32"),
    (torch.tensor([[1, 2, V]]), f"item id {V} is out of range.*\\[0, {V}\\)"),
    (torch.tensor([[-1, 2]]), "item id -1 is out of range"),
    ([[1, 2]], "LongTensor"),
])
def test_bad_items_are_named(items, match):
    for encoder in (MeanPoolEncoder(V), LSTMEncoder(V), CausalCNNEncoder(V)):
        with pytest.raises(ValueError, match=match):
            encoder(items)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="dim must be an int >= 1"):
        CausalCNNEncoder(V, 0)
    with pytest.raises(ValueError, match="nb_items must be an int >= 1"):
        LSTMEncoder(0)
    with pytest.raises(ValueError, match="kernel_size"):
        CausalCNNEncoder(V, 8, 0)
    with pytest.raises(ValueError, match="at least one layer"):
        CausalCNNEncoder(V, 8, 2, ())
    with pytest.raises(ValueError, match="every dilation"):
        CausalCNNEncoder(V, 8, 2, (1, 0))
    with pytest.raises(ValueError, match="embeds 20 items, but nb_items=21"):
        NextItemModel(MeanPoolEncoder(V), V + 1)
    with pytest.raises(ValueError, match="repeat is a probability"):
        make_sessions(2, 5, V, repeat=1.5)
    with pytest.raises(ValueError, match="at least 2 items"):
        next_item_loss(NextItemModel(MeanPoolEncoder(V), V), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="eval mode"):
        Stepper(LSTMEncoder(V), 2)
    with pytest.raises(ValueError, match="must match items"):
        rank_metrics(torch.zeros(2, 3, V), torch.zeros(2, 4, dtype=torch.long))
