"""How much caching speeds up sampling: naive full prefix vs receptive-field window vs cached.

    python benchmarks/cached_sampling.py                  # a table, and a plot
    python benchmarks/cached_sampling.py --json           # one JSON object
    python benchmarks/cached_sampling.py --lengths 500 1000 --model dilated

The model: a 10-layer dilated causal net, dilations 1, 2, ..., 512, kernel 2, 32 channels, 256
classes (toylib's ``WaveNet``, gated residual blocks with skip connections, by default; or
``--model dilated``, plain ``DilatedCausalNet``), random weights, batch 16, on ``--threads``
threads. For each length T, three ways to draw the step that produces position T, side by side
in one run, each from the same prefix of T - ``--steps`` tokens and the same random generator:

- naive: ``toylib.sample.sample``, the net run on the whole prefix at every step (the cost of a
  step grows with T); timed over the last ``--steps`` steps;
- window: ``sample(..., window=R)``, the net run on the last R = receptive field inputs only;
- cached: ``toylib.sample.sample_cached``, every layer's queue of past activations kept
  (``toylib.streaming``); a step costs the same at any T, timed over the whole sequence.

Printed: milliseconds per generated step and the ratios, whether the three drew identical tokens,
and the largest difference between the cached logits and the full forward pass over the
generated sequence. Then PixelCNN: seconds to sample 16 images (8x8 digits, and 28x28 as MNIST's)
with ``sample_images`` (one full pass per pixel) and ``sample_images_cached`` (the vertical stack
once per row, the horizontal stack on the current row only). The plot
(``--plot``) shows the time per step against T.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from toylib.data import tokens_to_input  # noqa: E402
from toylib.models import DilatedCausalNet, WaveNet  # noqa: E402
from toylib.pixelcnn import TwoStackPixelCNN  # noqa: E402
from toylib.sample import sample, sample_cached, sample_images, sample_images_cached  # noqa: E402
from toylib.streaming import streaming_logits  # noqa: E402

CLASSES, CHANNELS, BATCH, DILATIONS = 256, 32, 16, [2**i for i in range(10)]
TARGETS = {"cached_vs_naive": 100.0, "cached_vs_window": 20.0, "max_abs_logit_diff": 1e-6}


def make_model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "wavenet":
        return WaveNet(CLASSES, CHANNELS, CHANNELS, 2, DILATIONS).eval()
    return DilatedCausalNet(CLASSES, CHANNELS, 2, DILATIONS).eval()


def measure(model: torch.nn.Module, length: int, steps: int, seed: int) -> dict:
    """ms per step of the three samplers at ``length``, from one shared prefix."""
    steps = min(steps, length)
    prefix = sample_cached(model, BATCH, length - steps, CLASSES,
                           generator=torch.Generator().manual_seed(seed)) if length > steps \
        else None
    drawn, ms = {}, {}
    for method in ("naive", "window", "cached"):
        generator = torch.Generator().manual_seed(seed + 1)
        start = time.perf_counter()
        if method == "cached":
            drawn[method] = sample_cached(model, BATCH, length, CLASSES, generator=generator,
                                          prefix=prefix)
            ms[method] = 1e3 * (time.perf_counter() - start) / length  # every step is a step
        else:
            window = model.receptive_field if method == "window" else None
            drawn[method] = sample(model, BATCH, length, CLASSES, generator=generator,
                                   prefix=prefix, window=window)
            ms[method] = 1e3 * (time.perf_counter() - start) / steps
    tokens = drawn["cached"]
    with torch.no_grad():
        full = model(tokens_to_input(tokens, CLASSES))  # (B, T, C)
    diff = (full - streaming_logits(model, tokens, CLASSES)).abs().max().item()
    return {"length": length, "naive_ms_per_step": round(ms["naive"], 4),
            "window_ms_per_step": round(ms["window"], 4),
            "cached_ms_per_step": round(ms["cached"], 4),
            "naive_over_cached": round(ms["naive"] / ms["cached"], 1),
            "window_over_cached": round(ms["window"] / ms["cached"], 1),
            "identical_tokens": bool(torch.equal(drawn["naive"], drawn["cached"])
                                     and torch.equal(drawn["window"], drawn["cached"])),
            "max_abs_logit_diff": diff}


def pixelcnn_seconds(size: int, seed: int) -> dict:
    torch.manual_seed(0)
    model = TwoStackPixelCNN(17, 32, 5, 2, image_size=(size, size)).eval()
    out = {}
    for name, fn in (("naive", sample_images), ("cached", sample_images_cached)):
        start = time.perf_counter()
        out[name] = fn(model, 16, size, size, 17, generator=torch.Generator().manual_seed(seed))
        out[name + "_s"] = time.perf_counter() - start
    return {"image_size": size, "naive_seconds": round(out["naive_s"], 3),
            "cached_seconds": round(out["cached_s"], 3),
            "speedup": round(out["naive_s"] / out["cached_s"], 1),
            "identical_images": bool(torch.equal(out["naive"], out["cached"]))}


def plot(rows: list[dict], path: Path, threads: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    lengths = [r["length"] for r in rows]
    for key, label, style in (("naive_ms_per_step", "naive (whole prefix)", "o-"),
                              ("window_ms_per_step", "receptive-field window", "s-"),
                              ("cached_ms_per_step", "cached (a queue per layer)", "^-")):
        ax.plot(lengths, [r[key] for r in rows], style, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("length T (position being generated)")
    ax.set_ylabel("ms per generated step")
    ax.set_title(f"10-layer dilated net, batch {BATCH}, {threads} threads")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    parser.add_argument("--steps", type=int, default=20,
                        help="steps timed for naive and window (default 20)")
    parser.add_argument("--model", choices=["wavenet", "dilated"], default="wavenet")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pixelcnn-sizes", type=int, nargs="*", default=[8, 28],
                        help="image sizes of the PixelCNN timing (default 8 28; none to skip)")
    parser.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "results" /
                        "cached_sampling.png", help="where to write the plot")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if min(args.lengths) < 1 or args.steps < 1 or args.threads < 1:
        parser.error("lengths, --steps and --threads must be positive")
    torch.set_num_threads(args.threads)
    model = make_model(args.model)
    for window in (None, model.receptive_field):  # warm-up
        sample(model, BATCH, 50, CLASSES, window=window)
    sample_cached(model, BATCH, 50, CLASSES)
    rows = [measure(model, length, args.steps, args.seed) for length in args.lengths]
    pixel = [pixelcnn_seconds(size, args.seed) for size in args.pixelcnn_sizes]
    plot(rows, args.plot, torch.get_num_threads())
    main_row = next((r for r in rows if r["length"] == 2000), rows[-1])
    result = {**{k: main_row[k] for k in ("naive_ms_per_step", "window_ms_per_step",
                                          "cached_ms_per_step", "max_abs_logit_diff",
                                          "identical_tokens")},
              "length": main_row["length"], "threads": torch.get_num_threads(),
              "cached_vs_naive": main_row["naive_over_cached"],
              "cached_vs_window": main_row["window_over_cached"],
              "targets": TARGETS, "rows": rows, "pixelcnn": pixel,
              "model": args.model, "receptive_field": model.receptive_field, "batch": BATCH,
              "plot": str(args.plot.relative_to(REPO)) if args.plot.is_relative_to(REPO)
              else str(args.plot),
              "torch": torch.__version__, "python": platform.python_version()}
    result["targets_met"] = (result["cached_vs_naive"] >= TARGETS["cached_vs_naive"]
                             and result["cached_vs_window"] >= TARGETS["cached_vs_window"]
                             and result["max_abs_logit_diff"] <= TARGETS["max_abs_logit_diff"]
                             and result["identical_tokens"])
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"\n{args.model}: 10 layers, dilations 1..512 (receptive field "
          f"{model.receptive_field}), kernel 2, {CHANNELS} channels, {CLASSES} classes, batch "
          f"{BATCH}, {result['threads']} threads\n")
    print(f"{'T':>6} {'naive ms':>9} {'window ms':>10} {'cached ms':>10} {'naive/cached':>13} "
          f"{'window/cached':>14} {'same tokens':>12} {'max |dlogit|':>13}")
    for r in rows:
        print(f"{r['length']:6d} {r['naive_ms_per_step']:9.2f} {r['window_ms_per_step']:10.2f} "
              f"{r['cached_ms_per_step']:10.3f} {r['naive_over_cached']:12.1f}x "
              f"{r['window_over_cached']:13.1f}x {str(r['identical_tokens']):>12} "
              f"{r['max_abs_logit_diff']:13.2e}")
    for p in pixel:
        print(f"\nPixelCNN (two stacks, 2 layers, 32 channels), 16 images of {p['image_size']}x"
              f"{p['image_size']}: naive {p['naive_seconds']:.2f} s, row-cached "
              f"{p['cached_seconds']:.2f} s ({p['speedup']:.1f}x), identical images: "
              f"{p['identical_images']}")
    verdict = "met" if result["targets_met"] else "NOT met"
    print(f"\ntargets at T = {result['length']}: cached >= 100x naive, >= 20x window, logits "
          f"within 1e-6, identical tokens: {verdict}\nplot: {result['plot']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
