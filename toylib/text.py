"""Real text that every Python install ships: the documentation topics of ``pydoc_data``.

``pydoc_data.topics`` holds the text behind ``help("if")``, ``help("FORMATTING")`` and the other
topics of the Python documentation: about 465,000 characters of English prose and code for
Python 3.11 (the exact text varies between patch releases: report ``sys.version`` with results).
It needs no download, so a character-level model of it runs anywhere the course does, as the
character-level language models of Karpathy's char-rnn and of the TCN paper (Bai et al., 2018,
arXiv:1803.01271) do on their corpora.

Characters become tokens 0..V-1 (``vocabulary`` sorted); the held-out part is the *end* of the
text, one contiguous block, so that no test window overlaps a training window.
"""

from __future__ import annotations

import sys

import torch

from toylib.layers import check_int


def python_docs_text() -> str:
    """The documentation topics of this Python, joined in the order of their names."""
    try:
        from pydoc_data.topics import topics
    except ImportError as error:  # some Linux distributions package it separately
        raise RuntimeError(
            f"this Python ({sys.version.split()[0]}) has no pydoc_data: install the full standard "
            "library (e.g. Debian's python3.11 package with its documentation topics)") from error
    return "\n\n".join(topics[name] for name in sorted(topics))


def vocabulary(text: str) -> list[str]:
    """The distinct characters of ``text``, sorted: token i is ``vocabulary[i]``."""
    if not text:
        raise ValueError("the text is empty")
    return sorted(set(text))


def encode(text: str, chars: list[str]) -> torch.Tensor:
    """``text`` as a LongTensor (N,) of indices into ``chars``."""
    index = {c: i for i, c in enumerate(chars)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        raise ValueError(f"characters not in the vocabulary: {''.join(unknown[:20])!r}")
    return torch.tensor([index[c] for c in text], dtype=torch.long)


def decode(tokens: torch.Tensor, chars: list[str]) -> str:
    """The text of a 1D LongTensor of tokens."""
    if tokens.dim() != 1:
        raise ValueError(f"decode expects a 1D tensor of tokens, got shape {tuple(tokens.shape)}")
    return "".join(chars[i] for i in tokens.tolist())


def split(tokens: torch.Tensor, test_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """(the first part, the last ``test_fraction`` of the text): contiguous, not shuffled."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    cut = int(round(tokens.numel() * (1 - test_fraction)))
    return tokens[:cut], tokens[cut:]


def windows(tokens: torch.Tensor, length: int, stride: int | None = None) -> torch.Tensor:
    """Windows of ``length`` consecutive tokens, every ``stride`` (default: ``length``, no
    overlap): LongTensor (N, length), for the training and evaluation loops of toylib.train."""
    check_int("length", length)
    stride = length if stride is None else check_int("stride", stride)
    if tokens.dim() != 1 or tokens.numel() < length:
        raise ValueError(f"need a 1D tensor of at least {length} tokens, got shape "
                         f"{tuple(tokens.shape)}")
    return tokens.unfold(0, length, stride).contiguous()  # (N, length)
