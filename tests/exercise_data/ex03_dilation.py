"""Exercise 03 (receptive field, causal pooling, the TCN block): answer variants and samples.

Data only (see ``tests/exercise_data/__init__.py``): right ways to write each answer, the mistakes
students make with the exact test cells each one fails, and the sample submissions.
"""

from __future__ import annotations

ASSIGNMENT = "03_dilation"

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
    "second_conv_not_padded": (("shape", "values", "is_causal", "receptive_field", "residual"),
                               block("""
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
    "no_dropout": (("values",), block("""
h = F.relu(self.conv1(F.pad(x, (left, 0))))
h = F.relu(self.conv2(F.pad(h, (left, 0))))
return F.relu(h + (x if self.downsample is None else self.downsample(x)))""")),
}

VARIANTS = {"receptive_field": RECEPTIVE_FIELD, "causal_pool1d": CAUSAL_POOL1D,
            "temporal_block": TEMPORAL_BLOCK}
ISOLATION: dict = {}


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
    return made
