"""Images for the course's 2D models: the 8x8 digits scikit-learn ships, and binarised MNIST.

The digits (``sklearn.datasets.load_digits``, from the UCI "Optical Recognition of Handwritten
Digits" set) are 1797 images of 8x8 pixels with 17 grey levels, 0..16. They ship inside
scikit-learn, so every model of the course can be trained on real images without a download.
The split is the one of the published autoregressive model on this data (J. Tomczak's ARM, "Deep
Generative Modeling", 2022, intro_dgm/arms/arm_example.ipynb): the first 1000 images for
training, the next 350 for validation, the last 447 for testing, so that NLLs compare with its
86.4 nats per image. ``digits_split(seed=...)`` shuffles with a seed first, for other experiments.

Binarised MNIST (28x28, 0/1; Larochelle and Murray, 2011) is optional: ``load_binarized_mnist``
downloads each file once into a cache folder, checks its size and SHA-256 (as published in
TensorFlow Datasets' checksums.tsv for these URLs) and refuses a file that does not match;
offline, it says where to get the file and where to put it. Nothing in the tests uses the network.

Images are LongTensors (N, H, W) of levels; models read them as floats in [-1, 1] with a channel
dimension, (N, 1, H, W) (``images_to_input``).
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import torch

DIGIT_LEVELS = 17
SPLIT_SIZES = (1000, 350, 447)
MNIST_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
MNIST_FILES = {  # split -> (file name, size in bytes, SHA-256)
    "train": ("binarized_mnist_train.amat", 78400000,
              "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d"),
    "valid": ("binarized_mnist_valid.amat", 15680000,
              "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2"),
    "test": ("binarized_mnist_test.amat", 15680000,
             "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c"),
}


def load_digits() -> torch.Tensor:
    """The 1797 digits of scikit-learn: LongTensor (1797, 8, 8) of levels 0..16."""
    from sklearn.datasets import load_digits as sklearn_digits

    images = sklearn_digits().images  # (1797, 8, 8) floats 0.0 .. 16.0
    return torch.from_numpy(images).round().long()


def digits_split(seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train (1000, 8, 8), validation (350, 8, 8), test (447, 8, 8)) LongTensors.

    Without ``seed``: the published ARM's split, the images in scikit-learn's order. With a seed:
    the same sizes after a shuffle by that seed."""
    images = load_digits()
    if seed is not None:
        images = images[torch.randperm(images.size(0), generator=torch.Generator().manual_seed(
            seed))]
    train, val, test = images.split(SPLIT_SIZES)
    return train, val, test


def images_to_input(images: torch.Tensor, nb_levels: int) -> torch.Tensor:
    """LongTensor (N, H, W) of levels in [0, nb_levels) -> floats (N, 1, H, W) in [-1, 1]."""
    if not isinstance(images, torch.Tensor) or images.dim() != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a 3D tensor (N, H, W) of levels, got {shape}")
    if images.is_floating_point():
        raise ValueError(f"images must be integer levels, got {images.dtype}")
    if images.numel() and (images.min() < 0 or images.max() >= nb_levels):
        raise ValueError(f"levels must lie in [0, {nb_levels}), got {int(images.min())}.."
                         f"{int(images.max())}")
    return (images.float() * (2.0 / (nb_levels - 1)) - 1.0).unsqueeze(1)  # (N, 1, H, W)


def load_binarized_mnist(split: str = "train", cache_dir: str | Path = "data_cache",
                         base_url: str = MNIST_URL) -> torch.Tensor:
    """Binarised MNIST: LongTensor (N, 28, 28) of 0/1 for split "train", "valid" or "test".

    Downloads the file once into ``cache_dir`` (git-ignored ``data_cache/`` by default) and checks
    its size and SHA-256 on every load; a file that does not match is never used."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be one of {', '.join(MNIST_FILES)}, got {split!r}")
    name, size, sha256 = MNIST_FILES[split]
    path = Path(cache_dir) / name
    if not path.exists():
        _download(base_url + name, path)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != size or digest != sha256:
        raise RuntimeError(f"{path} is not the published {name} ({len(data)} bytes, SHA-256 "
                           f"{digest[:12]}..., expected {size} bytes, {sha256[:12]}...): delete "
                           "it and download it again")
    rows = [line.split() for line in data.decode("ascii").splitlines() if line.strip()]
    return torch.tensor([[int(v) for v in row] for row in rows], dtype=torch.long).view(-1, 28, 28)


def _download(url: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"cannot download {url} ({error}). On a machine with internet access "
                           f"download it and copy it to {path.resolve()}; it is checked by "
                           "size and SHA-256 before use") from None
    partial.replace(path)
