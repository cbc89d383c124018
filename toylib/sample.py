"""The synthesis loop: sample a causal model one position at a time.

Training a causal model takes one forward pass for all positions; generating takes one pass per
position, because x_t must be drawn before x_{t+1} can be predicted (van den Oord et al., 2016,
arXiv:1609.03499). This is the plain loop: each step re-runs the model on the prefix, so a sequence
of T steps costs O(T^2) work. Caching each layer's past activations brings a step down to
O(layers) (Paine et al., 2016, "Fast Wavenet Generation Algorithm", arXiv:1611.09482).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from toylib.data import tokens_to_input
from toylib.layers import check_int


@torch.no_grad()
def sample(
    model: nn.Module,
    nb_sequences: int,
    length: int,
    nb_classes: int,
    *,
    generator: torch.Generator | None = None,
    prefix: torch.Tensor | None = None,
    temperature: float = 1.0,
    progress: bool = False,
) -> torch.Tensor:
    """Draw ``nb_sequences`` sequences of ``length`` tokens: LongTensor (N, T).

    ``model`` maps (N, 1, t) floats to (N, t, nb_classes) logits, the logits at position t being
    a distribution over x_t given x_{<t} (e.g. ``toylib.models.ToyCausalNet``). With ``prefix``
    (N, P) or (P,) the first P tokens are given and the rest is sampled. The model runs in eval
    mode and is put back in the mode it had.
    """
    check_int("nb_sequences", nb_sequences)
    check_int("length", length)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    tokens = torch.zeros(nb_sequences, length, dtype=torch.long)  # (N, T)
    start = 0
    if prefix is not None:
        prefix = prefix.expand(nb_sequences, -1) if prefix.dim() == 1 else prefix  # (N, P)
        if prefix.dim() != 2 or prefix.size(0) != nb_sequences or prefix.size(1) > length:
            raise ValueError(
                f"prefix must have shape (P,) or ({nb_sequences}, P) with P <= {length}, "
                f"got {tuple(prefix.shape)}"
            )
        tokens[:, : prefix.size(1)] = prefix
        start = prefix.size(1)
    was_training = model.training
    model.eval()
    try:
        for t in tqdm(range(start, length), desc="sampling", disable=not progress, leave=False):
            logits = model(tokens_to_input(tokens[:, : t + 1], nb_classes))  # (N, t+1, C)
            if logits.dim() != 3 or logits.shape[1:] != (t + 1, nb_classes):
                raise ValueError(
                    f"the model must return logits of shape (N, T, {nb_classes}); for an input "
                    f"of {t + 1} steps it returned {tuple(logits.shape)}"
                )
            probs = torch.softmax(logits[:, t] / temperature, dim=-1)  # (N, C)
            tokens[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (N,)
    finally:
        model.train(was_training)
    return tokens


@torch.no_grad()
def sample_images(model: nn.Module, nb_images: int, height: int, width: int, nb_levels: int, *,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw images pixel by pixel in raster order: LongTensor (N, H, W) of levels. Each step runs
    the model on the whole image drawn so far (the plain loop: H * W passes)."""
    from toylib.images import images_to_input

    check_int("nb_images", nb_images)
    images = torch.zeros(nb_images, check_int("height", height), check_int("width", width),
                         dtype=torch.long)  # (N, H, W)
    was_training = model.training
    model.eval()
    try:
        for i in range(height):
            for j in range(width):
                logits = model(images_to_input(images, nb_levels))  # (N, L, H, W)
                probs = torch.softmax(logits[:, :, i, j], dim=-1)  # (N, L)
                images[:, i, j] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    finally:
        model.train(was_training)
    return images
