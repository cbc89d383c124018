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

from toylib.config import one_thread
from toylib.data import tokens_to_input
from toylib.layers import check_int


def _start(nb_sequences: int, length: int, prefix: torch.Tensor | None,
           temperature: float) -> tuple[torch.Tensor, int]:
    """The token table (N, T), the prefix written in, and the first position to draw."""
    check_int("nb_sequences", nb_sequences)
    check_int("length", length)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    tokens = torch.zeros(nb_sequences, length, dtype=torch.long)  # (N, T)
    if prefix is None:
        return tokens, 0
    prefix = prefix.expand(nb_sequences, -1) if prefix.dim() == 1 else prefix  # (N, P)
    if prefix.dim() != 2 or prefix.size(0) != nb_sequences or prefix.size(1) > length:
        raise ValueError(
            f"prefix must have shape (P,) or ({nb_sequences}, P) with P <= {length}, "
            f"got {tuple(prefix.shape)}"
        )
    tokens[:, : prefix.size(1)] = prefix
    return tokens, prefix.size(1)


def _draw(logits: torch.Tensor, temperature: float,
          generator: torch.Generator | None) -> torch.Tensor:
    probs = torch.softmax(logits / temperature, dim=-1)  # (N, C)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (N,)


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
    window: int | None = None,
) -> torch.Tensor:
    """Draw ``nb_sequences`` sequences of ``length`` tokens: LongTensor (N, T).

    ``model`` maps (N, 1, t) floats to (N, t, nb_classes) logits, the logits at position t being
    a distribution over x_t given x_{<t} (e.g. ``toylib.models.ToyCausalNet``). With ``prefix``
    (N, P) or (P,) the first P tokens are given and the rest is sampled. Each step runs the model
    on the whole prefix; with ``window=R`` (the receptive field) on R + 1 positions only: the R
    past tokens the next one depends on, plus the slot being predicted (its value is never read),
    which gives the same logits for a net whose output at t reads x_{t-R}..x_{t-1}. The model runs
    in eval mode and is put back in the mode it had.
    """
    tokens, start = _start(nb_sequences, length, prefix, temperature)
    if window is not None:
        check_int("window", window)
    was_training = model.training
    model.eval()
    try:
        for t in tqdm(range(start, length), desc="sampling", disable=not progress, leave=False):
            first = 0 if window is None else max(0, t - window)
            logits = model(tokens_to_input(tokens[:, first : t + 1], nb_classes))  # (N, t+1, C)
            if logits.dim() != 3 or logits.shape[1:] != (t + 1 - first, nb_classes):
                raise ValueError(
                    f"the model must return logits of shape (N, T, {nb_classes}); for an input "
                    f"of {t + 1 - first} steps it returned {tuple(logits.shape)}"
                )
            tokens[:, t] = _draw(logits[:, -1], temperature, generator)  # (N,)
    finally:
        model.train(was_training)
    return tokens


@torch.no_grad()
def sample_cached(
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
    """``sample`` with every layer's past cached (``toylib.streaming.StreamingNet``): one step
    costs O(layers) whatever the length. Same signature, and under the same generator the same
    tokens as ``sample`` (the logits agree to round-off). For the nets of ``toylib.models``."""
    from toylib.streaming import StreamingNet

    tokens, start = _start(nb_sequences, length, prefix, temperature)
    was_training = model.training
    model.eval()
    try:
        net = StreamingNet(model, nb_sequences, next(model.parameters()).dtype)
        values = tokens_to_input(tokens, nb_classes)[:, 0]  # (N, T), the prefix's values
        previous = None
        with one_thread():  # a step's tiny operations: one thread, whatever the caller's
            for t in tqdm(range(length), desc="sampling (cached)", disable=not progress,
                          leave=False):
                logits = net.step(previous)  # (N, C)
                if t >= start:
                    tokens[:, t] = _draw(logits, temperature, generator)  # (N,)
                    values[:, t] = tokens[:, t].float() * (2.0 / (nb_classes - 1)) - 1.0  # as
                    # tokens_to_input computes it, without its checks (a step is microseconds)
                previous = values[:, t]
    finally:
        model.train(was_training)
    return tokens


@torch.no_grad()
def sample_images(model: nn.Module, nb_images: int, height: int, width: int, nb_levels: int, *,
                  generator: torch.Generator | None = None, progress: bool = False
                  ) -> torch.Tensor:
    """Draw images pixel by pixel in raster order: LongTensor (N, H, W) of levels. Each step runs
    the model on the whole image drawn so far (the plain loop: H * W passes). ``progress=True``
    shows a bar over the rows."""
    from toylib.images import images_to_input

    check_int("nb_images", nb_images)
    images = torch.zeros(nb_images, check_int("height", height), check_int("width", width),
                         dtype=torch.long)  # (N, H, W)
    was_training = model.training
    model.eval()
    try:
        for i in tqdm(range(height), desc="sampling rows", disable=not progress, leave=False):
            for j in range(width):
                logits = model(images_to_input(images, nb_levels))  # (N, L, H, W)
                images[:, i, j] = _draw(logits[:, :, i, j], 1.0, generator)  # (N,)
    finally:
        model.train(was_training)
    return images


@torch.no_grad()
def sample_images_cached(model: nn.Module, nb_images: int, height: int, width: int,
                         nb_levels: int, *,
                         generator: torch.Generator | None = None, progress: bool = False
                         ) -> torch.Tensor:
    """``sample_images`` for a ``toylib.pixelcnn.TwoStackPixelCNN``, reusing work across pixels:
    the vertical stack reads only the rows above, so it runs once per row (H passes, not H * W);
    the horizontal stack runs on the current row alone (a 1 x W strip) for each pixel. Same
    signature, and under the same generator the same images as ``sample_images``."""
    import torch.nn.functional as F

    from toylib.images import images_to_input
    from toylib.pixelcnn import TwoStackPixelCNN, binary_positional_encoding

    if not isinstance(model, TwoStackPixelCNN):
        raise ValueError(f"sample_images_cached needs a TwoStackPixelCNN, got "
                         f"{type(model).__name__} (use sample_images)")
    check_int("nb_images", nb_images)
    images = torch.zeros(nb_images, check_int("height", height), check_int("width", width),
                         dtype=torch.long)  # (N, H, W)
    positions = binary_positional_encoding(height, width)  # (P, H, W)
    was_training = model.training
    model.eval()
    try:
        with one_thread():  # a strip per pixel, small: one thread, whatever the caller's
            for i in tqdm(range(height), desc="sampling rows", disable=not progress, leave=False):
                # rows < i are final: the vertical stack's part of row i is too
                links = [link[:, :, i : i + 1] for link in
                         model.vertical_links(images_to_input(images, nb_levels))]  # (N, C, 1, W)
                row_positions = positions[:, i : i + 1].expand(nb_images, -1, -1, -1)
                # (N, P, 1, W): the positional channels of row i
                for j in range(width):
                    row = images_to_input(images[:, i : i + 1], nb_levels)  # (N, 1, 1, W)
                    h = F.pad(row, (1, -1))  # (N, 1, 1, W): the pixels to the left
                    if model.positional:
                        h = torch.cat([h, row_positions], dim=1)  # (N, 1 + P, 1, W)
                    logits = model.horizontal_logits(h, links)[:, :, 0, j]  # (N, L)
                    images[:, i, j] = _draw(logits, 1.0, generator)  # (N,)
    finally:
        model.train(was_training)
    return images
