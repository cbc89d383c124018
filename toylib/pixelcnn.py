"""PixelCNN: causal convolutions for images, in raster order.

An image model generates pixels one at a time in raster order (row by row, left to right), so
the logits at pixel (i, j) may depend on the pixels before it: the rows above, and the pixels to
the left in row i (van den Oord et al., 2016, "Pixel Recurrent Neural Networks",
arXiv:1601.06759). Two ways to build such a network:

- masked convolutions (``MaskedConv2d``): a k x k kernel whose weights below the centre row and
  right of the centre are zeroed (``pixelcnn_mask``; type "A" also zeroes the centre, for the first
  layer, type "B" keeps it). Stacked, they have a *blind spot*: pixels up and to the right that no
  layer can reach (``MaskedPixelCNN``);
- two stacks (van den Oord et al., 2016, "Conditional Image Generation with PixelCNN Decoders",
  arXiv:1606.05328), built here with ``F.pad`` and unmasked rectangular kernels
  (``TwoStackPixelCNN``): a *vertical* stack that sees the rows above (its input shifted down one
  row) and a *horizontal* stack that sees the pixels to the left in the row (its input shifted
  right one pixel); the vertical stack feeds the horizontal one through 1x1 convolutions. No blind
  spot.

A convolution cannot know where it is: the same weights run at every pixel. With
``positional=True`` a model also reads ``binary_positional_encoding``: the row and column index of
each pixel as bits (F. Fleuret's course, lecture 10.2), extra input channels that are known
everywhere and so never leak.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from toylib.layers import check_int


def binary_positional_encoding(height: int, width: int) -> torch.Tensor:
    """Row and column indices as bits: float32 (nr + nc, height, width) of 0.0 / 1.0.

    nr = ceil(log2(height)) (0 when height is 1), nc = ceil(log2(width)); channel i < nr holds bit
    i (least significant first) of the row index, channel nr + j bit j of the column index."""
    check_int("height", height)
    check_int("width", width)
    nr, nc = math.ceil(math.log2(height)), math.ceil(math.log2(width))
    rows = torch.arange(height).view(height, 1).expand(height, width)  # (H, W)
    cols = torch.arange(width).view(1, width).expand(height, width)  # (H, W)
    bits = [(rows >> i) & 1 for i in range(nr)] + [(cols >> j) & 1 for j in range(nc)]
    if not bits:
        return torch.zeros(0, height, width)
    return torch.stack(bits).float()  # (nr + nc, H, W)


def pixelcnn_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """The PixelCNN mask: float32 (k, k), 1 above the centre row and left of the centre in it,
    the centre 1 for type "B" and 0 for type "A", 0 elsewhere."""
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd int >= 1, got {kernel_size!r}")
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    c = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:c] = 1.0
    mask[c, :c] = 1.0
    mask[c, c] = 1.0 if mask_type == "B" else 0.0
    return mask


class MaskedConv2d(nn.Conv2d):
    """A k x k convolution with "same" padding whose weight is multiplied by ``pixelcnn_mask``
    in forward (the weight itself is left as it is): (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 mask_type: str) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.mask_type = mask_type
        self.register_buffer("mask", pixelcnn_mask(kernel_size, mask_type))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)  # (B, C_out, H, W)


def _with_positions(x: torch.Tensor, positional: bool) -> torch.Tensor:
    """x, with the binary position channels of its size appended when ``positional``."""
    if not positional:
        return x
    pe = binary_positional_encoding(x.size(2), x.size(3)).to(x)  # (P, H, W)
    return torch.cat([x, pe.expand(x.size(0), -1, -1, -1)], dim=1)  # (B, C + P, H, W)


def _nb_positions(height: int, width: int) -> int:
    return math.ceil(math.log2(height)) + math.ceil(math.log2(width))


class MaskedPixelCNN(nn.Module):
    """A plain masked stack: (B, 1, H, W) floats in [-1, 1] -> (B, nb_levels, H, W) logits.

    A type "A" layer, ``nb_layers`` type "B" layers with ReLUs, a 1x1 convolution. It has the
    blind spot. Positional channels (``positional=True``, for a given image size) go into the
    first layer unmasked, by a 1x1 convolution: they are known everywhere."""

    def __init__(self, nb_levels: int, nb_channels: int = 32, kernel_size: int = 5,
                 nb_layers: int = 2, positional: bool = False, image_size: tuple = (8, 8)):
        super().__init__()
        self.nb_levels = check_int("nb_levels", nb_levels, 2)
        self.positional = positional
        self.first = MaskedConv2d(1, nb_channels, kernel_size, "A")
        self.positions = (nn.Conv2d(_nb_positions(*image_size), nb_channels, 1) if positional
                          else None)
        self.layers = nn.ModuleList(MaskedConv2d(nb_channels, nb_channels, kernel_size, "B")
                                    for _ in range(nb_layers))
        self.output = nn.Conv2d(nb_channels, nb_levels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image_input(x)
        h = self.first(x)  # (B, C, H, W)
        if self.positions is not None:
            h = h + self.positions(_with_positions(x, True)[:, 1:])
        h = F.relu(h)
        for layer in self.layers:
            h = F.relu(layer(h))  # (B, C, H, W)
        return self.output(h)  # (B, nb_levels, H, W)


class TwoStackPixelCNN(nn.Module):
    """The course's PixelCNN without a blind spot: (B, 1, H, W) -> (B, nb_levels, H, W) logits.

    Vertical stack: its input shifted down one row (``F.pad(x, (0, 0, 1, -1))``), then
    convolutions of kernel (k//2 + 1, k) padded with k//2 rows on top and k//2 columns on each
    side: pixel (i, j) sees rows < i. Horizontal stack: its input shifted right one pixel
    (``F.pad(x, (1, -1))``), then convolutions of kernel (1, k//2 + 1) padded on the left: pixel
    (i, j) sees row i left of j, plus, through a 1x1 convolution, the vertical stack at (i, j).
    A 1x1 convolution of the horizontal stack gives the logits. With ``positional=True`` the
    binary position channels are appended to the (shifted) input of both stacks. For deeper nets,
    ``residual=True`` adds each horizontal layer's output to its input (from the second layer on,
    He et al., 2016) and ``dropout`` drops units of the horizontal stack while training; both
    keep the model causal."""

    def __init__(self, nb_levels: int, nb_channels: int = 32, kernel_size: int = 5,
                 nb_layers: int = 2, positional: bool = False,
                 image_size: tuple[int, int] = (8, 8), residual: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.residual, self.dropout = residual, dropout
        self.nb_levels = check_int("nb_levels", nb_levels, 2)
        if check_int("kernel_size", kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        check_int("nb_layers", nb_layers)
        self.kernel_size, self.positional = kernel_size, positional
        self.image_size = tuple(image_size)
        half = kernel_size // 2
        first = 1 + (_nb_positions(*image_size) if positional else 0)  # value (+ positions)
        self.vertical = nn.ModuleList()
        self.horizontal = nn.ModuleList()
        self.down_to_right = nn.ModuleList()
        for index in range(nb_layers):
            c_in = nb_channels if index else first
            self.vertical.append(nn.Conv2d(c_in, nb_channels, (half + 1, kernel_size)))
            self.horizontal.append(nn.Conv2d(c_in, nb_channels, (1, half + 1)))
            self.down_to_right.append(nn.Conv2d(nb_channels, nb_channels, 1))
        self.output = nn.Conv2d(nb_channels, nb_levels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image_input(x)
        if self.positional and tuple(x.shape[2:]) != self.image_size:
            raise ValueError(f"this model reads the positions of {self.image_size} images, got "
                             f"{tuple(x.shape[2:])} (build it with image_size=...)")
        h = _with_positions(F.pad(x, (1, -1)), self.positional)  # the left: shift right
        return self.horizontal_logits(h, self.vertical_links(x))  # (B, nb_levels, H, W)

    def vertical_links(self, x: torch.Tensor) -> list[torch.Tensor]:
        """What the vertical stack gives each horizontal layer: one (B, C, H, W) per layer, at
        (i, j) a function of the rows above i only."""
        half = self.kernel_size // 2
        v = _with_positions(F.pad(x, (0, 0, 1, -1)), self.positional)  # rows above: shift down
        links = []
        for vertical, link in zip(self.vertical, self.down_to_right, strict=True):
            v = F.relu(vertical(F.pad(v, (half, half, half, 0))))  # (B, C, H, W)
            links.append(link(v))  # (B, C, H, W)
        return links

    def horizontal_logits(self, h: torch.Tensor, links: list[torch.Tensor]) -> torch.Tensor:
        """The horizontal stack and the output: ``h`` (B, 1 + P, H', W) is the input shifted right
        one pixel (with its position channels), ``links`` the vertical stack's part for the same
        rows; returns (B, nb_levels, H', W) logits. H' may be one row (``sample_images_cached``)."""
        half = self.kernel_size // 2
        for index, (horizontal, linked) in enumerate(zip(self.horizontal, links, strict=True)):
            new = F.relu(horizontal(F.pad(h, (half, 0))) + linked)  # (B, C, H', W)
            if self.dropout:
                new = F.dropout(new, self.dropout, self.training)
            h = h + new if self.residual and index else new  # (B, C, H', W)
        return self.output(h)  # (B, nb_levels, H', W)


def _check_image_input(x: object) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.size(1) != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected images of shape (B, 1, H, W) (toylib.images.images_to_input),"
                         f" got {shape}")
