"""What the exercises' test cells use: ``@probe`` and the plain data it carries.

A test cell has two kinds of code. A function marked ``@probe`` *calls the student's code*
(builds their layer, runs their loop) and returns plain data: numbers, strings, lists, tuples,
dicts and tensors. Everything else in the cell *judges* that data (compares it with a reference,
names what is wrong). In a student's notebook both run in the same kernel, as any cell does.

When the course's grader (``python -m grader autograde``) grades a submission, they do not: the
student's code and the probes run in a sandboxed worker process, while the judging code runs in
the grader's own process, which the student's code cannot reach. A probe's arguments and result
then cross between the two processes as the plain data defined here, never as pickles or code, so
an answer that patches ``torch``, the checker or ``builtins`` in its own process cannot change how
it is judged. This is the design PrairieLearn's maintainers moved to after finding same-process
Python grading "almost impossible to protect" (PrairieLearn/PrairieLearn#5184); nbgrader, which
runs tests in the student's kernel, has no such separation (jupyter/nbgrader#483).

To keep the two settings identical, a probe called in a notebook also sends its arguments and its
result through the same encoding (so a probe that returns a module fails here too, with a clear
message, not only when graded). Probes called from inside another probe are plain calls.

``encode``/``decode`` turn such data into JSON-compatible structures and back. ``decode`` builds
only containers, numbers, strings and tensors (from raw bytes, of a few plain dtypes, with size
limits): decoding data from an untrusted process cannot run code.
"""

from __future__ import annotations

import base64
import functools
import math
import sys
import threading
from collections.abc import Callable
from typing import Any

import torch

# dtypes a tensor may have on the way across (name -> dtype)
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8,
    torch.int16, torch.int32, torch.int64, torch.bool)}
MAX_DEPTH = 32
MAX_TENSOR_BYTES = 64 * 2**20
MAX_ITEMS = 100_000


class DataError(ValueError):
    """A value that cannot cross between the notebook and the grader as plain data."""


class ProbeError(Exception):
    """The student's code raised inside a probe that ran in the grader's worker.

    ``type(error).__name__`` is the name of the exception the student's code raised (a subclass
    of this class is made per name), ``str(error)`` its message.
    """

    remote_type = "Exception"


class ProbeTimeout(BaseException):
    """A probe ran past the grader's time limit (not an ``Exception``: a test cannot catch it)."""


class WorkerGone(BaseException):
    """The worker running the student's code died or was stopped (not catchable by tests)."""


_error_classes: dict[str, type[ProbeError]] = {}


def probe_error(type_name: str, message: str) -> ProbeError:
    """A ``ProbeError`` whose class is named ``type_name`` (and, for a builtin exception such as
    ``ValueError``, is also a subclass of it, so ``except ValueError`` works as in a notebook)."""
    if not type_name.isidentifier() or len(type_name) > 80:
        type_name = "Exception"
    if type_name not in _error_classes:
        import builtins

        bases: tuple[type, ...] = (ProbeError,)
        builtin = getattr(builtins, type_name, None)
        if isinstance(builtin, type) and issubclass(builtin, Exception):
            bases = (ProbeError, builtin)
        try:
            cls = type(type_name, bases, {"remote_type": type_name})
        except TypeError:  # layout conflict with that builtin: the name alone will do
            cls = type(type_name, (ProbeError,), {"remote_type": type_name})
        _error_classes[type_name] = cls
    error = _error_classes[type_name].__new__(_error_classes[type_name])
    Exception.__init__(error, message)
    return error


# ------------------------------------------------------------------------------------ encoding
def encode(value: Any, _depth: int = 0) -> Any:
    """``value`` as a JSON-compatible structure of tagged lists: ``["i", 3]``, ``["T", ...]``."""
    if _depth > MAX_DEPTH:
        raise DataError(f"data nested deeper than {MAX_DEPTH} levels")
    if value is None:
        return ["n"]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", int(value)]
    if isinstance(value, float):
        return ["f", value if math.isfinite(value) else repr(value)]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value)
    if isinstance(value, torch.dtype):
        return ["dt", str(value).removeprefix("torch.")]
    if isinstance(value, (list, tuple)):  # torch.Size is a tuple
        tag = "l" if isinstance(value, list) else "t"
        return [tag, [encode(v, _depth + 1) for v in value]]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise DataError(f"dict keys must be strings, got {type(key).__name__}")
        return ["d", [[k, encode(v, _depth + 1)] for k, v in value.items()]]
    if hasattr(value, "item") and hasattr(value, "dtype"):  # a NumPy scalar
        return encode(value.item(), _depth)
    raise DataError(f"a {type(value).__module__}.{type(value).__qualname__} is not plain data: "
                    "a probe takes and returns numbers, strings, lists, tuples, dicts (with "
                    "string keys) and tensors")


def _encode_tensor(tensor: torch.Tensor) -> list:
    name = str(tensor.dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise DataError(f"tensors of dtype {tensor.dtype} are not sent; convert to float32")
    if tensor.layout != torch.strided:
        raise DataError("only dense tensors are sent (call .to_dense())")
    # a copy in standard strides: .contiguous() keeps odd strides on dimensions of size 1, which
    # view(torch.uint8) refuses (e.g. y[..., -1] of a (1, 1, T) tensor)
    tensor = tensor.detach().to("cpu").clone(memory_format=torch.contiguous_format)
    raw = tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
    if len(raw) > MAX_TENSOR_BYTES:
        raise DataError(f"a tensor of {len(raw)} bytes is too large to send")
    return ["T", name, list(tensor.shape), base64.b64encode(raw).decode("ascii")]


def decode(data: Any, _depth: int = 0) -> Any:
    """The value ``encode`` made ``data`` from; ``DataError`` for anything malformed."""
    budget = [MAX_ITEMS]
    return _decode(data, _depth, budget)


def _decode(data: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if depth > MAX_DEPTH or budget[0] < 0:
        raise DataError("data too deep or too large")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise DataError("malformed data")
    tag, rest = data[0], data[1:]
    if tag == "n" and not rest:
        return None
    if len(rest) == 1:
        (item,) = rest
        if tag == "b" and isinstance(item, bool):
            return item
        if tag == "i" and isinstance(item, int) and not isinstance(item, bool):
            return item
        if tag == "f" and isinstance(item, (int, float)) and not isinstance(item, bool):
            return float(item)
        if tag == "f" and item in ("nan", "inf", "-inf"):
            return float(item)
        if tag == "s" and isinstance(item, str):
            return item
        if tag == "dt" and item in DTYPES:
            return DTYPES[item]
        if tag in ("l", "t") and isinstance(item, list):
            items = [_decode(v, depth + 1, budget) for v in item]
            return items if tag == "l" else tuple(items)
        if tag == "d" and isinstance(item, list):
            out = {}
            for pair in item:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    raise DataError("malformed dict")
                out[pair[0]] = _decode(pair[1], depth + 1, budget)
            return out
    if tag == "T" and len(rest) == 3:
        return _decode_tensor(*rest)
    raise DataError(f"malformed data (tag {tag!r})")


def _decode_tensor(name: Any, shape: Any, text: Any) -> torch.Tensor:
    if name not in DTYPES or not isinstance(shape, list) or not isinstance(text, str):
        raise DataError("malformed tensor")
    if len(shape) > 16 or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n
                                  for n in shape):
        raise DataError("malformed tensor shape")
    dtype = DTYPES[name]
    count = math.prod(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if count * itemsize > MAX_TENSOR_BYTES or len(text) > 2 * MAX_TENSOR_BYTES:
        raise DataError("tensor too large")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):  # binascii.Error is a ValueError
        raise DataError("tensor data is not base64") from None
    if len(raw) != count * itemsize:
        raise DataError("tensor data does not match its shape")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype)
    return flat.reshape(shape).clone()


def roundtrip(value: Any) -> Any:
    """``decode(encode(value))``: a copy of plain data, or ``DataError`` if it is not plain."""
    return decode(encode(value))


# ------------------------------------------------------------------------------------- @probe
class Backend:
    """Where probes run when the grader grades (set by the grader; ``None`` in a notebook)."""

    def register(self, target: Callable | type) -> Any:  # pragma: no cover - interface
        raise NotImplementedError


_backend: Backend | None = None
_local = threading.local()


def set_backend(backend: Backend | None) -> None:
    """Used by the grader: from now on ``@probe`` hands functions to ``backend``."""
    global _backend
    _backend = backend


def probe(target: Callable | type) -> Any:
    """Mark a test cell's function (or helper class) as code that runs next to the student's.

    In a notebook the function runs here, its arguments and result copied as plain data; when
    graded it runs in the grader's sandboxed worker. A probe may use the student's names, the
    setup cell's imports and other probes, never other names of the test cell.
    """
    if _backend is not None:
        return _backend.register(target)
    if isinstance(target, type):
        return target

    @functools.wraps(target)
    def run(*args: Any, **kwargs: Any) -> Any:
        if getattr(_local, "depth", 0):  # a probe calling a probe: a plain call
            return target(*args, **kwargs)
        args, kwargs = roundtrip((args, kwargs))
        _local.depth = 1
        # what the student's code writes to stderr while a test runs it (a warning, a progress
        # bar, a debug print) goes to stdout: nbgrader's autograde and Validate give 0 points to
        # a test cell with any stderr output, and a right, noisy answer must pass there too
        stderr, sys.stderr = sys.stderr, sys.stdout
        try:
            result = target(*args, **kwargs)
        finally:
            sys.stderr = stderr
            _local.depth = 0
        try:
            return roundtrip(result)
        except DataError as error:
            raise DataError(f"probe {target.__name__} returned something that is not plain "
                            f"data: {error}") from None

    run.__probe__ = target
    return run


# -------------------------------------------------------------------------------- comparisons
def differs(got: torch.Tensor, expected: torch.Tensor, tol: float = 1e-4) -> torch.Tensor:
    """Where a float output ``got`` is not ``expected`` up to round-off: a bool tensor of their
    shape, True where ``|got - expected| > tol * (|expected| + max |expected|)``, the max taken
    over all of ``expected`` (its finite values; an infinite or NaN expected value must be met
    exactly).

    The one rule by which the exercises' test cells compare float outputs (exact answers, such as
    tokens, masks of 0/1, copies of the input, shapes and dtypes, are compared exactly). A right
    answer computed another way than the reference (convolving then cropping, by FFT, by
    cumulative sums, in a Python loop) differs from it by round-off that scales with the whole
    output, not with each value: an FFT convolution in float32 may return 2.00006 for 2 next to
    outputs of 135. So the tolerance is relative to the magnitude of the expected output, and
    never a number of decimals: rounding to 4 decimals turns 2.00006 into 2.0001, an exact miss.
    ``tol=1e-4`` accepts the float32 round-off of every right way (below 1e-6 of the magnitude
    in these exercises) and rejects real mistakes (a wrong tap, a missing bias or ReLU: 40 times
    the tolerance and more in these exercises); a check meant to catch a float32 computation in
    float64 passes ``tol=1e-10``. The two tensors are compared in float64.
    """
    got, expected = torch.as_tensor(got), torch.as_tensor(expected)
    if got.shape != expected.shape:
        raise ValueError(f"differs: shapes {tuple(got.shape)} and {tuple(expected.shape)}")
    got = got.detach().to("cpu", torch.float64)
    expected = expected.detach().to("cpu", torch.float64)
    size = expected.abs()
    finite = torch.isfinite(expected)
    scale = size[finite].max() if finite.any() else size.new_zeros(())
    near = finite & ((got - expected).abs() <= tol * (size + scale))
    return ~(near | (got == expected))
