"""The toy net, the training loop and the synthesis loop, each against an independent check:
strict causality and receptive field by the checker, the NLL against a hand-computed
cross-entropy, sampling against a model whose answer is known."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.checks import assert_causal, measured_receptive_field
from toylib.data import make_sequences, tokens_to_input, train_test_split
from toylib.models import ToyCausalNet
from toylib.sample import sample
from toylib.train import evaluate, nats_to_bits, train, train_steps


@pytest.mark.parametrize("kernel_size,nb_layers", [(2, 4), (3, 2), (2, 0), (1, 3)])
def test_toy_net_is_strictly_causal_with_the_formula_receptive_field(kernel_size, nb_layers):
    net = ToyCausalNet(8, nb_channels=6, kernel_size=kernel_size, nb_layers=nb_layers)
    assert net(torch.randn(2, 1, 12)).shape == (2, 12, 8)
    assert_causal(net, length=12, strict=True, time_dim=1)
    assert net.receptive_field == 1 + nb_layers * (kernel_size - 1)
    assert measured_receptive_field(net, length=12, time_dim=1) == net.receptive_field


def test_toy_net_edge_cases_and_errors():
    net = ToyCausalNet(4, nb_channels=3)
    assert net(torch.randn(1, 1, 1)).shape == (1, 1, 4)  # T of one, batch of one
    with pytest.raises(ValueError, match="expects 1 input channel"):
        net(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="nb_classes must be an int >= 2"):
        ToyCausalNet(1)


def test_evaluate_matches_a_hand_computed_cross_entropy():
    torch.manual_seed(0)
    net = ToyCausalNet(5, nb_channels=4, nb_layers=2)
    tokens = torch.randint(0, 5, (7, 9))
    logits = net(tokens_to_input(tokens, 5))  # (7, 9, 5)
    logp = logits.log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (7, 9)
    expected = -logp.mean().item()
    assert evaluate(net, tokens, 5, batch_size=3) == pytest.approx(expected, rel=1e-5)
    assert nats_to_bits(math.log(2)) == pytest.approx(1.0)


def test_training_beats_the_uniform_baseline_and_is_deterministic():
    tokens = make_sequences(160, length=32, nb_classes=16, seed=0)
    tr, te = train_test_split(tokens, seed=0)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = ToyCausalNet(16, nb_channels=16)
        runs.append(train(net, tr, 16, epochs=15, batch_size=32, lr=1e-2, test_tokens=te,
                          progress=False))
    assert runs[0]["train_nll"] == runs[1]["train_nll"]
    assert len(runs[0]["test_nll"]) == 15 and len(runs[0]["seconds"]) == 15
    assert runs[0]["test_nll"][-1] < 0.8 * math.log(16)  # clearly better than uniform


def test_train_rejects_bad_input():
    net = ToyCausalNet(4)
    with pytest.raises(ValueError, match=r"train_tokens must be a non-empty 2D LongTensor"):
        train(net, torch.zeros(3, dtype=torch.long), 4, epochs=1)
    with pytest.raises(ValueError, match="epochs must be an int >= 0"):
        train(net, torch.zeros(3, 5, dtype=torch.long), 4, epochs=-1)

    class Wrong(nn.Module):
        def forward(self, x):
            return x  # (B, 1, T): not logits
    with pytest.raises(ValueError, match=r"logits of shape \(B, T, nb_classes\)"):
        evaluate(Wrong(), torch.zeros(2, 5, dtype=torch.long), 4)


def test_train_steps_counts_steps_schedules_the_rate_and_scores_outside_the_clock(monkeypatch):
    tokens = make_sequences(96, length=16, nb_classes=8, seed=0)
    batches = torch.Generator().manual_seed(0)
    seen, rates, scores = [], [], []
    torch.manual_seed(0)
    net = ToyCausalNet(8, nb_channels=8)

    def next_batch():
        seen.append(1)
        return tokens[torch.randint(len(tokens), (16,), generator=batches)]  # (16, T)

    def score(model):
        scores.append(model.training)  # scored in whatever mode; train mode put back after
        return evaluate(model, tokens[:32], 8)

    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    run = train_steps(net, next_batch, 8, 20, 0.01, score, checkpoints=4, progress=False)
    monkeypatch.undo()
    assert run["steps"] == 20 and len(seen) == 20 and net.training
    assert rates == pytest.approx([0.01 * (1 - i / 20) for i in range(20)])  # linear to 0
    assert len(run["curve"]) == 4 == len(scores)
    cpu = [c for c, _ in run["curve"]]
    assert cpu == sorted(cpu) and cpu[-1] == pytest.approx(run["cpu"])
    assert run["curve"][-1][1] < math.log(8)  # it learned something
    assert train_steps(ToyCausalNet(8), next_batch, 8, 3, 0.01, progress=False)["curve"] == []
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        train_steps(net, next_batch, 8, 0, 0.01)
    with pytest.raises(ValueError, match="lr must be a positive learning rate"):
        train_steps(net, next_batch, 8, 5, 0.0)
    with pytest.raises(ValueError, match=r"next_batch\(\) must be a non-empty 2D LongTensor"):
        train_steps(net, lambda: tokens[0], 8, 5, 0.01, progress=False)


class Counter(nn.Module):
    """A causal fake model: the logits at t put (almost) all mass on x_{t-1} + 1 mod C
    (and on 3 at t = 0). Sampling from it must give 3, 4, 5, ... exactly."""

    def __init__(self, nb_classes: int):
        super().__init__()
        self.nb_classes = nb_classes
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):  # (B, 1, T) -> (B, T, C)
        c = self.nb_classes
        tokens = ((x[:, 0] + 1) * (c - 1) / 2).round().long()  # (B, T)
        previous = F.pad(tokens, (1, -1), value=2)  # (B, T): x_{t-1}, and 2 before the start
        return 50.0 * F.one_hot((previous + 1) % c, c).float()  # (B, T, C)


def test_sample_draws_each_token_from_its_own_position():
    out = sample(Counter(7), 3, 10, 7, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 10) and out.dtype == torch.long
    assert out[0].tolist() == [3, 4, 5, 6, 0, 1, 2, 3, 4, 5]
    assert (out == out[0]).all()


def test_sample_with_prefix_and_randomness():
    out = sample(Counter(7), 2, 6, 7, prefix=torch.tensor([5, 5]))
    assert out.tolist() == [[5, 5, 6, 0, 1, 2]] * 2
    net = ToyCausalNet(6, nb_channels=4).train()
    g = torch.Generator().manual_seed(0)
    a = sample(net, 64, 12, 6, generator=g)
    assert net.training  # mode restored
    assert len(a.unique()) > 1  # samples, not argmax of a constant
    b = sample(net, 64, 12, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r"prefix must have shape"):
        sample(net, 2, 4, 6, prefix=torch.zeros(3, 2, dtype=torch.long))
