"""Training and evaluation of causal sequence models on integer tokens.

Because the model is causal, one forward pass gives the logits of every position, and the loss is
the mean negative log-likelihood over all positions at once (van den Oord et al., 2016,
arXiv:1609.03499; Fleuret's deep learning course, lecture 10.2). NLLs are reported in nats per
position; ``nats_to_bits`` converts (divide by ln 2).
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


def nats_to_bits(nats: float) -> float:
    """Convert an NLL in nats to bits."""
    return nats / math.log(2.0)


def _check_tokens(tokens: object, name: str) -> None:
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.size(0) < 1:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"{name} must be a non-empty 2D LongTensor (N, T), got {shape}")


def sequence_nll(model: nn.Module, tokens: torch.Tensor, nb_classes: int) -> torch.Tensor:
    """Mean NLL in nats per position of ``tokens`` (B, T) under ``model``, in one forward pass."""
    logits = model(tokens_to_input(tokens, nb_classes))  # (B, T, C)
    expected = (*tokens.shape, nb_classes)
    if tuple(logits.shape) != expected:
        raise ValueError(
            f"the model must return logits of shape (B, T, nb_classes) = {expected}, "
            f"got {tuple(logits.shape)}"
        )
    return F.cross_entropy(logits.reshape(-1, nb_classes), tokens.reshape(-1))


@torch.no_grad()
def evaluate(
    model: nn.Module, tokens: torch.Tensor, nb_classes: int, batch_size: int = 256
) -> float:
    """Mean NLL in nats per position of ``tokens`` (N, T); the model's mode is restored after."""
    _check_tokens(tokens, "tokens")
    was_training = model.training
    model.eval()
    try:
        total = 0.0
        for batch in tokens.split(batch_size):  # (b, T) each
            total += sequence_nll(model, batch, nb_classes).item() * batch.size(0)
    finally:
        model.train(was_training)
    return total / tokens.size(0)


def train(
    model: nn.Module,
    train_tokens: torch.Tensor,
    nb_classes: int,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    test_tokens: torch.Tensor | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Train ``model`` with Adam on all positions of every sequence at once.

    Returns the history: ``train_nll`` (mean over each epoch's batches), ``test_nll`` (after each
    epoch, when ``test_tokens`` is given), both in nats per position, and ``seconds`` (wall time
    at the end of each epoch). The progress bar shows the latest NLLs in nats and bits.
    """
    _check_tokens(train_tokens, "train_tokens")
    if test_tokens is not None:
        _check_tokens(test_tokens, "test_tokens")
    check_int("epochs", epochs, 0)
    check_int("batch_size", batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"train_nll": [], "test_nll": [], "seconds": []}
    start = time.perf_counter()
    model.train()
    bar = tqdm(range(epochs), desc="training", disable=not progress)
    for _ in bar:
        total = 0.0
        order = torch.randperm(train_tokens.size(0), generator=shuffle)  # (N,)
        for idx in order.split(batch_size):
            batch = train_tokens[idx]  # (b, T)
            loss = sequence_nll(model, batch, nb_classes)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.size(0)
        history["train_nll"].append(total / train_tokens.size(0))
        shown = {"train": history["train_nll"][-1]}
        if test_tokens is not None:
            history["test_nll"].append(evaluate(model, test_tokens, nb_classes))
            shown["test"] = history["test_nll"][-1]
        history["seconds"].append(time.perf_counter() - start)
        bar.set_postfix_str(
            ", ".join(f"{k} {v:.3f} nats ({nats_to_bits(v):.3f} bits)" for k, v in shown.items())
        )
    return history
