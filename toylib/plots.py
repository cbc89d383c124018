"""Pictures of causal stacks, drawn from what the layers measurably do.

``draw_stack`` draws a stack of layers as the WaveNet paper's figure 3 does (van den Oord et al.,
2016, arXiv:1609.03499): a row of units per layer, inputs at the bottom, outputs at the top, an
edge from unit s of a layer to unit t of the next when t depends on s, and the edges that feed
one chosen output in colour. The edges come from ``layer_dependencies``, which measures each
layer with ``toylib.checks.dependency_map``, not from the formula: a wrong padding shows as edges
that lean into the future, a dilation as edges that skip units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from toylib.checks import dependency_map


def layer_dependencies(layers: Sequence[Callable[[torch.Tensor], torch.Tensor]], length: int,
                       channels: Sequence[int]) -> list[torch.Tensor]:
    """The measured map of each layer of a stack: ``maps[l][t, s]`` is True when output t of
    layer l depends on output s of layer l - 1 (on the input for l = 0). ``channels[l]`` is the
    number of input channels of layer l."""
    if len(layers) != len(channels):
        raise ValueError(f"got {len(layers)} layers but {len(channels)} channel counts")
    return [dependency_map(layer, length, c) for layer, c in zip(layers, channels, strict=True)]


def cone(maps: Sequence[torch.Tensor], output: int) -> list[set[int]]:
    """The units each row contributes to ``output`` of the last layer: ``rows[0]`` are inputs,
    ``rows[-1] == {output}``."""
    rows = [{output}]
    for deps in reversed(maps):
        rows.insert(0, {s for t in rows[0] for s in deps[t].nonzero().flatten().tolist()})
    return rows


def draw_stack(maps: Sequence[torch.Tensor], output: int | None = None, ax=None,
               names: Sequence[str] | None = None, title: str | None = None):
    """Draw the stack whose layers have the dependency ``maps``; colour the cone of ``output``
    (default: the last position). Returns the matplotlib axes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    length = maps[0].size(0)
    output = length - 1 if output is None else output
    if ax is None:
        _, ax = plt.subplots(figsize=(min(14, 0.35 * length + 2), 0.7 * len(maps) + 1.2))
    active = cone(maps, output)
    for row, deps in enumerate(maps, start=1):
        for t, s in deps.nonzero().tolist():
            lit = t in active[row] and s in active[row - 1]
            ax.plot([s, t], [row - 1, row], color="tab:red" if lit else "0.82",
                    lw=1.6 if lit else 0.6, zorder=2 if lit else 1)
    for row in range(len(maps) + 1):
        xs = list(range(length))
        colours = ["tab:red" if t in active[row] else "white" for t in xs]
        ax.scatter(xs, [row] * length, s=28, c=colours, edgecolors="0.3", zorder=3)
    labels = list(names) if names is not None else (
        ["input"] + [f"layer {i}" for i in range(1, len(maps))] + ["output"])
    ax.set_yticks(range(len(maps) + 1), labels)
    ax.set_xlabel("time t")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-0.7, length - 0.3)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    inputs = sorted(active[0])
    span = f"x[{inputs[0]}]..x[{inputs[-1]}]" if inputs else "no input"
    ax.set_title(title or f"output {output} reads {span} ({len(inputs)} inputs)")
    return ax
