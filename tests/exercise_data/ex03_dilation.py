"""Exercise 03 (receptive field, causal pooling, the TCN block, the cached step): answer variants
and samples.

Data only (see ``tests/exercise_data/__init__.py``): right ways to write each answer, the mistakes
students make with the exact test cells each one fails, and the sample submissions.
"""

from __future__ import annotations

ASSIGNMENT = "03_dilation"
# the sum every strided answer below ends with, once its inputs are checked and defaulted
SPAN_LOOP = """span, spacing = 1, 1
for k, d, s in zip(kernel_sizes, dilations, strides, strict=True):
    span += (k - 1) * d * spacing
    spacing *= s
return span"""

RF_CHECKS = """
kernel_sizes = list(kernel_sizes)
dilations = [1] * len(kernel_sizes) if dilations is None else list(dilations)
if len(dilations) != len(kernel_sizes):
    raise ValueError("one dilation per kernel size")
if min(kernel_sizes + dilations, default=1) < 1:
    raise ValueError("kernel sizes and dilations must be >= 1")
"""

RECEPTIVE_FIELD = {
    "sum_formula": (None, RF_CHECKS + "return 1 + sum((k - 1) * d for k, d in "
                    "zip(kernel_sizes, dilations, strict=True))"),
    "loop": (None, RF_CHECKS + """
span = 1
for k, d in zip(kernel_sizes, dilations, strict=True):
    span += (k - 1) * d
return span"""),
    "torch_then_int": (None, RF_CHECKS + """
k = torch.tensor(kernel_sizes, dtype=torch.long)
d = torch.tensor(dilations, dtype=torch.long)
return int(1 + ((k - 1) * d).sum())"""),
    # mistakes ------------------------------------------------------------------------------
    "forgets_the_one": (("values",), RF_CHECKS + "return sum((k - 1) * d for k, d in "
                        "zip(kernel_sizes, dilations, strict=True))"),
    "k_times_d": (("values",), RF_CHECKS + "return 1 + sum(k * d for k, d in "
                  "zip(kernel_sizes, dilations, strict=True))"),
    "returns_a_tensor": (("values",), RF_CHECKS + """
k = torch.tensor(kernel_sizes or [1])
d = torch.tensor(dilations or [1])
return 1 + ((k - 1) * d).sum()"""),
    "zip_truncates_silently": (("errors",), """
dilations = [1] * len(kernel_sizes) if dilations is None else dilations
if min(list(kernel_sizes) + list(dilations), default=1) < 1:
    raise ValueError("kernel sizes and dilations must be >= 1")
return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations))"""),
    "no_checks": (("errors",), """
dilations = [1] * len(kernel_sizes) if dilations is None else dilations
return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations, strict=True))"""),
    # starts from the first kernel size, as if the first dilation were always 1
    "first_dilation_ignored": (("values",), RF_CHECKS + """
if not kernel_sizes:
    return 1
span = kernel_sizes[0]
for k, d in zip(kernel_sizes[1:], dilations[1:], strict=True):
    span += (k - 1) * d
return span"""),
    # `or` takes an explicit [] for the default
    "empty_dilations_as_default": (("errors",), """
kernel_sizes = list(kernel_sizes)
dilations = list(dilations or [1] * len(kernel_sizes))
if len(dilations) != len(kernel_sizes):
    raise ValueError("one dilation per kernel size")
if min(kernel_sizes + dilations, default=1) < 1:
    raise ValueError("kernel sizes and dilations must be >= 1")
return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations, strict=True))"""),
    # the WaveNet schedule instead of the dilations given
    "powers_of_two_dilations": (("values",), RF_CHECKS + """
return 1 + sum((k - 1) * 2 ** i for i, k in enumerate(kernel_sizes))"""),
}

POOL_CHECKS = """
if mode not in ("max", "avg"):
    raise ValueError("mode must be 'max' or 'avg'")
if not isinstance(x, torch.Tensor) or x.dim() != 3:
    raise ValueError("x must be (B, C, T)")
if kernel_size < 1 or dilation < 1:
    raise ValueError("kernel_size and dilation must be >= 1")
left = (kernel_size - 1) * dilation
"""


def pool(body: str) -> str:
    return POOL_CHECKS + body.strip("\n")


CAUSAL_POOL1D = {
    "max_pool1d_and_zero_padded_avg": (None, pool("""
if mode == "max":
    return F.max_pool1d(F.pad(x, (left, 0), value=float("-inf")), kernel_size, 1,
                        dilation=dilation)
taps = [F.pad(x, (j * dilation, 0))[..., : x.size(-1)] for j in range(kernel_size)]
return sum(taps) / kernel_size""")),
    "unfold": (None, pool("""
fill = float("-inf") if mode == "max" else float("nan")
windows = F.pad(x, (left, 0), value=fill).unfold(-1, left + 1, 1)[..., ::dilation]
if mode == "max":
    return windows.amax(dim=-1)
return windows.nanmean(dim=-1)""")),
    "python_loop": (None, pool("""
out = torch.empty_like(x)
for t in range(x.size(-1)):
    taps = [t - j * dilation for j in range(kernel_size) if t - j * dilation >= 0]
    window = x[..., taps]
    out[..., t] = window.amax(dim=-1) if mode == "max" else window.mean(dim=-1)
return out""")),
    # a running mean by differences of cumulative sums (one per residue of t modulo d): right,
    # with the round-off of the sums, which grows with t
    "cumsum_running_mean": (None, pool("""
if mode == "max":
    return F.max_pool1d(F.pad(x, (left, 0), value=float("-inf")), kernel_size, 1,
                        dilation=dilation)
length = x.size(-1)
sums = torch.zeros_like(x)
for r in range(min(dilation, length)):
    sums[..., r::dilation] = x[..., r::dilation].cumsum(dim=-1)  # x[t] + x[t - d] + ...
window = sums - F.pad(sums, (kernel_size * dilation, 0))[..., :length]
taps = (torch.arange(length, device=x.device) // dilation + 1).clamp(max=kernel_size)
return window / taps.to(x.dtype)""")),
    # mistakes ------------------------------------------------------------------------------
    "zero_padding_in_max": (("max",), pool("""
padded = F.pad(x, (left, 0))
if mode == "max":
    return F.max_pool1d(padded, kernel_size, 1, dilation=dilation)
taps = [F.pad(x, (j * dilation, 0))[..., : x.size(-1)] for j in range(kernel_size)]
return sum(taps) / kernel_size""")),
    "centred_window": (("max", "avg", "is_causal"), pool("""
x_pad = F.pad(x, (left // 2, left - left // 2), value=float("-inf"))
if mode == "max":
    return F.max_pool1d(x_pad, kernel_size, 1, dilation=dilation)
x_pad = F.pad(x, (left // 2, left - left // 2))
return F.avg_pool1d(x_pad, kernel_size, 1) if dilation == 1 else torch.stack(
    [x_pad[..., j * dilation: j * dilation + x.size(-1)] for j in range(kernel_size)]).mean(0)""")),
    "dilation_ignored": (("max", "avg"), pool("""
left = kernel_size - 1
if mode == "max":
    return F.max_pool1d(F.pad(x, (left, 0), value=float("-inf")), kernel_size, 1)
taps = [F.pad(x, (j, 0))[..., : x.size(-1)] for j in range(kernel_size)]
return sum(taps) / kernel_size""")),
    "avg_divides_by_the_wrong_count": (("avg",), pool("""
if mode == "max":
    return F.max_pool1d(F.pad(x, (left, 0), value=float("-inf")), kernel_size, 1,
                        dilation=dilation)
taps = [F.pad(x, (j * dilation, 0))[..., : x.size(-1)] for j in range(kernel_size)]
return sum(taps) / (kernel_size + 1)""")),
    "float32_always": (("shape",), pool("""
x = x.float()
if mode == "max":
    return F.max_pool1d(F.pad(x, (left, 0), value=float("-inf")), kernel_size, 1,
                        dilation=dilation)
taps = [F.pad(x, (j * dilation, 0))[..., : x.size(-1)] for j in range(kernel_size)]
return sum(taps) / kernel_size""")),
    "no_mode_check": (("errors",), """
if not isinstance(x, torch.Tensor) or x.dim() != 3:
    raise ValueError("x must be (B, C, T)")
if kernel_size < 1 or dilation < 1:
    raise ValueError("kernel_size and dilation must be >= 1")
left = (kernel_size - 1) * dilation
if mode == "max":
    return F.max_pool1d(F.pad(x, (left, 0), value=float("-inf")), kernel_size, 1,
                        dilation=dilation)
taps = [F.pad(x, (j * dilation, 0))[..., : x.size(-1)] for j in range(kernel_size)]
return sum(taps) / kernel_size"""),
}

TB = """
left = (self.kernel_size - 1) * self.dilation
{body}"""


def block(body: str) -> str:
    return TB.format(body=body.strip("\n"))


TEMPORAL_BLOCK = {
    "pad_then_conv": (None, block("""
h = self.dropout(F.relu(self.conv1(F.pad(x, (left, 0)))))
h = self.dropout(F.relu(self.conv2(F.pad(h, (left, 0)))))
return F.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
    "conv_padding_then_crop": (None, block("""
length = x.size(-1)

def causal(conv, h):
    y = F.conv1d(h, conv.weight, conv.bias, dilation=self.dilation, padding=left)
    return y[..., :length]

h = self.dropout(F.relu(causal(self.conv1, x)))
h = self.dropout(F.relu(causal(self.conv2, h)))
residual = self.downsample(x) if self.downsample is not None else x
return torch.relu(h + residual)""")),
    "cat_zeros": (None, block("""
def padded(h):
    return torch.cat([h.new_zeros(h.size(0), h.size(1), left), h], dim=-1)

h = self.dropout(torch.relu(self.conv1(padded(x))))
h = self.dropout(torch.relu(self.conv2(padded(h))))
return torch.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
    # each causal convolution by FFT, in float32: right, with FFT round-off
    "fft_convolutions": (None, block("""
def causal(conv, h):
    length, n = h.size(-1), h.size(-1) + left
    kernel = conv.weight.new_zeros(*conv.weight.shape[:2], left + 1)
    kernel[..., :: self.dilation] = conv.weight  # tap j at lag (k - 1 - j) d, once flipped
    spectrum = torch.einsum("bif,oif->bof", torch.fft.rfft(h, n=n),
                            torch.fft.rfft(kernel.flip(-1), n=n))
    return torch.fft.irfft(spectrum, n=n)[..., :length] + conv.bias[:, None]

h = self.dropout(F.relu(causal(self.conv1, x)))
h = self.dropout(F.relu(causal(self.conv2, h)))
return F.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
    # mistakes ------------------------------------------------------------------------------
    "padding_both_sides": (("values", "is_causal"), block("""
h = self.dropout(F.relu(self.conv1(F.pad(x, (left // 2, left - left // 2)))))
h = self.dropout(F.relu(self.conv2(F.pad(h, (left // 2, left - left // 2)))))
return F.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
    "chomp_empties_for_k1": (("shape", "values", "is_causal", "receptive_field", "residual"),
                             block("""
h = F.conv1d(x, self.conv1.weight, self.conv1.bias, dilation=self.dilation, padding=left)
h = self.dropout(F.relu(h[..., :-left]))
h = F.conv1d(h, self.conv2.weight, self.conv2.bias, dilation=self.dilation, padding=left)
h = self.dropout(F.relu(h[..., :-left]))
return F.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
    "second_conv_not_padded": (("shape", "values", "is_causal", "receptive_field", "residual",
                                "dropout"), block("""
h = self.dropout(F.relu(self.conv1(F.pad(x, (left, 0)))))
h = self.dropout(F.relu(self.conv2(h)))
return F.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
    "no_residual": (("values", "residual"), block("""
h = self.dropout(F.relu(self.conv1(F.pad(x, (left, 0)))))
return self.dropout(F.relu(self.conv2(F.pad(h, (left, 0)))))""")),
    "relu_before_the_sum_only": (("values",), block("""
h = self.dropout(F.relu(self.conv1(F.pad(x, (left, 0)))))
h = self.dropout(self.conv2(F.pad(h, (left, 0))))
return F.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
    "no_dropout": (("dropout",), block("""
h = F.relu(self.conv1(F.pad(x, (left, 0))))
h = F.relu(self.conv2(F.pad(h, (left, 0))))
return F.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
    # F.dropout's training argument defaults to True: dropout stays on after block.eval()
    "functional_dropout_always_on": (("dropout",), block("""
p = self.dropout.p
h = F.dropout(F.relu(self.conv1(F.pad(x, (left, 0)))), p)
h = F.dropout(F.relu(self.conv2(F.pad(h, (left, 0)))), p)
return F.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
    "dropout_on_the_residual": (("dropout",), block("""
h = self.dropout(F.relu(self.conv1(F.pad(x, (left, 0)))))
h = self.dropout(F.relu(self.conv2(F.pad(h, (left, 0)))))
residual = self.dropout(x if self.downsample is None else self.downsample(x))
return F.relu(h + residual)""")),
    "dropout_after_the_sum": (("dropout",), block("""
h = self.dropout(F.relu(self.conv1(F.pad(x, (left, 0)))))
h = F.relu(self.conv2(F.pad(h, (left, 0))))
return self.dropout(F.relu(h + (x if self.downsample is None else self.downsample(x))))""")),
    # right: the functional form, told the mode
    "functional_dropout_with_the_mode": (None, block("""
p, on = self.dropout.p, self.training
h = F.dropout(F.relu(self.conv1(F.pad(x, (left, 0)))), p, training=on)
h = F.dropout(F.relu(self.conv2(F.pad(h, (left, 0)))), p, training=on)
return F.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
}

# CachedCausalConv1d: two regions, __init__ then step ---------------------------------------
SIZE = "size = (conv.kernel_size - 1) * conv.dilation\n"
ZERO = "zero = conv.conv.weight.new_zeros(batch_size, conv.in_channels)\n"
DEQUE = SIZE + ZERO + "self.queue = collections.deque([zero] * size, maxlen=size)"
STEP = """
weight, bias = self.conv.conv.weight, self.conv.conv.bias
k, d = self.conv.kernel_size, self.conv.dilation
x = x_t.to(weight.dtype)
taps = {taps}
y = sum(torch.einsum("oi,bi->bo", weight[:, :, j], tap) for j, tap in enumerate(taps))
if bias is not None:
    y = y + bias
self.queue.append(x.clone())
return y.to(x_t.dtype)"""


def step(taps: str = "[self.queue[j * d] for j in range(k - 1)] + [x]") -> str:
    return STEP.format(taps=taps)


RING = """
self.size = (conv.kernel_size - 1) * conv.dilation
self.buffer = conv.conv.weight.new_zeros(self.size, batch_size, conv.in_channels)
self.t = 0"""
RING_STEP = """
weight, bias = self.conv.conv.weight, self.conv.conv.bias
k, d = self.conv.kernel_size, self.conv.dilation
x = x_t.to(weight.dtype)
y = x @ weight[:, :, -1].T
for j in range(k - 1):
    y = y + self.buffer[(self.t - (k - 1 - j) * d) % self.size] @ weight[:, :, j].T
if bias is not None:
    y = y + bias
{store}
self.t += 1
return y.to(x_t.dtype)"""
LIST = SIZE + """dtype = conv.conv.weight.dtype
self.past = [torch.zeros(batch_size, conv.in_channels, dtype=dtype) for _ in range(size)]"""
LIST_STEP = """
weight, bias = self.conv.conv.weight, self.conv.conv.bias
k, d = self.conv.kernel_size, self.conv.dilation
x = x_t.to(weight.dtype)
y = x @ weight[:, :, -1].T
for j in range(k - 1):
    y = y + self.past[j * d] @ weight[:, :, j].T
if bias is not None:
    y = y + bias
self.past.append(x)
self.past.{pop}
return y.to(x_t.dtype)"""
CAT = """
self.buffer = conv.conv.weight.new_zeros(batch_size, conv.in_channels,
                                         (conv.kernel_size - 1) * conv.dilation)"""
CAT_STEP = """
weight = self.conv.conv.weight
window = torch.cat([self.buffer, x_t.to(weight.dtype)[..., None]], dim=-1)
y = F.conv1d(window, weight, self.conv.conv.bias, dilation=self.conv.dilation){crop}
self.buffer = window[..., 1:]
return y.to(x_t.dtype)"""

CACHED_STEP = {
    "deque_maxlen": (None, (DEQUE, step())),
    "tensor_cat_and_slice": (None, (CAT, CAT_STEP.format(crop="[..., 0]"))),
    "ring_buffer": (None, (RING, RING_STEP.format(
        store="if self.size:\n    self.buffer[self.t % self.size] = x"))),
    "list_pop_front": (None, (LIST, LIST_STEP.format(pop="pop(0)"))),
    "stack_and_einsum": (None, (DEQUE, """
weight, bias = self.conv.conv.weight, self.conv.conv.bias
x = x_t.to(weight.dtype)
window = torch.stack([*self.queue, x], dim=-1)
y = torch.einsum("bik,oik->bo", window[..., :: self.conv.dilation], weight)
if bias is not None:
    y = y + bias
self.queue.append(x)
return y.to(x_t.dtype)""")),
    # the step as the lag-0 term of a circular correlation, by FFT, in the weight's dtype
    "fft_of_the_window": (None, (DEQUE, """
weight, bias = self.conv.conv.weight, self.conv.conv.bias
k, d = self.conv.kernel_size, self.conv.dilation
x = x_t.to(weight.dtype)
window = torch.stack([*self.queue, x], dim=-1)  # (B, C_in, (k - 1) d + 1)
kernel = weight.new_zeros(*weight.shape[:2], window.size(-1))
kernel[..., ::d] = weight
n = window.size(-1)
spectrum = torch.einsum("bif,oif->bof", torch.fft.rfft(window, n=n),
                        torch.fft.rfft(kernel, n=n).conj())
y = torch.fft.irfft(spectrum, n=n)[..., 0]  # sum over m of window[m] * kernel[m]
if bias is not None:
    y = y + bias
self.queue.append(x)
return y.to(x_t.dtype)""")),
    "layer_on_the_window": (None, (DEQUE, """
x = x_t.to(self.conv.conv.weight.dtype)
window = torch.stack([*self.queue, x], dim=-1)
self.queue.append(x)
return self.conv(window)[..., -1].to(x_t.dtype)""")),
    # keeps (k - 1) d + 1 inputs: the memory test tolerates one more input than needed
    "push_first_keeps_one_more": (None, (
        SIZE + ZERO + "self.queue = collections.deque([zero] * (size + 1), maxlen=size + 1)", """
weight, bias = self.conv.conv.weight, self.conv.conv.bias
self.queue.append(x_t.to(weight.dtype))
taps = [self.queue[j * self.conv.dilation] for j in range(self.conv.kernel_size)]
y = sum(tap @ weight[:, :, j].T for j, tap in enumerate(taps))
return (y if bias is None else y + bias).to(x_t.dtype)""")),
    # mistakes ------------------------------------------------------------------------------
    "queue_one_too_short": (("values",), (
        "size = max(0, (conv.kernel_size - 1) * conv.dilation - 1)\n" + ZERO
        + "self.queue = collections.deque([zero] * size, maxlen=size)", step())),
    "wrong_end_popped": (("values",), (LIST, LIST_STEP.format(pop="pop()"))),
    "dilation_ignored": (("values",), (
        "size = conv.kernel_size - 1\n" + ZERO
        + "self.queue = collections.deque([zero] * size, maxlen=size)",
        step("[self.queue[j] for j in range(k - 1)] + [x]"))),
    "queue_grows_forever": (("memory",), (
        SIZE + ZERO + "self.queue = collections.deque([zero] * size)",
        step("[self.queue[-(k - 1 - j) * d] for j in range(k - 1)] + [x]"))),
    "shared_queue": (("fresh_start",), (
        SIZE + ZERO + "CachedCausalConv1d.queue = collections.deque([zero] * size, maxlen=size)",
        step())),
    "queue_kept_on_the_layer": (("fresh_start",), (SIZE + ZERO + """
if not hasattr(conv, "queue"):
    conv.queue = collections.deque([zero] * size, maxlen=size)
self.queue = conv.queue""", step())),
    "present_hidden": (("values",), (
        SIZE + ZERO + "self.queue = collections.deque([zero] * (size + 1), maxlen=size + 1)",
        step("[self.queue[j * d] for j in range(k)]"))),
    "bias_none_crashes": (("values",), (DEQUE, step().replace(
        "if bias is not None:\n    y = y + bias", "y = y + bias"))),
    "zeros_in_float32": (("values",), (
        SIZE + "zero = torch.zeros(batch_size, conv.in_channels)\n"
        + "self.queue = collections.deque([zero] * size, maxlen=size)",
        step().replace("x = x_t.to(weight.dtype)", "x = x_t"))),
    "ring_buffer_breaks_for_k1": (("values",), (RING, RING_STEP.format(
        store="self.buffer[self.t % self.size] = x"))),
    "returns_float64": (("fresh_start",), (DEQUE, step().replace(
        "return y.to(x_t.dtype)", "return y.double()"))),
    "output_not_squeezed": (("values", "fresh_start", "memory"), (
        CAT, CAT_STEP.format(crop=""))),
    # [tensor] * n: n names for one tensor, then each slot written in place, so all hold x_t
    "aliased_slots_written_in_place": (("values",), (SIZE + ZERO + """
self.size = size
self.slots = [zero] * size
self.t = 0""", """
weight, bias = self.conv.conv.weight, self.conv.conv.bias
k, d = self.conv.kernel_size, self.conv.dilation
x = x_t.to(weight.dtype)
y = x @ weight[:, :, -1].T
for j in range(k - 1):
    y = y + self.slots[(self.t - (k - 1 - j) * d) % self.size] @ weight[:, :, j].T
if bias is not None:
    y = y + bias
if self.size:
    self.slots[self.t % self.size].copy_(x)
self.t += 1
return y.to(x_t.dtype)""")),
    # one buffer, written in place and appended at every step: the deque fills with one tensor
    "one_tensor_appended": (("values",), (
        DEQUE + "\nself.latest = conv.conv.weight.new_zeros(batch_size, conv.in_channels)",
        step().replace("self.queue.append(x.clone())",
                       "self.latest.copy_(x)\nself.queue.append(self.latest)"))),
}

# receptive_field_strided (the transfer part) -----------------------------------------------
RFS_CHECKS = """
kernel_sizes = [int(k) for k in kernel_sizes]
n = len(kernel_sizes)
dilations = [1] * n if dilations is None else [int(d) for d in dilations]
strides = [1] * n if strides is None else [int(s) for s in strides]
if len(dilations) != n or len(strides) != n:
    raise ValueError("one dilation and one stride per kernel size")
if min(kernel_sizes + dilations + strides, default=1) < 1:
    raise ValueError("kernel sizes, dilations and strides must be >= 1")
"""


def rfs(body: str) -> str:
    return RFS_CHECKS + body.strip("\n")


RECEPTIVE_FIELD_STRIDED = {
    "spacing_loop": (None, rfs("""
""" + SPAN_LOOP)),
    "math_prod_of_the_strides_below": (None, rfs("""
import math
return 1 + sum((k - 1) * d * math.prod(strides[:i])
               for i, (k, d) in enumerate(zip(kernel_sizes, dilations, strict=True)))""")),
    # the lecture's rule (a dilation per product of strides below) fed to part 1's function
    "own_receptive_field_of_the_dilated_equivalent": (None, rfs("""
import math
effective = [d * math.prod(strides[:i]) for i, d in enumerate(dilations)]
return int(receptive_field(kernel_sizes, effective))""")),
    # from the top layer down: what the row below must hold for r units of the row above
    "top_down_recursion": (None, rfs("""
span = 1
for k, d, s in reversed(list(zip(kernel_sizes, dilations, strides, strict=True))):
    span = (span - 1) * s + (k - 1) * d + 1
return span""")),
    # the spacing of each row by itertools.accumulate, the reach by recursion over the layers
    "accumulate_and_recursion": (None, rfs("""
from itertools import accumulate
import operator

spacings = list(accumulate([1] + strides[:-1], operator.mul))  # spacing of the row layer i reads


def reach(layers):
    if not layers:
        return 0
    (k, d, spacing), *rest = layers
    return (k - 1) * d * spacing + reach(rest)


return 1 + reach(list(zip(kernel_sizes, dilations, spacings[:len(kernel_sizes)])))""")),
    # no explicit length check: zip(strict=True) raises a ValueError; numbers kept as given
    "zip_strict_and_operator_index": (None, """
import operator
n = len(kernel_sizes)
dilations = [1] * n if dilations is None else dilations
strides = [1] * n if strides is None else strides
layers = [tuple(map(operator.index, layer))
          for layer in zip(kernel_sizes, dilations, strides, strict=True)]
if any(value < 1 for layer in layers for value in layer):
    raise ValueError("kernel sizes, dilations and strides must be >= 1")
span, spacing = 1, 1
for k, d, s in layers:
    span, spacing = span + (k - 1) * d * spacing, spacing * s
return span"""),
    # mistakes ------------------------------------------------------------------------------
    "own_stride_included": (("measured", "exact"), rfs("""
span, spacing = 1, 1
for k, d, s in zip(kernel_sizes, dilations, strides, strict=True):
    spacing *= s
    span += (k - 1) * d * spacing
return span""")),
    "strides_ignored": (("measured", "exact"), rfs("""
return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations, strict=True))""")),
    # the top-down recursion run bottom-up: the strides of the layers above
    "strides_of_the_layers_above": (("measured", "exact"), rfs("""
span = 1
for k, d, s in zip(kernel_sizes, dilations, strides, strict=True):
    span = (span - 1) * s + (k - 1) * d + 1
return span""")),
    # the lecture's rule alone: the dilation of a layer is the product of the strides below
    "dilations_from_the_strides_only": (("defaults", "measured", "exact"), rfs("""
import math
return 1 + sum((k - 1) * math.prod(strides[:i]) for i, k in enumerate(kernel_sizes))""")),
    "dilation_spaces_the_layers_above": (("defaults", "measured", "exact"), rfs("""
span, spacing = 1, 1
for k, d, s in zip(kernel_sizes, dilations, strides, strict=True):
    span += (k - 1) * d * spacing
    spacing *= s * d
return span""")),
    "powers_of_two_dilations": (("defaults", "measured", "exact"), rfs("""
span, spacing = 1, 1
for i, (k, s) in enumerate(zip(kernel_sizes, strides, strict=True)):
    span += (k - 1) * 2 ** i * spacing
    spacing *= s
return span""")),
    "float_spacing": (("exact",), rfs("""
span, spacing = 1, 1.0
for k, d, s in zip(kernel_sizes, dilations, strides, strict=True):
    span += (k - 1) * d * spacing
    spacing *= s
return int(span)""")),
    "int64_cumprod": (("exact",), rfs("""
if not kernel_sizes:
    return 1
spacing = torch.cumprod(torch.tensor([1] + strides[:-1]), dim=0)
k = torch.tensor(kernel_sizes)
d = torch.tensor(dilations)
return int(1 + ((k - 1) * d * spacing).sum())""")),
    # np.prod([]) is 1.0, a float: the first term makes the whole sum a float
    "numpy_prod_of_no_strides_is_a_float": (("defaults", "exact"), rfs("""
return 1 + sum((k - 1) * d * np.prod(strides[:i])
               for i, (k, d) in enumerate(zip(kernel_sizes, dilations, strict=True)))""")),
    # NumPy integers in, an np.int64 out
    "numpy_ints_kept": (("numpy_ints",), """
n = len(kernel_sizes)
dilations = [1] * n if dilations is None else list(dilations)
strides = [1] * n if strides is None else list(strides)
if len(dilations) != n or len(strides) != n:
    raise ValueError("one dilation and one stride per kernel size")
if min(list(kernel_sizes) + dilations + strides, default=1) < 1:
    raise ValueError("kernel sizes, dilations and strides must be >= 1")
""" + SPAN_LOOP),
    "numpy_ints_rejected": (("numpy_ints",), """
n = len(kernel_sizes)
dilations = [1] * n if dilations is None else list(dilations)
strides = [1] * n if strides is None else list(strides)
if len(dilations) != n or len(strides) != n:
    raise ValueError("one dilation and one stride per kernel size")
values = list(kernel_sizes) + dilations + strides
if any(not isinstance(v, int) or v < 1 for v in values):
    raise ValueError("kernel sizes, dilations and strides must be ints >= 1")
""" + SPAN_LOOP),
    "empty_lists_as_defaults": (("errors",), """
kernel_sizes = [int(k) for k in kernel_sizes]
n = len(kernel_sizes)
dilations = [int(d) for d in dilations or [1] * n]
strides = [int(s) for s in strides or [1] * n]
if len(dilations) != n or len(strides) != n:
    raise ValueError("one dilation and one stride per kernel size")
if min(kernel_sizes + dilations + strides, default=1) < 1:
    raise ValueError("kernel sizes, dilations and strides must be >= 1")
""" + SPAN_LOOP),
    "zip_truncates_silently": (("errors",), """
kernel_sizes = [int(k) for k in kernel_sizes]
n = len(kernel_sizes)
dilations = [1] * n if dilations is None else [int(d) for d in dilations]
strides = [1] * n if strides is None else [int(s) for s in strides]
if min(kernel_sizes + dilations + strides, default=1) < 1:
    raise ValueError("kernel sizes, dilations and strides must be >= 1")
span, spacing = 1, 1
for k, d, s in zip(kernel_sizes, dilations, strides):
    span += (k - 1) * d * spacing
    spacing *= s
return span"""),
    # the last stride is never used, so it is never checked
    "last_stride_unchecked": (("errors",), """
kernel_sizes = [int(k) for k in kernel_sizes]
n = len(kernel_sizes)
dilations = [1] * n if dilations is None else [int(d) for d in dilations]
strides = [1] * n if strides is None else [int(s) for s in strides]
if len(dilations) != n or len(strides) != n:
    raise ValueError("one dilation and one stride per kernel size")
if min(kernel_sizes + dilations + strides[:-1], default=1) < 1:
    raise ValueError("kernel sizes, dilations and the strides used must be >= 1")
""" + SPAN_LOOP),
    # indexes the other lists by layer: IndexError when one is short, nothing when one is long
    "indexes_by_layer": (("errors",), """
n = len(kernel_sizes)
dilations = [1] * n if dilations is None else dilations
strides = [1] * n if strides is None else strides
span, spacing = 1, 1
for i in range(n):
    if kernel_sizes[i] < 1 or dilations[i] < 1 or strides[i] < 1:
        raise ValueError("kernel sizes, dilations and strides must be >= 1")
    span += (kernel_sizes[i] - 1) * dilations[i] * spacing
    spacing *= strides[i]
return int(span)"""),
}

VARIANTS = {"receptive_field": RECEPTIVE_FIELD, "causal_pool1d": CAUSAL_POOL1D,
            "temporal_block": TEMPORAL_BLOCK, "cached_step": CACHED_STEP,
            "receptive_field_strided": RECEPTIVE_FIELD_STRIDED}
# a broken answer of an earlier part must not cost a later one's points
ISOLATION = {"broken_block_then_right_cache": (
    {"temporal_block": ("return x[..., :0]",)}, "cached_step"),
    "broken_receptive_field_then_right_strided": (
    {"receptive_field": ("raise NotImplementedError()",)}, "receptive_field_strided")}


def samples(kit) -> dict:
    """{student: make(released notebook) -> notebook}: right in several ways, and wrong in the
    ways students go wrong."""
    def answer(table: str, name: str) -> dict[str, str]:
        return {table: kit.variant(table, name)}

    made = {"perfect": kit.with_answers(), "blank": lambda nb: nb}
    for table, name in [("causal_pool1d", "unfold"), ("temporal_block", "conv_padding_then_crop"),
                        ("receptive_field", "forgets_the_one"),
                        ("causal_pool1d", "zero_padding_in_max"),
                        ("causal_pool1d", "dilation_ignored"),
                        ("temporal_block", "padding_both_sides"),
                        ("temporal_block", "no_residual")]:
        made[f"ex03_{name}"] = kit.with_answers(**answer(table, name))
    # part 4 (causal_pool1d's ex03_dilation_ignored exists already: this one is "cached_")
    for name, student in [("queue_one_too_short", "ex03_queue_one_too_short"),
                          ("wrong_end_popped", "ex03_wrong_end_popped"),
                          ("dilation_ignored", "ex03_cached_dilation_ignored"),
                          ("aliased_slots_written_in_place", "ex03_aliased_queue_slots")]:
        made[student] = kit.with_answers(**answer("cached_step", name))
    made["ex03_dropout_on_in_eval"] = kit.with_answers(
        **answer("temporal_block", "functional_dropout_always_on"))
    # part 5: a right answer in another style, and the stride of a layer spreading its own taps
    made["ex03_strided_top_down"] = kit.with_answers(
        **answer("receptive_field_strided", "top_down_recursion"))
    made["ex03_strided_own_stride"] = kit.with_answers(
        **answer("receptive_field_strided", "own_stride_included"))
    return made
