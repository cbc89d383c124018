"""The toy sequences of the course, and a train/test split.

Each sequence has two straight segments with random slopes joined at a random split point by a
jump, quantised to ``nb_classes`` integer levels. Locally the next value is easy to guess (continue
the line); globally a good model must also produce exactly one jump and two straight pieces, which
needs a receptive field as long as the sequence. This is the autoregression toy problem of
F. Fleuret's deep learning course (lecture 10.1/10.2), re-implemented for this course; the models
are autoregressive in the sense of van den Oord et al., 2016 (arXiv:1609.03499).

Tokens are ``LongTensor``s (N, T) with values in [0, nb_classes); models read them as floats in
[-1, 1] of shape (N, 1, T) (``tokens_to_input``).
"""

from __future__ import annotations

import torch

from toylib.layers import check_int

MIN_JUMP = 0.25  # smallest jump at the split point, as a fraction of the value range


def make_sequences(
    nb_sequences: int, length: int = 64, nb_classes: int = 32, seed: int = 0
) -> torch.Tensor:
    """``nb_sequences`` toy sequences of ``length`` tokens in [0, nb_classes): LongTensor (N, T).

    Segment one runs in a straight line from a random level to another over positions [0, p);
    segment two starts at least ``MIN_JUMP`` of the range away from where segment one ended and runs
    straight to a random level over [p, T). The split p is uniform in [T/4, 3T/4]. The same seed
    gives the same sequences.
    """
    check_int("nb_sequences", nb_sequences, 1)
    check_int("length", length, 4)
    check_int("nb_classes", nb_classes, 2)
    gen = torch.Generator().manual_seed(seed)
    n = nb_sequences
    split = torch.randint(length // 4, 3 * length // 4 + 1, (n, 1), generator=gen)  # (N, 1)
    start1, end1, end2 = torch.rand(3, n, 1, generator=gen)  # each (N, 1)
    jump = MIN_JUMP + (1 - 2 * MIN_JUMP) * torch.rand(n, 1, generator=gen)  # (N, 1)
    start2 = (end1 + jump) % 1.0  # (N, 1): |start2 - end1| in [MIN_JUMP, 1 - MIN_JUMP]

    t = torch.arange(length).float().unsqueeze(0)  # (1, T)
    first = start1 + (end1 - start1) * t / (split - 1).clamp(min=1)  # (N, T)
    second = start2 + (end2 - start2) * (t - split) / (length - 1 - split).clamp(min=1)  # (N, T)
    values = torch.where(t < split, first, second)  # (N, T) in [0, 1]
    return (values * (nb_classes - 1)).round().long().clamp(0, nb_classes - 1)  # (N, T)


def tokens_to_input(tokens: torch.Tensor, nb_classes: int) -> torch.Tensor:
    """Integer tokens (N, T) in [0, nb_classes) -> model input (N, 1, T) of floats in [-1, 1]."""
    check_int("nb_classes", nb_classes, 2)
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"tokens must be a 2D tensor (N, T), got {shape}")
    if tokens.is_floating_point() or tokens.is_complex():
        raise ValueError(f"tokens must be integers, got {tokens.dtype}")
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= nb_classes):
        raise ValueError(
            f"tokens must lie in [0, {nb_classes}), got values in "
            f"[{int(tokens.min())}, {int(tokens.max())}]"
        )
    values = tokens.to(torch.get_default_dtype())  # float32 unless the default was changed
    return (values * (2.0 / (nb_classes - 1)) - 1.0).unsqueeze(1)  # (N, 1, T)


def train_test_split(
    tokens: torch.Tensor, test_fraction: float = 0.25, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffle the rows of ``tokens`` (N, T) with ``seed`` and split them into (train, test)."""
    if not isinstance(tokens, torch.Tensor) or tokens.dim() < 1:
        raise ValueError("tokens must be a tensor with the sequences on dim 0")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    n = tokens.size(0)
    nb_test = round(n * test_fraction)
    if nb_test < 1 or nb_test >= n:
        raise ValueError(
            f"cannot split {n} sequences with test_fraction={test_fraction}: "
            "both parts need at least one sequence"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # (N,)
    return tokens[order[nb_test:]], tokens[order[:nb_test]]
