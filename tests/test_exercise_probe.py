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
