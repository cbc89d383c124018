"""Training and evaluation of causal sequence models on integer tokens.

Because the model is causal, one forward pass gives the logits of every position, and the loss is
the mean negative log-likelihood over all positions at once (van den Oord et al., 2016,
arXiv:1609.03499; Fleuret's deep learning course, lecture 10.2). NLLs are reported in nats per
position; ``nats_to_bits`` converts (divide by ln 2).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable

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


def train_steps(model: nn.Module, next_batch: Callable[[], torch.Tensor], nb_classes: int,
                steps: int, lr: float, score: Callable[[nn.Module], float] | None = None, *,
                checkpoints: int = 8, desc: str = "training", progress: bool = True) -> dict:
    """Adam on ``steps`` batches of ``next_batch()`` (each (B, T) tokens), the learning rate
    falling linearly from ``lr`` to 0 over the steps (lecture 03, section 6).

    A budget given as a count of steps, not of seconds, so that a race between nets does not
    depend on how busy the machine is. ``score(model)``, when given, is recorded at
    ``checkpoints`` evenly spaced steps with the CPU clock stopped. Returns ``steps``, ``cpu``
    (CPU seconds of the training steps only), ``wall`` (seconds of the whole run) and ``curve``,
    a list of (CPU seconds so far, score). The model is left in train mode.
    """
    check_int("steps", steps)
    check_int("checkpoints", checkpoints, 0)
    if not lr > 0:
        raise ValueError(f"lr must be a positive learning rate, got {lr!r}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    cpu, curve = 0.0, []
    wall = time.perf_counter()
    model.train()
    for step in tqdm(range(steps), desc=desc, disable=not progress):
        start = time.process_time()
        for group in optimizer.param_groups:
            group["lr"] = lr * (1.0 - step / steps)
        batch = next_batch()  # (B, T)
        _check_tokens(batch, "next_batch()")
        loss = sequence_nll(model, batch, nb_classes)  # mean NLL over all (B, T) positions
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        cpu += time.process_time() - start
        if score is not None and (step + 1) * checkpoints // steps > len(curve):
            curve.append((cpu, score(model)))  # the clock is stopped while scoring
            model.train()
    return {"steps": steps, "cpu": cpu, "wall": time.perf_counter() - wall, "curve": curve}


# ---------------------------------------------------------------------------------- images
def image_nll(model: nn.Module, images: torch.Tensor, nb_levels: int,
              batch_size: int = 256) -> float:
    """Mean NLL in nats per image of ``images`` (N, H, W) of levels, from one forward pass per
    batch (the model maps (B, 1, H, W) to (B, nb_levels, H, W) logits); bits per dimension are
    ``nats_to_bits(nll) / (H * W)``. The model's mode is restored after."""
    from toylib.images import images_to_input

    was_training = model.training
    model.eval()
    try:
        total = 0.0
        with torch.no_grad():
            for batch in images.split(batch_size):  # (b, H, W)
                logits = model(images_to_input(batch, nb_levels))  # (b, L, H, W)
                total += F.cross_entropy(logits, batch, reduction="sum").item()
    finally:
        model.train(was_training)
    return total / images.size(0)


def train_images(model: nn.Module, train_images: torch.Tensor, nb_levels: int, *,
                 epochs: int | None = None, seconds: float | None = None, batch_size: int = 64,
                 lr: float = 1e-3, schedule: str = "constant", ema: float | None = None,
                 val_images: torch.Tensor | None = None, test_images: torch.Tensor | None = None,
                 seed: int = 0, progress: bool = True) -> dict[str, list[float]]:
    """Train an image model with Adam on the NLL of every pixel at once (one pass per batch).

    Stops after ``epochs``, or before the batch that would take training past ``seconds`` (judged
    by the time of the batch before; evaluations do not count), whichever comes first.
    ``schedule="cosine"`` lowers the learning rate from ``lr`` to 0 along a half cosine over the
    run (its progress is the larger of the epoch and time fractions);
    ``ema=0.99`` keeps an exponential moving average of the weights (Polyak averaging), which is
    what gets evaluated and kept. With ``val_images``, the weights of the epoch with the lowest
    validation NLL are loaded into the model at the end (early stopping without a wasted run).

    Returns ``train_nll``, ``val_nll`` and ``test_nll`` in nats per image and ``seconds`` of
    training, per epoch, and ``best_epoch`` (1-based; the last epoch without ``val_images``)."""
    from toylib.images import images_to_input

    if epochs is None and seconds is None:
        raise ValueError("give epochs, seconds or both")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if ema is not None and not 0.0 <= ema < 1.0:
        raise ValueError(f"ema must be a decay in [0, 1), got {ema!r}")
    check_int("batch_size", batch_size)
    epochs = math.inf if epochs is None else check_int("epochs", epochs, 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    averaged = [p.detach().clone() for p in model.parameters()] if ema is not None else None
    history: dict[str, list[float]] = {"train_nll": [], "val_nll": [], "test_nll": [],
                                       "seconds": [], "best_epoch": []}
    trained, last, epoch, out_of_time = 0.0, 0.0, 0, False
    best, best_state = math.inf, None
    bar = tqdm(total=None if epochs == math.inf else epochs, desc="training (images)",
               disable=not progress)
    while epoch < epochs and not out_of_time:
        model.train()
        total, count = 0.0, 0
        order = torch.randperm(train_images.size(0), generator=generator)  # (N,)
        for step, idx in enumerate(order.split(batch_size)):
            if seconds is not None and trained + last > seconds:  # the next batch would overrun
                out_of_time = True
                break
            start = time.perf_counter()
            if schedule == "cosine":
                done = max((epoch + step * batch_size / len(order)) / epochs,
                           trained / seconds if seconds else 0.0)
                for group in optimizer.param_groups:
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))
            batch = train_images[idx]  # (b, H, W)
            logits = model(images_to_input(batch, nb_levels))  # (b, L, H, W)
            loss = F.cross_entropy(logits, batch, reduction="sum") / batch.size(0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if averaged is not None:
                with torch.no_grad():
                    for mean, p in zip(averaged, model.parameters(), strict=True):
                        mean.lerp_(p, 1.0 - ema)
            total, count = total + loss.item() * batch.size(0), count + batch.size(0)
            last = time.perf_counter() - start
            trained += last
        if count == 0:  # the budget ran out at the end of the previous epoch
            break
        epoch += 1
        history["train_nll"].append(total / count)
        history["seconds"].append(trained)
        with _weights(model, averaged):
            if val_images is not None:
                history["val_nll"].append(image_nll(model, val_images, nb_levels))
                if history["val_nll"][-1] < best:
                    best, best_state = history["val_nll"][-1], copy.deepcopy(model.state_dict())
                    history["best_epoch"] = [epoch]
            if test_images is not None:
                history["test_nll"].append(image_nll(model, test_images, nb_levels))
        bar.update(1)
        bar.set_postfix_str(f"train {history['train_nll'][-1]:.2f} nats/image")
    bar.close()
    if averaged is not None:
        with torch.no_grad():
            for mean, p in zip(averaged, model.parameters(), strict=True):
                p.copy_(mean)
    if best_state is not None:
        model.load_state_dict(best_state)
    if not history["best_epoch"]:
        history["best_epoch"] = [epoch]
    return history


@contextlib.contextmanager
def _weights(model: nn.Module, averaged: list[torch.Tensor] | None):
    """Swap the averaged weights into ``model`` for the duration of the block."""
    if averaged is None:
        yield
        return
    params = list(model.parameters())
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, mean in zip(params, averaged, strict=True):
            p.copy_(mean)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, kept in zip(params, saved, strict=True):
                p.copy_(kept)
