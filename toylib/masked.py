"""Masked-input autoregression: one model call per predicted position.

Before causal networks, the simplest way to get p(x_t | x_{<t}) from a feed-forward model is to
hide what it may not see. The model reads the whole sequence with the unknown part blanked out,
plus a mask saying which positions are known,

    f: {0, 1}^T x R^T -> R^C,    f(m_t, m_t * x) = logits of x_t,   m_t[s] = 1 if s < t else 0,

and is trained on random cut points t, one per sequence per step (F. Fleuret's deep learning
course, lecture 10.2; the same factorisation as NADE, Larochelle and Murray, 2011, and MADE,
Germain et al., 2015, arXiv:1502.03509). The mask channel is needed because a blanked value, 0.0,
is also a real input level (the middle one when the number of classes is odd): without the mask
the model cannot tell "unknown" from "zero".

Its cost is the point of the course's next lecture: scoring or sampling a sequence of T positions
takes T forward passes over the whole sequence, where a causal network (``toylib.layers``) gets all
T conditionals from one pass.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from toylib.data import tokens_to_input
from toylib.layers import check_int


def masked_input(x: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
    """The model input that shows only positions s < t: (B, 1, T) floats -> (B, 2, T).

    Channel 0 is the mask (1.0 where s < t, 0.0 elsewhere), channel 1 is x where the mask is 1 and
    0.0 elsewhere. ``t`` is an int in [0, T] or a LongTensor (B,) of such positions, one per row.
    The result has x's dtype and device; x is not changed.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.size(1) != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"masked_input expects x of shape (B, 1, T), got {shape}")
    batch, _, length = x.shape
    if isinstance(t, torch.Tensor):
        if t.dim() != 1 or t.size(0) != batch or t.is_floating_point() or t.dtype == torch.bool:
            raise ValueError(f"t must be an int or an integer tensor of shape ({batch},), got "
                             f"{t.dtype} of shape {tuple(t.shape)}")
        if t.numel() and (t.min() < 0 or t.max() > length):
            raise ValueError(f"every t must lie in [0, {length}], got values from "
                             f"{int(t.min())} to {int(t.max())}")
        cut = t.to(x.device).view(batch, 1, 1)  # (B, 1, 1)
    else:
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= length:
            raise ValueError(f"t must be an int in [0, {length}], got {t!r}")
        cut = torch.full((batch, 1, 1), t, device=x.device)  # (B, 1, 1)
    positions = torch.arange(length, device=x.device).view(1, 1, length)  # (1, 1, T)
    mask = (positions < cut).to(x.dtype)  # (B, 1, T)
    return torch.cat([mask, x * mask], dim=1)  # (B, 2, T)


class MaskedInputNet(nn.Module):
    """An MLP over the whole masked sequence: (B, 2, T) -> logits (B, C) of x_t.

    It reads both channels of every position at once (it is not causal: the future is blanked
    out, not out of reach) and is told nothing else: the position t it predicts is where the mask
    ends. ``nb_layers`` hidden layers of ``hidden`` units with ReLUs. With ``use_mask=False`` it
    reads the values channel only: the ablation that shows why the mask is needed (a run of
    blanked zeros and a real value 0.0 then look the same).
    """

    def __init__(self, nb_classes: int, length: int, hidden: int = 256, nb_layers: int = 2,
                 use_mask: bool = True) -> None:
        super().__init__()
        self.nb_classes = check_int("nb_classes", nb_classes, 2)
        self.length = check_int("length", length)
        check_int("hidden", hidden)
        check_int("nb_layers", nb_layers)
        self.use_mask = use_mask
        sizes = [(2 if use_mask else 1) * length] + [hidden] * nb_layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                    strict=True))
        self.output = nn.Linear(hidden, nb_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() != 3 or inputs.size(1) != 2 or inputs.size(2) != self.length:
            raise ValueError(f"MaskedInputNet expects masked inputs (B, 2, {self.length}), got "
                             f"{tuple(inputs.shape)} (use toylib.masked.masked_input)")
        h = (inputs if self.use_mask else inputs[:, 1:]).flatten(1)  # (B, 2T or T)
        for layer in self.hidden:
            h = F.relu(layer(h))  # (B, hidden)
        return self.output(h)  # (B, C)


def _check_tokens(tokens: torch.Tensor, name: str) -> None:
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.size(0) < 1:
        raise ValueError(f"{name} must be a non-empty LongTensor (N, T)")


@torch.no_grad()
def masked_sequence_nll(model: nn.Module, tokens: torch.Tensor, nb_classes: int,
                        batch_size: int = 256) -> float:
    """Mean NLL in nats per position of ``tokens`` (N, T): T forward passes per batch, one for
    each position t, each predicting x_t from x_{<t}."""
    _check_tokens(tokens, "tokens")
    was_training = model.training
    model.eval()
    try:
        total = 0.0
        for batch in tokens.split(batch_size):  # (b, T)
            x = tokens_to_input(batch, nb_classes)  # (b, 1, T)
            for t in range(batch.size(1)):
                cut = torch.full((batch.size(0),), t, dtype=torch.long)  # (b,)
                logits = model(masked_input(x, cut))  # (b, C)
                total += F.cross_entropy(logits, batch[:, t], reduction="sum").item()
    finally:
        model.train(was_training)
    return total / tokens.numel()


def train_masked(model: nn.Module, train_tokens: torch.Tensor, nb_classes: int, *,
                 epochs: int | None = None, seconds: float | None = None, batch_size: int = 64,
                 lr: float = 1e-3, test_tokens: torch.Tensor | None = None, seed: int = 0,
                 progress: bool = True) -> dict[str, list[float]]:
    """Train with Adam on random cut points: each step, each sequence gets one t uniform in
    [0, T) and the loss is the NLL of x_t given the masked input.

    Stops after ``epochs`` epochs or once ``seconds`` of training have passed (at the end of a
    batch; the evaluations on ``test_tokens`` do not count), whichever is given (both: the first
    reached). Returns ``train_nll`` (per epoch), ``test_nll`` (nats per position, all T
    conditionals, when ``test_tokens`` is given) and ``seconds`` (of training, per epoch).
    """
    _check_tokens(train_tokens, "train_tokens")
    if test_tokens is not None:
        _check_tokens(test_tokens, "test_tokens")
    check_int("batch_size", batch_size)
    if epochs is None and seconds is None:
        raise ValueError("give epochs, seconds or both")
    epochs = math.inf if epochs is None else check_int("epochs", epochs, 0)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"train_nll": [], "test_nll": [], "seconds": []}
    trained, epoch, out_of_time = 0.0, 0, False  # seconds of training: evaluations not counted
    model.train()
    bar = tqdm(total=None if epochs == math.inf else epochs, desc="training (masked)",
               disable=not progress)
    while epoch < epochs and not out_of_time:
        total, count = 0.0, 0
        order = torch.randperm(train_tokens.size(0), generator=generator)  # (N,)
        for idx in order.split(batch_size):
            start = time.perf_counter()
            batch = train_tokens[idx]  # (b, T)
            cut = torch.randint(0, batch.size(1), (batch.size(0),), generator=generator)  # (b,)
            logits = model(masked_input(tokens_to_input(batch, nb_classes), cut))  # (b, C)
            loss = F.cross_entropy(logits, batch.gather(1, cut[:, None]).squeeze(1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * batch.size(0), count + batch.size(0)
            trained += time.perf_counter() - start
            if seconds is not None and trained > seconds:
                out_of_time = True
                break
        epoch += 1
        history["train_nll"].append(total / count)
        if test_tokens is not None:
            history["test_nll"].append(masked_sequence_nll(model, test_tokens, nb_classes))
            model.train()
        history["seconds"].append(trained)
        bar.update(1)
        bar.set_postfix_str(f"train {history['train_nll'][-1]:.3f} nats")
    bar.close()
    return history


@torch.no_grad()
def sample_masked(model: nn.Module, nb_sequences: int, length: int, nb_classes: int, *,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw sequences position by position: LongTensor (N, T). Step t shows the model the
    tokens drawn so far (positions < t) and samples x_t from its logits."""
    check_int("nb_sequences", nb_sequences)
    check_int("length", length)
    was_training = model.training
    model.eval()
    try:
        tokens = torch.zeros(nb_sequences, length, dtype=torch.long)  # (N, T)
        for t in range(length):
            cut = torch.full((nb_sequences,), t, dtype=torch.long)  # (N,)
            logits = model(masked_input(tokens_to_input(tokens, nb_classes), cut))  # (N, C)
            probs = torch.softmax(logits, dim=-1)  # (N, C)
            tokens[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (N,)
    finally:
        model.train(was_training)
    return tokens
