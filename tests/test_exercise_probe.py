"""toylib.exercise: the plain-data codec that carries probe arguments and results between the
student's process and the grader's, and ``@probe`` as a notebook sees it."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn

from toylib.exercise import (
    DataError,
    ProbeError,
    decode,
    differs,
    encode,
    probe,
    probe_error,
    roundtrip,
)


@pytest.mark.parametrize("value", [
    None, True, False, 0, -3, 2**70, 1.5, "text", "", [1, [2, 3]], (1, "a"), {"k": [1, 2]},
    torch.float32, {"nested": {"deeper": (None, 1.0)}},
])
def test_plain_values_survive_a_json_round_trip(value) -> None:
    assert decode(json.loads(json.dumps(encode(value)))) == value


def test_special_floats() -> None:
    inf, nan = decode(json.loads(json.dumps(encode([math.inf, math.nan]))))
    assert inf == math.inf and math.isnan(nan)


@pytest.mark.parametrize("tensor", [
    torch.randn(2, 3, 4), torch.arange(6).view(2, 3), torch.tensor(True), torch.zeros(0, 5),
    torch.randn(3, dtype=torch.float64), torch.randn(4).to(torch.bfloat16),
    torch.randn(4, 4).t(),  # not contiguous
    torch.randn(1, 1, 5, dtype=torch.float64)[..., -1],  # sizes 1 with strides of 5
    torch.randn(1, 3, 1)[:, 1:2],
])
def test_tensors_keep_dtype_shape_and_values(tensor) -> None:
    back = decode(json.loads(json.dumps(encode(tensor))))
    assert back.dtype == tensor.dtype and back.shape == tensor.shape
    assert torch.equal(back, tensor)


def test_tensors_lose_their_graph_not_their_values() -> None:
    x = torch.randn(3, requires_grad=True)
    back = roundtrip(x * 2)
    assert not back.requires_grad and torch.equal(back, (x * 2).detach())


@pytest.mark.parametrize("value, message", [
    (nn.Linear(2, 2), "torch.nn.modules.linear.Linear is not plain data"),
    ({1: "a"}, "dict keys must be strings"),
    (torch.randn(2).to(torch.complex64), "dtype torch.complex64"),
    (lambda: 1, "is not plain data"),
])
def test_what_is_not_plain_data_is_refused_by_name(value, message) -> None:
    with pytest.raises(DataError, match=message):
        encode(value)


@pytest.mark.parametrize("data", [
    "just a string", ["i", "1"], ["i", True], ["x", 1], ["T", "float32", [2], "AAAA"],
    ["T", "float32", [2, -1], ""], ["T", "object", [1], "AAAA"], ["d", [[1, ["n"]]]],
    ["T", "float32", [1], "!!!!"], ["l", [["l", [["l", []]]]]] * 1,
])
def test_malformed_data_is_refused(data) -> None:
    if data == ["l", [["l", [["l", []]]]]]:
        assert decode(data) == [[[]]]  # a valid nested list, for contrast
        return
    with pytest.raises(DataError):
        decode(data)


def test_deep_or_huge_data_is_refused_without_recursion_errors() -> None:
    deep: list = ["n"]
    for _ in range(200):
        deep = ["l", [deep]]
    with pytest.raises(DataError):
        decode(deep)
    with pytest.raises(DataError, match="too large"):
        decode(["T", "float32", [2**40], ""])


def test_a_probe_in_a_notebook_copies_its_arguments_and_result() -> None:
    seen = {}

    @probe
    def double(x, scale=2):
        seen["x"] = x
        x.mul_(0)  # cannot touch the caller's tensor: it has a copy
        return {"y": torch.ones(2) * scale, "note": "ok"}

    x = torch.ones(3)
    out = double(x, scale=3)
    assert torch.equal(x, torch.ones(3)) and seen["x"] is not x
    assert torch.equal(out["y"], torch.full((2,), 3.0)) and out["note"] == "ok"


def test_a_probe_that_returns_a_module_fails_in_the_notebook_already() -> None:
    @probe
    def build():
        return nn.Linear(1, 1)

    with pytest.raises(DataError, match="probe build returned something that is not plain"):
        build()


def test_probes_called_from_probes_are_plain_calls() -> None:
    @probe
    def make_layer():
        return nn.Linear(2, 1)  # fine: only another probe receives it

    @probe
    def output():
        return make_layer()(torch.ones(1, 2)).detach()

    assert output().shape == (1, 1)


def test_probe_classes_are_left_as_they_are_in_a_notebook() -> None:
    @probe
    class Model(nn.Module):
        pass

    assert isinstance(Model(), nn.Module)


def test_remote_errors_keep_their_name_and_builtin_type() -> None:
    error = probe_error("ValueError", "bad shape")
    assert type(error).__name__ == "ValueError" and str(error) == "bad shape"
    assert isinstance(error, ValueError) and isinstance(error, ProbeError)
    assert type(probe_error("ValueError", "again")) is type(error)
    odd = probe_error("NotAnIdentifier!", "x")
    assert type(odd).__name__ == "Exception"
    custom = probe_error("LayerError", "y")
    assert type(custom).__name__ == "LayerError" and not isinstance(custom, ValueError)


# ---------------------------------------------------------------------------------- differs
def test_differs_accepts_round_off_relative_to_the_whole_output() -> None:
    """The raw float32 output of an FFT convolution (MKL, x86_64) on exercise 02's by-hand check
    [100, 10, 1], dilation 2, hide_present: right, though rounding to 4 decimals says 2.0001."""
    expected = torch.tensor([0.0, 1.0, 2.0, 13.0, 24.0, 135.0])
    got = torch.tensor([-3.814697265625e-06, 0.9999952316284, 2.00006103515625, 13.0, 24.0, 135.0])
    assert [round(v, 4) for v in got.tolist()][2] == 2.0001  # what the old check compared
    assert not differs(got, expected).any()
    assert not differs(got.double(), expected).any()  # the dtypes need not match


@pytest.mark.parametrize("got, expected, wrong", [
    ([1.0, 12.0, 23.0], [1.0, 12.0, 24.0], [False, False, True]),  # a wrong tap
    ([0.5, 2.5], [0.0, 2.0], [True, True]),  # a bias of 0.5 too many
    ([0.0, 1e-3], [0.0, 0.0], [False, True]),  # nothing expected: only exact zeros
    ([1.0, float("nan")], [1.0, 1.0], [False, True]),
    ([float("-inf"), 2.0], [float("-inf"), 2.0], [False, False]),
    ([-1e30, 2.0], [float("-inf"), 2.0], [True, False]),  # infinite: met exactly, or wrong
    ([float("inf"), 2.0], [1.0, 2.0], [True, False]),
])
def test_differs_rejects_real_mistakes_and_non_finite_values(got, expected, wrong) -> None:
    assert differs(torch.tensor(got), torch.tensor(expected)).tolist() == wrong


def test_differs_scales_with_the_magnitude_and_takes_a_tolerance() -> None:
    expected = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0))
    for scale in (1e-6, 1.0, 1e6):
        assert not differs(expected * scale * (1 + 1e-6), expected * scale).any()
        assert differs(expected * scale * 1.01, expected * scale).any()
    in_float32 = expected.double().float().double() * (1 + 1e-7)
    assert not differs(in_float32, expected.double()).any()
    assert differs(in_float32, expected.double(), tol=1e-10).any()
    assert differs(torch.zeros(0, 2), torch.zeros(0, 2)).shape == (0, 2)
    with pytest.raises(ValueError, match="shapes"):
        differs(torch.zeros(2, 3), torch.zeros(3, 2))
