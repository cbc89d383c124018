"""Exercise 03 (find the leak: eight models, each with one causality bug): answer variants, samples.

Data only (see ``tests/exercise_data/__init__.py``). Each answer cell has two solution regions:
``where_<model>()``, the first (t, s) pair the checker names (or None), and ``forward`` of the
fixed model. A variant is (failing properties or None, (where body, forward body)); its test cells
are ``located`` (the pair), ``is_causal`` (the fixed model) and ``unchanged`` (the fixed model
keeps the weights and computes what the model is meant to compute).
"""

from __future__ import annotations

import re
import textwrap

ASSIGNMENT = "03_find_the_leak"

# the solution's answers: (where body, forward body) for each answer cell
WHERE = {
    "same_padding": "return (0, 1)",
    "chomped": "return None",
    "dilated_pad": "return (0, 3)",
    "shifted_input": "return (0, 1)",
    "sees_the_present": "return (0, 0)",
    "centered_pool": "return (0, 1)",
    "lag_feature": "return (0, 20)",
    "time_norm": "return (0, 1)",
}
FORWARD = {
    "same_padding": """
        left = self.conv.kernel_size[0] - 1
        return F.conv1d(F.pad(x, (left, 0)), self.conv.weight, self.conv.bias)""",
    "chomped": """
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = torch.relu(x)
            length = x.size(-1)
            x = conv(x)[..., :length]
        return x""",
    "dilated_pad": """
        left = (self.conv.kernel_size[0] - 1) * self.conv.dilation[0]
        return self.conv(F.pad(x, (left, 0)))""",
    "shifted_input": """
        x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (1, 0)))""",
    "sees_the_present": """
        x = F.pad(x, (1, -1))
        h = torch.relu(self.conv1(F.pad(x, (1, 0))))
        return self.conv2(F.pad(h, (1, 0)))""",
    "centered_pool": """
        k = self.kernel_size
        x = F.pad(x, (k - 1, 0), value=float("-inf"))
        return self.conv(F.max_pool1d(x, k, stride=1))""",
    "lag_feature": """
        lagged = F.pad(x, (self.lag, 0))[..., : x.size(-1)]
        features = torch.cat([x, lagged], dim=1)
        return self.conv(F.pad(features, (1, 0)))""",
    "time_norm": """
        h = self.conv1(F.pad(x, (1, 0)))
        h = F.layer_norm(h.transpose(1, 2), h.shape[1:2]).transpose(1, 2)
        return self.conv2(torch.relu(h))""",
}
CLASSES = {
    "same_padding": "SamePadding", "chomped": "Chomped", "dilated_pad": "DilatedPad",
    "shifted_input": "ShiftedInput", "sees_the_present": "SeesThePresent",
    "centered_pool": "CenteredPool", "lag_feature": "LagFeature", "time_norm": "TimeNorm",
}
STRICT = {"shifted_input", "sees_the_present"}
# a right forward for SamePadding and DilatedPad: the causal convolution of self.conv by FFT
FFT_CONV = """
        weight, d, length = self.conv.weight, {dilation}, x.size(-1)
        left = (weight.size(-1) - 1) * d
        kernel = weight.new_zeros(*weight.shape[:2], left + 1)
        kernel[..., ::d] = weight
        n = length + left
        spectrum = torch.einsum("bif,oif->bof", torch.fft.rfft(x, n=n),
                                torch.fft.rfft(kernel.flip(-1), n=n))
        return torch.fft.irfft(spectrum, n=n)[..., :length] + self.conv.bias[:, None]"""


def computed_where(answer: str) -> str:
    """A where body that runs the checker and returns what its error holds (a right way)."""
    strict = ", strict=True" if answer in STRICT else ""
    return textwrap.dedent(f"""
        try:
            toylib.checks.assert_causal({CLASSES[answer]}(){strict})
        except toylib.checks.CausalityError as error:
            return error.output_t, error.input_s
        except ValueError:
            return None
        return None""")


def where(answer: str, body: str, properties: tuple[str, ...] | None = ("located",)):
    """A variant with another where body and the solution's forward."""
    return properties, (body, FORWARD[answer])


def fix(answer: str, body: str, properties: tuple[str, ...] | None):
    """A variant with the solution's where and another forward body."""
    return properties, (WHERE[answer], body)


LEAKS = ("is_causal", "unchanged")  # a fix that still leaks also computes something else
CHANGES = ("unchanged",)  # a causal fix that computes something else

SAME_PADDING = {
    "solution": (None, (WHERE["same_padding"], FORWARD["same_padding"])),
    "where_as_list": where("same_padding", "return [0, 1]", None),
    "where_computed": where("same_padding", computed_where("same_padding"), None),
    "conv_then_crop": fix("same_padding", """
        k = self.conv.kernel_size[0]
        y = F.conv1d(x, self.conv.weight, self.conv.bias, padding=k - 1)
        return y[..., : x.size(-1)]""", None),
    "extra_left_pad_then_crop": fix("same_padding", """
        k, p = self.conv.kernel_size[0], self.conv.padding[0]
        return self.conv(F.pad(x, (k - 1 - p, 0)))[..., : x.size(-1)]""", None),
    "cat_zeros": fix("same_padding", """
        k = self.conv.kernel_size[0]
        zeros = x.new_zeros(x.size(0), x.size(1), k - 1)
        return F.conv1d(torch.cat([zeros, x], dim=-1), self.conv.weight, self.conv.bias)""",
                     None),
    # by FFT in float32: next to outputs such as 23456, 1 comes out as 0.996 (or 0.998)
    "fft_convolution": fix("same_padding", FFT_CONV.format(dilation="1"), None),
    # mistakes
    "where_swapped": where("same_padding", "return (1, 0)"),
    "where_as_text": where("same_padding", 'return "output at t=0 depends on x[1]"'),
    "where_three_numbers": where("same_padding", "return (0, 1, 15)"),
    "shift_input_one_step": fix("same_padding", "return self.conv(F.pad(x, (1, -1)))", CHANGES),
    "shift_output": fix("same_padding", "return F.pad(self.conv(x), (1, -1))", CHANGES),
    "crop_on_wrong_side": fix("same_padding", """
        k = self.conv.kernel_size[0]
        y = F.conv1d(x, self.conv.weight, self.conv.bias, padding=k - 1)
        return y[..., k - 1:]""", LEAKS),
    "right_padding": fix("same_padding", """
        k = self.conv.kernel_size[0]
        return F.conv1d(F.pad(x, (0, k - 1)), self.conv.weight, self.conv.bias)""", LEAKS),
    "flipped_kernel": fix("same_padding", """
        k = self.conv.kernel_size[0]
        return F.conv1d(F.pad(x, (k - 1, 0)), self.conv.weight.flip(-1), self.conv.bias)""",
                          CHANGES),
    "new_layer_in_forward": fix("same_padding", """
        k = self.conv.kernel_size[0]
        conv = nn.Conv1d(1, self.conv.out_channels, k)
        return conv(F.pad(x, (k - 1, 0)))""", CHANGES),
}

CHOMPED = {
    "solution": (None, (WHERE["chomped"], FORWARD["chomped"])),
    "where_computed": where("chomped", computed_where("chomped"), None),
    "chomp_or_none": fix("chomped", """
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = torch.relu(x)
            x = conv(x)[..., : -conv.padding[0] or None]
        return x""", None),
    "guarded_chomp": fix("chomped", """
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = torch.relu(x)
            chomp = conv.padding[0]
            y = conv(x)
            x = y[..., :-chomp] if chomp > 0 else y
        return x""", None),
    "functional_left_pad": fix("chomped", """
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = torch.relu(x)
            x = F.conv1d(F.pad(x, (conv.padding[0], 0)), conv.weight, conv.bias,
                         dilation=conv.dilation)
        return x""", None),
    # mistakes
    "where_a_pair": where("chomped", "return (0, 0)"),
    "where_error_name": where("chomped", 'return "ValueError"'),
    "chomp_on_the_left": fix("chomped", """
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = torch.relu(x)
            x = conv(x)[..., conv.padding[0]:]
        return x""", LEAKS),
    "chomp_at_least_one": fix("chomped", """
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = torch.relu(x)
            x = conv(x)[..., :-max(conv.padding[0], 1)]
        return x""", LEAKS),
    "relu_dropped": fix("chomped", """
        for conv in self.convs:
            length = x.size(-1)
            x = conv(x)[..., :length]
        return x""", CHANGES),
    "output_layer_dropped": fix("chomped", """
        conv = self.convs[0]
        return conv(x)[..., : x.size(-1)]""", CHANGES),
}

DILATED_PAD = {
    "solution": (None, (WHERE["dilated_pad"], FORWARD["dilated_pad"])),
    "where_as_list": where("dilated_pad", "return [0, 3]", None),
    "conv_then_crop": fix("dilated_pad", """
        k, d = self.conv.kernel_size[0], self.conv.dilation[0]
        y = F.conv1d(x, self.conv.weight, self.conv.bias, dilation=d, padding=(k - 1) * d)
        return y[..., : x.size(-1)]""", None),
    "end_padding_kept": fix("dilated_pad", """
        left = (self.conv.kernel_size[0] - 1) * self.conv.dilation[0]
        y = self.conv(F.pad(x, (left, 0)))
        return F.pad(y, (0, x.size(-1) - y.size(-1)))""", None),
    "cat_zeros": fix("dilated_pad", """
        left = (self.conv.kernel_size[0] - 1) * self.conv.dilation[0]
        return self.conv(torch.cat([x.new_zeros(x.size(0), 1, left), x], dim=-1))""", None),
    "fft_convolution": fix("dilated_pad", FFT_CONV.format(dilation="self.conv.dilation[0]"),
                           None),
    # mistakes
    "where_the_dilation": where("dilated_pad", "return (0, 4)"),
    "pad_the_dilation_only": fix("dilated_pad", """
        return self.conv(F.pad(x, (self.conv.dilation[0], 0)))""", CHANGES),
    "output_padded_on_the_left": fix("dilated_pad", """
        y = self.conv(F.pad(x, (self.conv.kernel_size[0] - 1, 0)))
        return F.pad(y, (x.size(-1) - y.size(-1), 0))""", CHANGES),
    "symmetric_padding": fix("dilated_pad", """
        pad = (self.conv.kernel_size[0] - 1) * self.conv.dilation[0]
        return self.conv(F.pad(x, (pad // 2, pad - pad // 2)))""", LEAKS),
    "bug_kept": fix("dilated_pad", """
        y = self.conv(F.pad(x, (self.conv.kernel_size[0] - 1, 0)))
        return F.pad(y, (0, x.size(-1) - y.size(-1)))""", LEAKS),
}

SHIFTED_INPUT = {
    "solution": (None, (WHERE["shifted_input"], FORWARD["shifted_input"])),
    "where_computed": where("shifted_input", computed_where("shifted_input"), None),
    "cat_zeros": fix("shifted_input", """
        x = torch.cat([torch.zeros_like(x[..., :1]), x[..., :-1]], dim=-1)
        return self.conv(F.pad(x, (1, 0)))""", None),
    "one_pad": fix("shifted_input", "return self.conv(F.pad(x, (2, -1)))", None),
    # mistakes
    "where_the_present": where("shifted_input", "return (0, 0)"),
    "shift_removed": fix("shifted_input", "return self.conv(F.pad(x, (1, 0)))", LEAKS),
    "roll": fix("shifted_input", """
        x = torch.roll(x, 1, dims=-1)
        return self.conv(F.pad(x, (1, 0)))""", LEAKS),
    "shift_by_two": fix("shifted_input", """
        x = F.pad(x, (2, -2))
        return self.conv(F.pad(x, (1, 0)))""", CHANGES),
    "shift_output": fix("shifted_input", """
        y = self.conv(F.pad(x, (1, 0)))
        return F.pad(y, (1, -1))""", CHANGES),
}

SEES_THE_PRESENT = {
    "solution": (None, (WHERE["sees_the_present"], FORWARD["sees_the_present"])),
    "where_as_list": where("sees_the_present", "return [0, 0]", None),
    "one_pad": fix("sees_the_present", """
        h = torch.relu(self.conv1(F.pad(x, (2, -1))))
        return self.conv2(F.pad(h, (1, 0)))""", None),
    "cat_zeros": fix("sees_the_present", """
        x = torch.cat([x.new_zeros(x.size(0), 1, 2), x[..., :-1]], dim=-1)
        h = torch.relu(self.conv1(x))
        return self.conv2(F.pad(h, (1, 0)))""", None),
    # mistakes
    "where_not_strict": where("sees_the_present", "return None"),
    "hide_in_second_layer": fix("sees_the_present", """
        h = torch.relu(self.conv1(F.pad(x, (1, 0))))
        return self.conv2(F.pad(h, (2, -1)))""", CHANGES),
    "shift_both_layers": fix("sees_the_present", """
        h = torch.relu(self.conv1(F.pad(x, (2, -1))))
        return self.conv2(F.pad(h, (2, -1)))""", CHANGES),
    "shift_output": fix("sees_the_present", """
        h = torch.relu(self.conv1(F.pad(x, (1, 0))))
        return F.pad(self.conv2(F.pad(h, (1, 0))), (1, -1))""", CHANGES),
    "bug_kept": fix("sees_the_present", """
        h = torch.relu(self.conv1(F.pad(x, (1, 0))))
        return self.conv2(F.pad(h, (1, 0)))""", LEAKS),
}

CENTERED_POOL = {
    "solution": (None, (WHERE["centered_pool"], FORWARD["centered_pool"])),
    "where_computed": where("centered_pool", computed_where("centered_pool"), None),
    "replicate_padding": fix("centered_pool", """
        k = self.kernel_size
        return self.conv(F.max_pool1d(F.pad(x, (k - 1, 0), mode="replicate"), k, stride=1))""",
                             None),
    "unfold": fix("centered_pool", """
        k = self.kernel_size
        windows = F.pad(x, (k - 1, 0), value=float("-inf")).unfold(-1, k, 1)
        return self.conv(windows.amax(dim=-1))""", None),
    # mistakes
    "where_swapped": where("centered_pool", "return (1, 0)"),
    "zero_padding": fix("centered_pool", """
        k = self.kernel_size
        return self.conv(F.max_pool1d(F.pad(x, (k - 1, 0)), k, stride=1))""", CHANGES),
    "shift_output": fix("centered_pool", """
        k = self.kernel_size
        m = F.max_pool1d(x, k, stride=1, padding=k // 2)
        return self.conv(F.pad(m, (k // 2, -(k // 2))))""", CHANGES),
    "average_instead_of_max": fix("centered_pool", """
        k = self.kernel_size
        return self.conv(F.avg_pool1d(F.pad(x, (k - 1, 0)), k, stride=1))""", CHANGES),
    "padding_too_large": fix("centered_pool", """
        k = self.kernel_size
        m = F.max_pool1d(x, k, stride=1, padding=k - 1)
        return self.conv(m[..., : x.size(-1)])""", LEAKS),
}

LAG_FEATURE = {
    "solution": (None, (WHERE["lag_feature"], FORWARD["lag_feature"])),
    "where_computed": where("lag_feature", computed_where("lag_feature"), None),
    "cat_zeros": fix("lag_feature", """
        zeros = x.new_zeros(x.size(0), 1, self.lag)
        lagged = torch.cat([zeros, x], dim=-1)[..., : x.size(-1)]
        features = torch.cat([x, lagged], dim=1)
        return self.conv(F.pad(features, (1, 0)))""", None),
    "roll_and_zero": fix("lag_feature", """
        lagged = torch.roll(x, self.lag, dims=-1)
        lagged[..., : self.lag] = 0
        features = torch.cat([x, lagged], dim=1)
        return self.conv(F.pad(features, (1, 0)))""", None),
    # mistakes
    "where_at_length_16_only": where("lag_feature", "return None"),
    "where_swapped": where("lag_feature", "return (20, 0)"),
    "negative_pad": fix("lag_feature", """
        lagged = F.pad(x, (self.lag, -self.lag))
        features = torch.cat([x, lagged], dim=1)
        return self.conv(F.pad(features, (1, 0)))""", LEAKS),
    "lag_off_by_one": fix("lag_feature", """
        lagged = F.pad(x, (self.lag - 1, 0))[..., : x.size(-1)]
        features = torch.cat([x, lagged], dim=1)
        return self.conv(F.pad(features, (1, 0)))""", CHANGES),
    "lag_dropped": fix("lag_feature", """
        features = torch.cat([x, torch.zeros_like(x)], dim=1)
        return self.conv(F.pad(features, (1, 0)))""", CHANGES),
    "plain_roll": fix("lag_feature", """
        lagged = torch.roll(x, self.lag, dims=-1)
        features = torch.cat([x, lagged], dim=1)
        return self.conv(F.pad(features, (1, 0)))""", LEAKS),
    "bug_kept": fix("lag_feature", """
        lagged = F.pad(x, (0, self.lag))[..., self.lag:]
        features = torch.cat([x, lagged], dim=1)
        return self.conv(F.pad(features, (1, 0)))""", LEAKS),
}

TIME_NORM = {
    "solution": (None, (WHERE["time_norm"], FORWARD["time_norm"])),
    "where_as_list": where("time_norm", "return [0, 1]", None),
    "by_hand_biased_variance": fix("time_norm", """
        h = self.conv1(F.pad(x, (1, 0)))
        mean = h.mean(dim=1, keepdim=True)
        var = h.var(dim=1, unbiased=False, keepdim=True)
        return self.conv2(torch.relu((h - mean) / torch.sqrt(var + 1e-5)))""", None),
    "permute_layer_norm": fix("time_norm", """
        h = self.conv1(F.pad(x, (1, 0))).permute(0, 2, 1)
        h = F.layer_norm(h, (h.size(-1),)).permute(0, 2, 1)
        return self.conv2(torch.relu(h))""", None),
    # mistakes
    "where_last_pair": where("time_norm", "return (15, 14)"),
    "unbiased_variance": fix("time_norm", """
        h = self.conv1(F.pad(x, (1, 0)))
        mean, var = h.mean(dim=1, keepdim=True), h.var(dim=1, keepdim=True)
        return self.conv2(torch.relu((h - mean) / torch.sqrt(var + 1e-5)))""", CHANGES),
    "group_norm": fix("time_norm", """
        h = self.conv1(F.pad(x, (1, 0)))
        return self.conv2(torch.relu(F.group_norm(h, 1)))""", LEAKS),
    "instance_norm": fix("time_norm", """
        h = self.conv1(F.pad(x, (1, 0)))
        return self.conv2(torch.relu(F.instance_norm(h)))""", LEAKS),
    "norm_removed": fix("time_norm", """
        return self.conv2(torch.relu(self.conv1(F.pad(x, (1, 0)))))""", CHANGES),
    "running_statistics_over_time": fix("time_norm", """
        h = self.conv1(F.pad(x, (1, 0)))
        count = torch.arange(1, h.size(-1) + 1, dtype=h.dtype)
        mean = h.cumsum(dim=-1) / count
        var = (h * h).cumsum(dim=-1) / count - mean * mean
        return self.conv2(torch.relu((h - mean) / torch.sqrt(var.clamp(min=0) + 1e-5)))""",
                                        CHANGES),
}

VARIANTS = {"same_padding": SAME_PADDING, "chomped": CHOMPED, "dilated_pad": DILATED_PAD,
            "shifted_input": SHIFTED_INPUT, "sees_the_present": SEES_THE_PRESENT,
            "centered_pool": CENTERED_POOL, "lag_feature": LAG_FEATURE, "time_norm": TIME_NORM}
# the models are independent: a wrong answer for one must not cost another's points
ISOLATION = {
    "leaky_same_padding_then_right_chomped": (
        {"same_padding": ("return (1, 0)", "return self.conv(x)")}, "chomped"),
    "blank_time_norm_then_right_lag_feature": (
        {"time_norm": ("raise NotImplementedError()", "raise NotImplementedError()")},
        "lag_feature"),
}


def samples(kit) -> dict:
    """{student: make(released notebook) -> notebook}: right in other ways, blank, and wrong in
    the ways students go wrong (a pair misread, a fix that still leaks or computes something
    else)."""
    def answers(*picks: tuple[str, str]) -> dict[str, str]:
        return {answer: kit.variant(answer, name) for answer, name in picks}

    # every pair written (s, t) instead of (t, s): wrong wherever s != t
    swapped = {answer: kit.replace(kit.good[answer], body, re.sub(
        r"\((\d+), (\d+)\)", r"(\2, \1)", body)) for answer, body in WHERE.items()
        if body != "return None"}
    return {
        "perfect": kit.with_answers(),
        "blank": lambda nb: nb,
        "ex03_leak_other_ways": kit.with_answers(**answers(
            ("same_padding", "where_computed"), ("chomped", "chomp_or_none"),
            ("dilated_pad", "conv_then_crop"), ("shifted_input", "cat_zeros"),
            ("sees_the_present", "where_as_list"), ("centered_pool", "replicate_padding"),
            ("lag_feature", "roll_and_zero"), ("time_norm", "by_hand_biased_variance"))),
        "ex03_leak_forgot_strict": kit.with_answers(**answers(
            ("sees_the_present", "where_not_strict"), ("shifted_input", "shift_removed"))),
        "ex03_leak_shifted_fixes": kit.with_answers(**answers(
            ("same_padding", "shift_input_one_step"), ("shifted_input", "shift_output"),
            ("sees_the_present", "shift_output"))),
        "ex03_leak_padding_values": kit.with_answers(**answers(
            ("centered_pool", "zero_padding"), ("lag_feature", "lag_off_by_one"),
            ("chomped", "chomp_at_least_one"))),
        "ex03_leak_swapped_pairs": kit.with_answers(**swapped),
        "ex03_leak_time_statistics": kit.with_answers(**answers(
            ("time_norm", "group_norm"), ("lag_feature", "where_at_length_16_only"),
            ("dilated_pad", "where_the_dilation"))),
    }
