"""Does an LSTM learn lecture 05's repeat 10 steps back? A small sweep, 3 seeds each.

    python benchmarks/encoder_sweep.py                    # a table (about 8 minutes, 1 thread)
    python benchmarks/encoder_sweep.py --json             # one JSON object
    python benchmarks/encoder_sweep.py --widths 32 64 --lrs 1e-2

Lecture 05 (section 3) trains each encoder once (one seed, Adam at 1e-2, 25 epochs, width 32)
and its LSTM ends on the chain-only reference at t >= 10: it did not use the item 10 steps back,
where the dilated CNN did. One run of one setting says little about the architecture, so this
script trains, on the lecture's exact data (4000 training sessions of 40 items out of 100, lag
10, repeat 1/2, branching 3; the 1000 held-out sessions of seed 2) with the lecture's training
(``toylib.sequences.train_next_item``: full softmax, batch 64, 25 epochs):

- ``LSTMEncoder`` at every state width of ``--widths`` (default 32, the lecture's, and 128) and
  every learning rate of ``--lrs`` (default 1e-2, the lecture's, and 3e-3, toylib's default);
- ``CausalCNNEncoder`` at the lecture's settings (width 32, kernel 2, dilations 1, 2, 4, 8,
  lr 1e-2);

each from ``--seeds`` seeds (default 3: seed s sets the initial weights and the order of the
batches; seed 0 is not the lecture's exact initialisation). Printed, per setting: the held-out
MRR at t >= 10 (the positions where the repeat can be used) after the last epoch, mean and
min-max over the seeds, hit@10 there, the best all-position test MRR any epoch reached (was
something learned and then lost?), seconds per training, and how many seeds "used the repeat":
MRR at t >= 10 above the chain-only reference + 0.05 (lecture 05's own check for the dilated
CNN). Next to them the lecture's two references: the chain's own probabilities (what reading the
last item gives: MRR about 0.51 at t >= 10) and the rule's (chain + repeat, about 0.75).

The full run takes about 8 minutes on one thread of a 2-core CPU (measured: 458 s, the 128-wide
LSTM most of it); ``--widths``, ``--lrs``, ``--seeds``, ``--epochs`` and ``--sessions`` make it
smaller. The grid is small on purpose: it answers "did this run's LSTM fail by bad luck or a bad
setting nearby?", not "can an LSTM learn the repeat?" (longer training was not tried).
``--json`` keys: ``lstm_used_repeat`` (any LSTM seed above the threshold), ``cnn_used_repeat``
(every CNN seed above it), ``chain_only_mrr_late``, ``rule_mrr_late``, ``settings`` (per
setting: ``mrr_late_mean``, ``mrr_late_min``, ``mrr_late_max``, ``seeds_using_repeat``, the
per-seed values), ``wall_seconds``, ``threads``, ``config``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from toylib.config import setup  # noqa: E402
from toylib.sequences import (  # noqa: E402
    CausalCNNEncoder,
    LSTMEncoder,
    NextItemModel,
    make_sessions,
    mrr_and_hit_rate,
    next_item_probabilities,
    rank_metrics,
    train_next_item,
)

# lecture 05, cells 4 and 13
NB_ITEMS, LENGTH, LAG = 100, 40, 10
DATA = {"lag": LAG, "repeat": 0.5, "branching": 3}
LATE = list(range(LAG, LENGTH))  # t >= lag: where the repeat can be used
CNN = {"dim": 32, "kernel_size": 2, "dilations": (1, 2, 4, 8), "lr": 1e-2}
MARGIN = 0.05  # "used the repeat": MRR at t >= lag above the chain-only reference + MARGIN


def train_one(kind: str, dim: int, lr: float, seed: int, train_items: torch.Tensor,
              test_items: torch.Tensor, epochs: int) -> dict:
    """Train one encoder from ``seed``; return its held-out figures after the last epoch."""
    torch.manual_seed(seed)
    encoder = (LSTMEncoder(NB_ITEMS, dim) if kind == "LSTM" else
               CausalCNNEncoder(NB_ITEMS, dim, CNN["kernel_size"], CNN["dilations"]))
    model = NextItemModel(encoder, NB_ITEMS)
    start = time.perf_counter()
    history = train_next_item(model, train_items, epochs=epochs, lr=lr, test_items=test_items,
                              seed=seed, progress=False)
    late = mrr_and_hit_rate(model, test_items, positions=LATE)
    return {"seed": seed, "mrr_late": round(late["mrr"], 4),
            "hit_rate_late": round(late["hit_rate"], 4),
            "best_epoch_mrr_all": round(max(history["test_mrr"]), 4),
            "train_seconds": round(sum(history["epoch_seconds"]), 2),
            "wall_seconds": round(time.perf_counter() - start, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 128],
                        help="LSTM state widths (default 32 128)")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-2, 3e-3],
                        help="LSTM learning rates, Adam (default 1e-2 3e-3)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per setting (default 3)")
    parser.add_argument("--epochs", type=int, default=25, help="epochs (default 25)")
    parser.add_argument("--sessions", type=int, default=4000,
                        help="training sessions (default 4000, the lecture's full mode)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if min(args.widths) < 1 or min(args.lrs) <= 0 or min(args.seeds, args.epochs,
                                                          args.sessions, args.threads) < 1:
        parser.error("--widths, --lrs, --seeds, --epochs, --sessions, --threads must be positive")
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        setup(seed=0, threads=args.threads)  # its one line would break --json's object

    train_items = make_sessions(args.sessions, LENGTH, NB_ITEMS, seed=1, **DATA)  # (N, T)
    test_items = make_sessions(1000, LENGTH, NB_ITEMS, seed=2, **DATA)  # (1000, T)
    references = {}
    for name, see_lag in [("rule", True), ("chain_only", False)]:
        scores = next_item_probabilities(test_items, NB_ITEMS, see_lag=see_lag, **DATA)
        references[name] = rank_metrics(scores, test_items, positions=LATE)
        references[name]["mrr_all"] = rank_metrics(scores, test_items)["mrr"]
    threshold = references["chain_only"]["mrr"] + MARGIN

    grid = [("LSTM", dim, lr) for dim in args.widths for lr in args.lrs]
    grid.append(("CNN dilated", CNN["dim"], CNN["lr"]))
    start = time.perf_counter()
    settings = []
    for kind, dim, lr in grid:
        runs = []
        for seed in range(args.seeds):
            runs.append(train_one(kind, dim, lr, seed, train_items, test_items, args.epochs))
            if not args.json:
                print(f"  {kind} {dim}, lr {lr:g}, seed {seed}: MRR t>={LAG} "
                      f"{runs[-1]['mrr_late']:.3f} ({runs[-1]['wall_seconds']:.0f} s)",
                      file=sys.stderr, flush=True)
        late = [r["mrr_late"] for r in runs]
        settings.append({
            "encoder": kind, "dim": dim, "lr": lr, "lecture": dim == 32 and lr == 1e-2,
            "mrr_late_mean": round(sum(late) / len(late), 4),
            "mrr_late_min": min(late), "mrr_late_max": max(late),
            "hit_rate_late_mean": round(sum(r["hit_rate_late"] for r in runs) / len(runs), 4),
            "best_epoch_mrr_all_max": max(r["best_epoch_mrr_all"] for r in runs),
            "seeds_using_repeat": sum(m > threshold for m in late),
            "train_seconds_mean": round(sum(r["train_seconds"] for r in runs) / len(runs), 2),
            "runs": runs})
    wall = time.perf_counter() - start

    lstm = [s for s in settings if s["encoder"] == "LSTM"]
    cnn = [s for s in settings if s["encoder"] != "LSTM"]
    result = {
        "lstm_used_repeat": any(s["seeds_using_repeat"] for s in lstm),
        "cnn_used_repeat": all(s["seeds_using_repeat"] == args.seeds for s in cnn),
        "chain_only_mrr_late": round(references["chain_only"]["mrr"], 4),
        "rule_mrr_late": round(references["rule"]["mrr"], 4),
        "threshold_mrr_late": round(threshold, 4),
        "settings": settings,
        "wall_seconds": round(wall, 1),
        "threads": torch.get_num_threads(),
        "config": {"sessions": args.sessions, "test_sessions": 1000, "length": LENGTH,
                   "items": NB_ITEMS, **DATA, "epochs": args.epochs, "batch_size": 64,
                   "seeds": args.seeds, "lstm_widths": args.widths, "lstm_lrs": args.lrs,
                   "cnn": {**CNN, "dilations": list(CNN["dilations"])}},
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "not set"),
        "torch": torch.__version__, "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"\nlecture 05's data: {args.sessions} training sessions, 1000 held-out, T = {LENGTH}, "
          f"V = {NB_ITEMS}, repeat at lag {LAG}; {args.epochs} epochs, batch 64, Adam; "
          f"{args.seeds} seeds per setting, {result['threads']} thread\n")
    print(f"{'setting':34} {'MRR t>=10: mean':>15} {'(min-max)':>13} {'hit@10':>7} "
          f"{'best epoch':>10} {'s/train':>8} {'used repeat':>12}")
    for s in settings:
        name = (f"{s['encoder']} {s['dim']}, lr {s['lr']:g}"
                + (" (lecture)" if s["lecture"] or s["encoder"] != "LSTM" else ""))
        spread = f"({s['mrr_late_min']:.3f}-{s['mrr_late_max']:.3f})"
        print(f"{name:34} {s['mrr_late_mean']:15.3f} {spread:>13} {s['hit_rate_late_mean']:7.3f} "
              f"{s['best_epoch_mrr_all_max']:10.3f} {s['train_seconds_mean']:8.1f} "
              f"{s['seeds_using_repeat']:>8d} of {args.seeds}")
    for name, key in [("chain only (reference)", "chain_only"), ("rule, chain + repeat", "rule")]:
        print(f"{name:34} {references[key]['mrr']:15.3f} {'':>13} "
              f"{references[key]['hit_rate']:7.3f}")
    print(f"\nMRR and hit@10 at t >= {LAG} after the last epoch; best epoch: the highest test MRR "
          f"over all t >= 1 of any epoch and seed (chain only: "
          f"{references['chain_only']['mrr_all']:.3f}, rule: {references['rule']['mrr_all']:.3f}).")
    print(f"used repeat: seeds whose MRR at t >= {LAG} exceeds the chain-only reference + "
          f"{MARGIN:g} = {threshold:.3f}")
    print(f"any LSTM setting used the repeat: {'yes' if result['lstm_used_repeat'] else 'no'}; "
          f"the dilated CNN on every seed: {'yes' if result['cnn_used_repeat'] else 'no'}; "
          f"{wall:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
