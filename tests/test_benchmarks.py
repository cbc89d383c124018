"""The benchmark scripts run and print the JSON keys that other tools read (tiny settings: the
figures themselves are measured by ``make bench-*``, not here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_json(script: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args, "--json"],
                          capture_output=True, text=True, timeout=1800, cwd=REPO)  # hang guard only
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_pixelcnn_benchmark_prints_its_keys():
    result = run_json("pixelcnn_digits.py", "--seconds", "0.5", "--layers", "1",
                      "--channels", "4", "--threads", "1")
    for key in ("test_nll_nats", "train_seconds", "threads", "positional",
                "test_nll_nats_without_pe"):
        assert key in result, key
    assert result["positional"] is True and result["threads"] == 1
    assert result["train_seconds"] > 0  # the budget's rule: tests/test_time_budgets.py
    assert 0 < result["test_nll_nats"] < 400 and 0 < result["test_nll_nats_without_pe"] < 400
    assert result["target_met"] is False  # one thread, not the benchmark's setting


def test_encoder_sweep_benchmark_prints_its_keys():
    result = run_json("encoder_sweep.py", "--widths", "8", "--lrs", "1e-2", "--seeds", "1",
                      "--epochs", "1", "--sessions", "64")
    for key in ("lstm_used_repeat", "cnn_used_repeat", "chain_only_mrr_late", "rule_mrr_late",
                "settings", "wall_seconds", "threads", "config"):
        assert key in result, key
    assert 0.4 < result["chain_only_mrr_late"] < result["rule_mrr_late"] <= 1
    lstm, cnn = result["settings"]
    assert (lstm["encoder"], lstm["dim"], len(lstm["runs"])) == ("LSTM", 8, 1), lstm
    assert lstm["mrr_late_min"] <= lstm["mrr_late_mean"] <= lstm["mrr_late_max"]
    assert cnn["encoder"] == "CNN dilated" and result["threads"] == 1


def test_cached_sampling_benchmark_prints_its_keys(tmp_path):
    result = run_json("cached_sampling.py", "--lengths", "30", "--steps", "3",
                      "--threads", "1", "--pixelcnn-sizes", "4", "--plot",
                      str(tmp_path / "plot.png"))
    for key in ("naive_ms_per_step", "window_ms_per_step", "cached_ms_per_step",
                "max_abs_logit_diff", "identical_tokens", "threads"):
        assert key in result, key
    assert result["identical_tokens"] is True and result["threads"] == 1
    assert result["max_abs_logit_diff"] < 1e-5
    assert result["pixelcnn"][0]["identical_images"] is True
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_cached_sampling_benchmark_runs_each_setting_in_its_own_process(tmp_path):
    result = run_json("cached_sampling.py", "--settings", "1:PASSIVE", "1:unset", "--lengths",
                      "30", "--steps", "3", "--pixelcnn-sizes", "--plot",
                      str(tmp_path / "plot.png"))
    policies = [(r["threads"], r["omp_wait_policy"]) for r in result["settings"]]
    assert policies == [(1, "PASSIVE"), (1, "unset")]  # the headline first
    assert (result["threads"], result["omp_wait_policy"]) == (1, "PASSIVE")
    assert result["cached_ms_per_step"] == result["settings"][0]["cached_ms_per_step"]
    assert all(r["identical_tokens"] for r in result["settings"])
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_grading_under_load_benchmark_prints_its_keys():
    result = run_json("grading_under_load.py", "--only", "invalid_json", "not_a_notebook", "--load",
                      "0", "1", "--no-sandbox")
    assert result["students"] == 2 and [run["load"] for run in result["runs"]] == [0, 1]
    for run in result["runs"]:
        assert set(run) == {"load", "jobs", "shards", "seconds", "same_grades_csv"}
        assert run["same_grades_csv"] is True and run["seconds"] > 0


def test_longconv_benchmark_prints_its_keys():
    result = run_json("longconv.py", "--length", "64", "--channels", "4", "--threads", "1",
                      "--repeats", "2")
    for key in ("direct_ms", "fft_ms", "crossover_length", "max_abs_diff", "threads",
                "speedup_at_full_length", "target_met"):
        assert key in result, key
    assert list(result["direct_ms"]) == list(result["fft_ms"]) == ["16", "32", "64"]
    assert all(diff < 1e-4 for diff in result["max_abs_diff"].values())
    assert result["crossover_length"] in (None, 16, 32, 64) and result["threads"] == 1
    assert result["target_met"] is False  # tiny settings, not the benchmark's
