"""Fast mode follows CI / NBGRADER_EXECUTION; setup seeds every generator and checks its input."""

import random

import numpy as np
import pytest
import torch

from toylib.config import fast_mode, setup


@pytest.mark.parametrize("env,expected", [
    ({}, False),
    ({"CI": "true"}, True),
    ({"CI": "1"}, True),
    ({"NBGRADER_EXECUTION": "autograde"}, True),
    ({"NBGRADER_EXECUTION": "validate"}, True),
    ({"CI": "false"}, False),
    ({"CI": "0", "NBGRADER_EXECUTION": ""}, False),
])
def test_fast_mode(monkeypatch, env, expected):
    for name in ("CI", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert fast_mode() is expected


def test_setup_seeds_everything_and_reports_the_mode(monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    threads = torch.get_num_threads()
    try:
        assert setup(seed=3, threads=1) is True
        assert torch.get_num_threads() == 1
        first = (random.random(), np.random.rand(), torch.rand(1).item())
        setup(seed=3)
        assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
        assert "mode=fast" in capsys.readouterr().out
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("kwargs,message", [
    (dict(seed=1.5), "seed must be an int"),
    (dict(threads=0), "threads must be a positive int"),
])
def test_setup_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        setup(**kwargs)
