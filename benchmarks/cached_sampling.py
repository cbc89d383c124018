"""How much caching speeds up sampling: naive full prefix vs receptive-field window vs cached.

    python benchmarks/cached_sampling.py                  # a table per setting, and a plot
    python benchmarks/cached_sampling.py --json           # one JSON object
    python benchmarks/cached_sampling.py --lengths 500 1000 --model dilated
    python benchmarks/cached_sampling.py --threads 1      # this process only, as it is set

The model: a 10-layer dilated causal net, dilations 1, 2, ..., 512, kernel 2, 32 channels, 256
classes (toylib's ``WaveNet``, gated residual blocks with skip connections, by default; or
``--model dilated``, plain ``DilatedCausalNet``), random weights, batch 16.

Settings. The headline is what a student gets in the lab: 2 torch threads (torch's default on a
2-core machine) with ``OMP_WAIT_POLICY=PASSIVE``, the value ``make lab`` exports. Beside it, each
in its own process (the policy is read when OpenMP starts): 1 thread with PASSIVE, and 2 and 1
threads with the policy unset (``--settings`` changes the list; ``--threads N`` measures in this
process only, with whatever policy it was started with). The naive loop and the window run on the
setting's threads; the cached sampler runs its steps on one thread whatever the caller's
(``toylib.config.one_thread``: with PASSIVE, each of a step's tiny operations would otherwise wake
a sleeping second thread).

For each length T, three ways to draw the step that produces position T, side by side in one run,
each from the same prefix of T - ``--steps`` tokens and the same random generator:

- naive: ``toylib.sample.sample``, the net run on the whole prefix at every step (the cost of a
  step grows with T); timed over the last ``--steps`` steps;
- window: ``sample(..., window=R)``, the net run on R + 1 positions only: the R = receptive field
  past inputs plus the slot being predicted;
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
import os
import platform
import subprocess
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
# threads:OMP_WAIT_POLICY of each measured process, the headline (the lab's settings) first
SETTINGS = ("2:PASSIVE", "1:PASSIVE", "2:unset", "1:unset")
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
    parser.add_argument("--threads", type=int, default=None,
                        help="measure in this process only, on this many torch threads")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), metavar="THREADS:POLICY",
                        help="threads and OMP_WAIT_POLICY of each process, the headline first "
                             f"(default {' '.join(SETTINGS)}; 'unset' for no policy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pixelcnn-sizes", type=int, nargs="*", default=[8, 28],
                        help="image sizes of the PixelCNN timing (default 8 28; none to skip)")
    parser.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "results" /
                        "cached_sampling.png", help="where to write the plot")
    parser.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if min(args.lengths) < 1 or args.steps < 1 or (args.threads is not None and args.threads < 1):
        parser.error("lengths, --steps and --threads must be positive")
    if args.threads is None:
        return run_settings(args, parser)
    torch.set_num_threads(args.threads)
    model = make_model(args.model)
    for window in (None, model.receptive_field):  # warm-up
        sample(model, BATCH, 50, CLASSES, window=window)
    sample_cached(model, BATCH, 50, CLASSES)
    rows = [measure(model, length, args.steps, args.seed) for length in args.lengths]
    pixel = [pixelcnn_seconds(size, args.seed) for size in args.pixelcnn_sizes]
    if not args.no_plot:
        plot(rows, args.plot, torch.get_num_threads())
    main_row = next((r for r in rows if r["length"] == 2000), rows[-1])
    result = {**{k: main_row[k] for k in ("naive_ms_per_step", "window_ms_per_step",
                                          "cached_ms_per_step", "max_abs_logit_diff",
                                          "identical_tokens")},
              "length": main_row["length"], "threads": torch.get_num_threads(),
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
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
    print_table(result, rows, pixel)
    return 0


def print_table(result: dict, rows: list[dict], pixel: list[dict]) -> None:
    print(f"\n{result['model']}: 10 layers, dilations 1..512 (receptive field "
          f"{result['receptive_field']}), kernel 2, {CHANNELS} channels, {CLASSES} classes, batch "
          f"{BATCH}, {result['threads']} threads, OMP_WAIT_POLICY {result['omp_wait_policy']}\n")
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
          f"within 1e-6, identical tokens: {verdict}")


def run_settings(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Each setting in its own process (OpenMP reads its policy at start), the first the
    headline; one table per setting, then a summary of all of them side by side."""
    settings = []
    for text in args.settings:
        threads, _, policy = text.partition(":")
        if not threads.isdigit() or int(threads) < 1 or policy not in ("PASSIVE", "ACTIVE",
                                                                         "unset"):
            parser.error(f"a setting is THREADS:POLICY, e.g. 2:PASSIVE or 1:unset, got {text!r}")
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        if policy != "unset":
            env["OMP_WAIT_POLICY"] = policy
        command = [sys.executable, str(Path(__file__).resolve()), "--json", "--threads", threads,
                   "--lengths", *map(str, args.lengths), "--steps", str(args.steps),
                   "--model", args.model, "--seed", str(args.seed),
                   "--pixelcnn-sizes", *map(str, args.pixelcnn_sizes), "--plot", str(args.plot)]
        if settings or args.no_plot:  # the plot is the headline's
            command.append("--no-plot")
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            return proc.returncode
        settings.append(json.loads(proc.stdout))
    head = settings[0]
    result = {**head, "settings": [{k: v for k, v in r.items() if k not in
                                    ("targets", "torch", "python", "plot")} for r in settings]}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for number, r in enumerate(settings):
        print(("HEADLINE, the lab's settings" if number == 0 else "beside it") + ":")
        print_table(r, r["rows"], r["pixelcnn"])
        print()
    print(f"all settings at T = {head['length']}, ms per step (the cached step runs on one "
          "thread in every setting):")
    print(f"{'threads':>7} {'OMP_WAIT_POLICY':>16} {'naive':>8} {'window':>8} {'cached':>8} "
          f"{'naive/cached':>13} {'window/cached':>14} {'same tokens':>12}")
    for r in settings:
        print(f"{r['threads']:7d} {r['omp_wait_policy']:>16} {r['naive_ms_per_step']:8.2f} "
              f"{r['window_ms_per_step']:8.2f} {r['cached_ms_per_step']:8.3f} "
              f"{r['cached_vs_naive']:12.1f}x {r['cached_vs_window']:13.1f}x "
              f"{str(r['identical_tokens']):>12}")
    print(f"plot (headline): {head['plot']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
