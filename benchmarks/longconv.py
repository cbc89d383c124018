"""Long causal convolutions: summed directly (F.conv1d) vs by FFT, as the filter grows to T.

    python benchmarks/longconv.py                  # a table
    python benchmarks/longconv.py --json           # one JSON object
    python benchmarks/longconv.py --length 256 --channels 8 --repeats 3

A depthwise causal convolution of C = 64 channels over T = 4096 steps (batch 1, float32, random
normal inputs and filters, seed 0), with filters of length L = 16, 32, ..., T (Hyena and S4's
long convolutions have L = T): ``toylib.longconv.causal_conv_direct`` (left padding and
``F.conv1d`` with groups=C: O(T L) per channel) against ``toylib.longconv.fft_causal_conv`` (rfft,
product, irfft, zero-padded to a power of two >= T + L - 1: O(T log T)). Both run on ``--threads``
torch threads (default 2, ``torch.set_num_threads``), in the same run, alternately: for each L
one warm-up call of each, then ``--repeats`` rounds of one call of each, the median kept.
Printed: milliseconds per call, the ratio direct / FFT, and how far apart the two answers are
(max |fft - direct| / max |direct| at each L), and the crossover length: the smallest L from
which the FFT is faster at every longer L measured.

The claim it measures: at L = T = 4096 (C = 64, B = 1, 2 threads) the FFT is at least 10 times
faster than the direct sum and equal to it within 1e-4 of its magnitude (``target_met``; False
at other settings). Threads wait with ``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets
another policy: the lab's setting (``make lab`` exports it), and the only one that measures
anything on a shared 2-core machine: with spinning threads and one other busy process, nearly
every call here took 45 to 65 ms, direct or FFT, L = 16 or 4096 (medians of 21). Best run on an
otherwise idle machine. ``--json`` keys: ``direct_ms``, ``fft_ms``, ``speedup`` and
``max_abs_diff`` (each a dict keyed by L), ``crossover_length`` (an L or null), ``threads``,
``speedup_at_full_length``, ``target_met``, and more.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch loads OpenMP: before it

import torch  # noqa: E402

from toylib.longconv import causal_conv_direct, fft_causal_conv  # noqa: E402

SETTING = {"length": 4096, "channels": 64, "batch": 1, "threads": 2}
TARGET = {"speedup_at_full_length": 10.0, "max_abs_diff": 1e-4}


def filter_lengths(length: int, shortest: int = 16) -> list[int]:
    """16, 32, ... up to ``length``, and ``length`` itself (the filter as long as the input)."""
    lengths = []
    while shortest < length:
        lengths.append(shortest)
        shortest *= 2
    return lengths + [length]


def milliseconds(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return 1e3 * (time.perf_counter() - start)


def measure(x: torch.Tensor, taps: int, repeats: int, seed: int) -> dict:
    """Direct and FFT at one filter length, alternately, after a warm-up call of each."""
    kernel = torch.randn(x.size(1), taps, generator=torch.Generator().manual_seed(seed + taps))
    kernel /= taps ** 0.5  # (C, L), outputs of about unit size at every L
    with torch.no_grad():
        direct, fft = causal_conv_direct(x, kernel), fft_causal_conv(x, kernel)  # warm-up
        times = {"direct": [], "fft": []}
        for _ in range(repeats):
            times["direct"].append(milliseconds(causal_conv_direct, x, kernel))
            times["fft"].append(milliseconds(fft_causal_conv, x, kernel))
    direct_ms, fft_ms = statistics.median(times["direct"]), statistics.median(times["fft"])
    diff = ((fft - direct).abs().max() / direct.abs().max()).item()
    return {"filter_length": taps, "direct_ms": round(direct_ms, 3), "fft_ms": round(fft_ms, 3),
            "speedup": round(direct_ms / fft_ms, 2), "max_abs_diff": diff}


def crossover(rows: list[dict]) -> int | None:
    """The smallest L from which the FFT is faster at every longer L measured, or None."""
    found = None
    for row in reversed(rows):
        if row["fft_ms"] >= row["direct_ms"]:
            break
        found = row["filter_length"]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=SETTING["length"],
                        help="sequence length T, the longest filter (default 4096)")
    parser.add_argument("--channels", type=int, default=SETTING["channels"],
                        help="channels C (default 64)")
    parser.add_argument("--batch", type=int, default=SETTING["batch"], help="batch (default 1)")
    parser.add_argument("--threads", type=int, default=SETTING["threads"],
                        help="torch threads (default 2)")
    parser.add_argument("--repeats", type=int, default=21,
                        help="timed calls of each method per filter length, median kept "
                             "(default 21)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if min(args.length, args.channels, args.batch, args.threads, args.repeats) < 1:
        parser.error("--length, --channels, --batch, --threads and --repeats must be positive")
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    x = torch.randn(args.batch, args.channels, args.length,
                    generator=torch.Generator().manual_seed(args.seed))  # (B, C, T)
    rows = [measure(x, taps, args.repeats, args.seed) for taps in filter_lengths(args.length)]
    full = rows[-1]
    by_length = {key: {str(r["filter_length"]): r[key] for r in rows}
                 for key in ("direct_ms", "fft_ms", "speedup", "max_abs_diff")}
    setting = {"length": args.length, "channels": args.channels, "batch": args.batch,
               "threads": torch.get_num_threads()}
    result = {
        **by_length,
        "crossover_length": crossover(rows),
        "threads": torch.get_num_threads(),
        "speedup_at_full_length": full["speedup"],
        "max_abs_diff_at_full_length": full["max_abs_diff"],
        "target": TARGET,
        "target_met": setting == SETTING
        and full["speedup"] >= TARGET["speedup_at_full_length"]
        and full["max_abs_diff"] <= TARGET["max_abs_diff"],
        **{k: v for k, v in setting.items() if k != "threads"},
        "filter_lengths": [r["filter_length"] for r in rows],
        "repeats": args.repeats, "dtype": "float32", "seed": args.seed,
        "wall_seconds": round(time.perf_counter() - start, 2),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "not set"),
        "torch": torch.__version__, "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"\ndepthwise causal convolution, C = {args.channels}, T = {args.length}, B = "
          f"{args.batch}, float32, {result['threads']} torch threads (torch.set_num_threads), "
          f"OMP_WAIT_POLICY {result['omp_wait_policy']}; median of {args.repeats} calls each, "
          "alternately\n")
    print(f"{'L':>6} {'direct ms':>10} {'FFT ms':>9} {'direct/FFT':>11} {'max |diff| rel':>15}")
    for r in rows:
        print(f"{r['filter_length']:6d} {r['direct_ms']:10.3f} {r['fft_ms']:9.3f} "
              f"{r['speedup']:10.2f}x {r['max_abs_diff']:15.2e}")
    crossing = result["crossover_length"]
    print(f"\nFFT faster from L = {crossing} on" if crossing else "\nFFT never faster at the "
          "longest L")
    verdict = "met" if result["target_met"] else "NOT met"
    print(f"target at L = T = 4096 (C = 64, B = 1, 2 threads): FFT >= 10x faster, equal within "
          f"1e-4: {verdict} ({full['speedup']:.1f}x, {full['max_abs_diff']:.1e}; "
          f"{result['wall_seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
