"""Training for a time budget stops where its rule says, shown on a fake clock: each batch
"takes" a known time, so the test cannot depend on how busy the machine is (a wall-clock bound
measured once would)."""

from __future__ import annotations

import types

import pytest
import torch

import toylib.masked
import toylib.train
from toylib.data import make_sequences
from toylib.images import digits_split
from toylib.masked import MaskedInputNet, train_masked
from toylib.pixelcnn import MaskedPixelCNN


class FakeClock:
    """``perf_counter`` that advances ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step, self.reads = 0.0, step, 0

    def perf_counter(self) -> float:
        self.now += self.step
        self.reads += 1
        return self.now


def test_train_masked_stops_after_the_batch_that_passes_the_budget(monkeypatch) -> None:
    """The clock is read at the start and the end of each batch, 0.1 s apart: each batch costs
    0.1 s. Budget 0.35 s: the fourth batch takes training to 0.4 s, and it stops right after."""
    clock = FakeClock(0.1)
    monkeypatch.setattr(toylib.masked, "time", types.SimpleNamespace(
        perf_counter=clock.perf_counter))
    tokens = make_sequences(300, 16, 9, seed=0)  # 5 batches of 64 per epoch
    history = train_masked(MaskedInputNet(9, 16), tokens, 9, seconds=0.35, progress=False)
    assert clock.reads == 8 and len(history["train_nll"]) == 1
    assert history["seconds"] == [pytest.approx(0.4)]


def test_train_images_stops_before_the_batch_that_would_overrun(monkeypatch) -> None:
    """train_images judges the next batch by the last one: with batches of 0.1 s and a budget
    of 0.35 s it trains three (0.3 s) and never starts a fourth."""
    clock = FakeClock(0.1)
    monkeypatch.setattr(toylib.train, "time", types.SimpleNamespace(
        perf_counter=clock.perf_counter))
    train, _, _ = digits_split()
    torch.manual_seed(0)
    model = MaskedPixelCNN(nb_levels=17, nb_channels=8)
    history = toylib.train.train_images(model, train[:320], 17, seconds=0.35, batch_size=64,
                                        progress=False)
    assert history["seconds"] == [pytest.approx(0.3)] and clock.reads == 6
