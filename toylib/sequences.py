"""Next-item prediction on item sequences: a synthetic "sessions" data set and three encoders.

Predicting a user's next item from the items before it is autoregression (lecture 01) with item
ids for values. Spotlight (M. Kula, github.com/maciejkula/spotlight) represents the history three
ways, written here with one interface, ``forward(items (B, T)) -> (B, T, dim)``, the output at t
reading ``items[:, :t]`` only (the present is hidden by a shift of one step):

- ``MeanPoolEncoder``: the mean of the embeddings of the past items (order is lost);
- ``LSTMEncoder``: an LSTM (Hochreiter & Schmidhuber, 1997, Neural Computation 9(8)) over the
  shifted embeddings: the whole past, read one step after another;
- ``CausalCNNEncoder``: residual dilated causal convolutions (as in Caser, Tang & Wang, 2018,
  arXiv:1809.07426, and NextItNet, Yuan et al., 2019, arXiv:1808.05163): one pass over the whole
  sequence, reading the last ``receptive_field = 1 + sum((k - 1) d)`` items.

``NextItemModel`` scores ``logits = h @ E.T + b`` with E the encoder's input embedding (tied, as
in Spotlight); training uses the **full softmax** cross-entropy over all items (no sampled
negatives) at every t >= 1, and ``mrr_and_hit_rate`` ranks the true item among all items.

``make_sessions`` draws sessions with two structures: item-to-item transitions of a sparse random
Markov chain (short range: the last item says a lot), and a repeat (long range): from t = lag on,
with probability ``repeat`` the item is the one ``lag`` steps back. A model that reads the last
item only (receptive field r < lag) can rank the chain's few successors first, but the repeated
item, half of the items by default, is then mostly a guess; r >= lag sees both, and the rule's
own probabilities (``next_item_probabilities``) give the best ranking any model can reach.
Pooling sees which items occurred but neither which came last nor which is ``lag`` steps back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from toylib.config import one_thread
from toylib.layers import check_int
from toylib.streaming import ConvStep


def check_items(items: object, nb_items: int, who: str) -> torch.Tensor:
    """Raise a ``ValueError`` naming the problem unless ``items`` is a (B, T) LongTensor of ids in
    [0, nb_items); return it."""
    if not isinstance(items, torch.Tensor):
        raise ValueError(f"{who} expects a LongTensor (B, T), got {type(items).__name__}")
    if items.dim() != 2:
        hint = " (for one session use items.unsqueeze(0))" if items.dim() == 1 else ""
        raise ValueError(f"{who} expects a 2D tensor (B, T) of item ids, got {items.dim()}D shape "
                         f"{tuple(items.shape)}{hint}")
    if items.dtype != torch.long:
        raise ValueError(f"{who} expects item ids as a LongTensor, got {items.dtype} (use .long())")
    if items.size(1) < 1:
        raise ValueError(f"{who} expects at least one position, got shape {tuple(items.shape)}")
    if items.numel() and (items.min() < 0 or items.max() >= nb_items):
        bad = items[(items < 0) | (items >= nb_items)][0].item()
        raise ValueError(f"{who}: item id {bad} is out of range: ids must lie in [0, {nb_items})")
    return items


# ---------------------------------------------------------------------------------- data
def transition_matrix(nb_items: int, branching: int = 3, chain_seed: int = 0) -> torch.Tensor:
    """The sparse Markov chain of the sessions: (nb_items, nb_items) float64, row i the
    probabilities of the item after i. Each item has ``branching`` successors with weights drawn
    in [0.5, 1.5), one of them its next item on a random cycle through all items (so that no
    session gets stuck in a small closed set)."""
    check_int("nb_items", nb_items, 2)
    check_int("branching", branching)
    if branching > nb_items:
        raise ValueError(f"branching={branching} exceeds nb_items={nb_items}")
    g = torch.Generator().manual_seed(chain_seed)
    order = torch.randperm(nb_items, generator=g)  # (V,)
    on_cycle = torch.empty(nb_items, dtype=torch.long)
    on_cycle[order] = order.roll(-1)  # the next item on the cycle
    scores = torch.rand(nb_items, nb_items, generator=g, dtype=torch.float64)  # (V, V)
    scores[torch.arange(nb_items), on_cycle] = 2.0  # always among the successors
    successors = scores.topk(branching, dim=1).indices  # (V, branching)
    weights = 0.5 + torch.rand(nb_items, branching, generator=g, dtype=torch.float64)
    probs = torch.zeros(nb_items, nb_items, dtype=torch.float64)  # (V, V)
    return probs.scatter_(1, successors, weights / weights.sum(1, keepdim=True))


def make_sessions(nb_sessions: int, length: int, nb_items: int, seed: int = 0, *,
                  branching: int = 3, lag: int = 10, repeat: float = 0.5,
                  chain_seed: int = 0) -> torch.Tensor:
    """``nb_sessions`` sessions of ``length`` item ids in [0, nb_items): LongTensor (N, T).

    The first item is uniform. At t >= 1 the next item follows ``transition_matrix`` from the
    previous one, except that from t = lag on, with probability ``repeat``, it repeats the item
    at t - lag. The chain comes from ``chain_seed`` (the same for every call by default, so a
    train and a test set drawn with different ``seed``s share it), the sessions from ``seed``.
    """
    check_int("nb_sessions", nb_sessions)
    check_int("length", length)
    check_int("lag", lag)
    if not 0.0 <= repeat <= 1.0:
        raise ValueError(f"repeat is a probability in [0, 1], got {repeat!r}")
    probs = transition_matrix(nb_items, branching, chain_seed)  # (V, V)
    g = torch.Generator().manual_seed(seed)
    items = torch.empty(nb_sessions, length, dtype=torch.long)  # (N, T)
    items[:, 0] = torch.randint(nb_items, (nb_sessions,), generator=g)
    copy = torch.rand(nb_sessions, length, generator=g) < repeat  # (N, T)
    for t in range(1, length):
        step = torch.multinomial(probs[items[:, t - 1]], 1, generator=g)[:, 0]  # (N,)
        if t >= lag:
            step = torch.where(copy[:, t], items[:, t - lag], step)  # (N,)
        items[:, t] = step
    return items


def next_item_probabilities(items: torch.Tensor, nb_items: int, *, see_lag: bool = True,
                            branching: int = 3, lag: int = 10, repeat: float = 0.5,
                            chain_seed: int = 0) -> torch.Tensor:
    """The rule's own probabilities of the item at t given the past: (N, T, nb_items) float64
    (uniform at t = 0); pass the arguments ``make_sessions`` was given. With ``see_lag=False``
    the repeat is unknown and only the chain is used: a reference for a model that reads the last
    item but not the one ``lag`` steps back (not an exact optimum for it)."""
    check_items(items, nb_items, "next_item_probabilities")
    probs = transition_matrix(nb_items, branching, chain_seed)  # (V, V)
    n, length = items.shape
    out = torch.full((n, length, nb_items), 1.0 / nb_items, dtype=torch.float64)  # (N, T, V)
    out[:, 1:] = probs[items[:, :-1]]  # (N, T - 1, V): the chain from the previous item
    if see_lag and length > lag:
        out[:, lag:] *= 1.0 - repeat
        copied = F.one_hot(items[:, :-lag], nb_items).double()  # (N, T - lag, V)
        out[:, lag:] += repeat * copied
    return out


# ---------------------------------------------------------------------------------- encoders
def _shift(e: torch.Tensor) -> torch.Tensor:
    return F.pad(e, (0, 0, 1, -1))  # (B, T, dim): position t holds e_{t-1}, zeros at t = 0


class _Encoder(nn.Module):
    """Shared: the embedding, the checks, and ``encode(embedded (B, T, dim))`` for the checkers."""

    receptive_field: int | None = None  # None: the whole past

    def __init__(self, nb_items: int, dim: int = 32) -> None:
        super().__init__()
        self.nb_items, self.dim = check_int("nb_items", nb_items), check_int("dim", dim)
        self.embedding = nn.Embedding(nb_items, dim)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        check_items(items, self.nb_items, type(self).__name__)
        return self.encode(self.embedding(items))  # (B, T, dim)


class MeanPoolEncoder(_Encoder):
    """Items (B, T) -> (B, T, dim): the mean of the embeddings of items[:, :t]; zeros at t = 0."""

    def encode(self, e: torch.Tensor) -> torch.Tensor:
        total = _shift(e).cumsum(dim=1)  # (B, T, dim): sum over s < t
        count = torch.arange(e.size(1), device=e.device).clamp(min=1)  # (T,)
        return total / count.view(1, -1, 1).to(e.dtype)  # (B, T, dim)


class LSTMEncoder(_Encoder):
    """Items (B, T) -> (B, T, dim): an LSTM over the shifted embeddings, so output t has read
    items[:, :t] (at t = 0 a zero input: the output depends on no item)."""

    def __init__(self, nb_items: int, dim: int = 32) -> None:
        super().__init__(nb_items, dim)
        self.lstm = nn.LSTM(dim, dim, batch_first=True)

    def encode(self, e: torch.Tensor) -> torch.Tensor:
        return self.lstm(_shift(e))[0]  # (B, T, dim)


class CausalCNNEncoder(_Encoder):
    """Items (B, T) LongTensor -> (B, T, dim) floats: the representation at t reads items[:, :t]
    only, its last ``receptive_field = 1 + sum((k - 1) d)`` items: the shift reads item t - 1,
    each layer (k - 1) d more steps back; the residual sums do not widen it."""

    def __init__(self, nb_items: int, dim: int = 32, kernel_size: int = 2,
                 dilations: Sequence[int] = (1, 2, 4, 8)) -> None:
        super().__init__(nb_items, dim)
        self.kernel_size = check_int("kernel_size", kernel_size)
        self.dilations = tuple(check_int("every dilation", d) for d in dilations)
        if not self.dilations:
            raise ValueError("dilations must name at least one layer, got an empty sequence")
        self.convs = nn.ModuleList(nn.Conv1d(dim, dim, kernel_size, dilation=d) for d in dilations)
        self.receptive_field = 1 + sum((kernel_size - 1) * d for d in self.dilations)

    def encode(self, e: torch.Tensor) -> torch.Tensor:
        h = e.transpose(1, 2)  # (B, dim, T)
        h = F.pad(h, (1, -1))  # (B, dim, T): position t holds item t-1 (zeros at t=0)
        for conv, d in zip(self.convs, self.dilations, strict=True):
            h = h + F.relu(conv(F.pad(h, ((self.kernel_size - 1) * d, 0))))  # (B, dim, T)
        return h.transpose(1, 2)  # (B, T, dim)


class OnEmbeddings(nn.Module):
    """For ``toylib.checks`` (in_channels=dim, time_dim=1): embeddings (B, dim, T) -> output."""

    def __init__(self, encoder: _Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode(x.transpose(1, 2))  # (B, T, dim)


# ---------------------------------------------------------------------------------- scoring
class NextItemModel(nn.Module):
    """Items (B, T) -> logits (B, T, nb_items) of the item at t: ``h_t @ E.T + b``, with E the
    encoder's input embedding (``tie_embeddings=True``, as in Spotlight) or an own one."""

    def __init__(self, encoder: _Encoder, nb_items: int, tie_embeddings: bool = True) -> None:
        super().__init__()
        if encoder.embedding.num_embeddings != nb_items:
            raise ValueError(f"the encoder embeds {encoder.embedding.num_embeddings} items, "
                             f"but nb_items={nb_items}")
        self.encoder, self.nb_items = encoder, nb_items
        self.output_embedding = (encoder.embedding if tie_embeddings
                                 else nn.Embedding(nb_items, encoder.embedding.embedding_dim))
        self.item_bias = nn.Parameter(torch.zeros(nb_items))

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        h = self.encoder(items)  # (B, T, dim)
        return h @ self.output_embedding.weight.t() + self.item_bias  # (B, T, V)


def next_item_loss(model: NextItemModel, items: torch.Tensor) -> torch.Tensor:
    """Full-softmax cross-entropy (nats) of the item at every t >= 1 given items[:, :t]."""
    check_items(items, model.nb_items, "next_item_loss")
    if items.size(1) < 2:
        raise ValueError(f"sessions need at least 2 items to predict one, got {items.size(1)}")
    logits = model(items)[:, 1:]  # (B, T - 1, V)
    return F.cross_entropy(logits.reshape(-1, model.nb_items), items[:, 1:].reshape(-1))


def ranks(scores: torch.Tensor, items: torch.Tensor,
          positions: Sequence[int] | None = None) -> torch.Tensor:
    """The rank (N, P) of each true item of ``items`` (N, T) under ``scores`` (N, T, V) at
    ``positions`` (default: every t >= 1): 1 + the number of items scored higher + half the
    number scored equal (the expected rank when ties are broken at random)."""
    if scores.dim() != 3 or scores.shape[:2] != items.shape:
        raise ValueError(f"scores (N, T, V) must match items (N, T): got {tuple(scores.shape)} "
                         f"and {tuple(items.shape)}")
    positions = list(range(1, items.size(1)) if positions is None else positions)
    if not positions:
        raise ValueError("no position to score (sessions of one item?)")
    s, y = scores[:, positions], items[:, positions]  # (N, P, V), (N, P)
    true = s.gather(2, y.unsqueeze(2))  # (N, P, 1)
    return 1 + (s > true).sum(2) + 0.5 * ((s == true).sum(2) - 1)  # (N, P)


def rank_metrics(scores: torch.Tensor, items: torch.Tensor, k: int = 10,
                 positions: Sequence[int] | None = None) -> dict[str, float]:
    """MRR (mean of 1 / rank) and hit rate at k (the fraction of ranks <= k) of ``scores``
    (N, T, V) for the true ``items`` (N, T), over ``positions`` (default: every t >= 1)."""
    check_int("k", k)
    rank = ranks(scores, items, positions)  # (N, P)
    return {"mrr": (1.0 / rank).mean().item(), "hit_rate": (rank <= k).float().mean().item(),
            "k": k, "positions": rank.numel()}


@torch.no_grad()
def mrr_and_hit_rate(model: NextItemModel, items: torch.Tensor, k: int = 10,
                     positions: Sequence[int] | None = None,
                     batch_size: int = 256) -> dict[str, float]:
    """``rank_metrics`` of the model's logits on held-out sessions ``items`` (N, T), by batches;
    the model's train/eval mode is restored after."""
    check_items(items, model.nb_items, "mrr_and_hit_rate")
    check_int("k", k)
    was_training = model.training
    model.eval()
    try:
        rank = torch.cat([ranks(model(batch), batch, positions)
                          for batch in items.split(batch_size)])  # (N, P)
    finally:
        model.train(was_training)
    return {"mrr": (1.0 / rank).mean().item(), "hit_rate": (rank <= k).float().mean().item(),
            "k": k, "positions": rank.numel()}


def train_next_item(model: NextItemModel, train_items: torch.Tensor, *, epochs: int,
                    batch_size: int = 64, lr: float = 3e-3, test_items: torch.Tensor | None = None,
                    k: int = 10, seed: int = 0, progress: bool = True) -> dict[str, list[float]]:
    """Adam on ``next_item_loss``, every position of every session at once. Returns the history:
    ``train_loss`` (nats, mean over each epoch's batches), ``epoch_seconds`` (the wall time of
    each epoch's training, evaluation excluded) and, with ``test_items``, ``test_mrr`` and
    ``test_hit_rate`` after each epoch."""
    check_items(train_items, model.nb_items, "train_next_item")
    check_int("epochs", epochs, 0)
    check_int("batch_size", batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    history = {key: [] for key in ("train_loss", "epoch_seconds", "test_mrr", "test_hit_rate")}
    bar = tqdm(range(epochs), desc=f"training {type(model.encoder).__name__}", disable=not progress)
    for _ in bar:
        model.train()
        start, total = time.perf_counter(), 0.0
        for idx in torch.randperm(train_items.size(0), generator=shuffle).split(batch_size):
            batch = train_items[idx]  # (b, T)
            loss = next_item_loss(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.size(0)
        history["epoch_seconds"].append(time.perf_counter() - start)
        history["train_loss"].append(total / train_items.size(0))
        shown = f"loss {history['train_loss'][-1]:.3f} nats"
        if test_items is not None:
            metrics = mrr_and_hit_rate(model, test_items, k)
            history["test_mrr"].append(metrics["mrr"])
            history["test_hit_rate"].append(metrics["hit_rate"])
            shown += f", test MRR {metrics['mrr']:.3f}, hit@{k} {metrics['hit_rate']:.3f}"
        bar.set_postfix_str(shown)
    return history


# ---------------------------------------------------------------------------------- streaming
class Stepper:
    """Items arriving one at a time: ``step(previous (B,) or None)`` returns the representation
    (B, dim) of the next position, equal to the encoder's full pass there (to round-off). The
    LSTM carries (h, c), the CNN a queue of (k - 1) d past columns per layer
    (``toylib.streaming.ConvStep``), mean pooling a running sum."""

    def __init__(self, encoder: _Encoder, batch_size: int) -> None:
        check_int("batch_size", batch_size)
        if encoder.training:
            raise ValueError("put the encoder in eval mode first (encoder.eval())")
        self.encoder, self.t = encoder, 0
        dtype = encoder.embedding.weight.dtype
        self.zeros = torch.zeros(batch_size, encoder.dim, dtype=dtype)  # (B, dim)
        self.state, self.total = None, self.zeros.clone()
        if isinstance(encoder, CausalCNNEncoder):
            self.queues = [ConvStep(conv, batch_size, dtype) for conv in encoder.convs]

    @torch.no_grad()
    def step(self, previous: torch.Tensor | None) -> torch.Tensor:
        with one_thread():  # tiny operations: a second thread only adds wake-ups
            return self._step(previous)

    def _step(self, previous: torch.Tensor | None) -> torch.Tensor:
        if previous is None:
            e = self.zeros  # t = 0: no item yet
        else:
            e = self.encoder.embedding(check_items(previous.view(-1, 1), self.encoder.nb_items,
                                                   "Stepper.step")[:, 0])  # (B, dim)
        self.t += 1
        if isinstance(self.encoder, MeanPoolEncoder):
            self.total = self.total + e
            return self.total / max(self.t - 1, 1)  # (B, dim)
        if isinstance(self.encoder, LSTMEncoder):
            out, self.state = self.encoder.lstm(e.unsqueeze(1), self.state)  # (B, 1, dim)
            return out[:, 0]  # (B, dim)
        h = e
        for queue in self.queues:
            h = h + F.relu(queue(h))  # (B, dim)
        return h
