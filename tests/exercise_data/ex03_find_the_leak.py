"""Exercise 03 (find the leak: eight models, each with one causality bug): answer variants, samples.

Data only (see ``tests/exercise_data/__init__.py``). Each model but ``Chomped`` has two answer
cells: ``witness_<model>`` (the transfer: ``witness_<model>()`` returns ``(x, x_prime, t)``,
inputs equal wherever the output at t may read and outputs at t that differ on every
initialisation the test builds) with one test cell, ``shows_leak``; and ``<model>``, the fixed
model's ``forward`` (the warm-up) with two, ``is_causal`` (the fixed model) and ``unchanged`` (it
keeps the weights and computes what the model is meant to compute). A variant is (failing
properties or None, body).
"""

from __future__ import annotations

ASSIGNMENT = "03_find_the_leak"

# the solution's forward of each fixed model
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


def fix(answer: str, body: str, properties: tuple[str, ...] | None):
    """A variant of the fixed model's forward (``answer`` names the model, for reading)."""
    return properties, body


LEAKS = ("is_causal", "unchanged")  # a fix that still leaks also computes something else
CHANGES = ("unchanged",)  # a causal fix that computes something else
SHOWS = ("shows_leak",)  # a witness that does not show the leak


def witness(body: str, properties: tuple[str, ...] | None = SHOWS):
    """A variant of witness_<model>()'s body."""
    return properties, body


# ------------------------------------------------------------------------------------ fixes
SAME_PADDING = {
    "solution": (None, FORWARD["same_padding"]),
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
    "solution": (None, FORWARD["chomped"]),
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
    "solution": (None, FORWARD["dilated_pad"]),
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
    "solution": (None, FORWARD["shifted_input"]),
    "cat_zeros": fix("shifted_input", """
        x = torch.cat([torch.zeros_like(x[..., :1]), x[..., :-1]], dim=-1)
        return self.conv(F.pad(x, (1, 0)))""", None),
    "one_pad": fix("shifted_input", "return self.conv(F.pad(x, (2, -1)))", None),
    # mistakes
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
    "solution": (None, FORWARD["sees_the_present"]),
    "one_pad": fix("sees_the_present", """
        h = torch.relu(self.conv1(F.pad(x, (2, -1))))
        return self.conv2(F.pad(h, (1, 0)))""", None),
    "cat_zeros": fix("sees_the_present", """
        x = torch.cat([x.new_zeros(x.size(0), 1, 2), x[..., :-1]], dim=-1)
        h = torch.relu(self.conv1(x))
        return self.conv2(F.pad(h, (1, 0)))""", None),
    # mistakes
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
    "solution": (None, FORWARD["centered_pool"]),
    "replicate_padding": fix("centered_pool", """
        k = self.kernel_size
        return self.conv(F.max_pool1d(F.pad(x, (k - 1, 0), mode="replicate"), k, stride=1))""",
                             None),
    "unfold": fix("centered_pool", """
        k = self.kernel_size
        windows = F.pad(x, (k - 1, 0), value=float("-inf")).unfold(-1, k, 1)
        return self.conv(windows.amax(dim=-1))""", None),
    # mistakes
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
    "solution": (None, FORWARD["lag_feature"]),
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
    "solution": (None, FORWARD["time_norm"]),
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


# -------------------------------------------------------------------------------- witnesses
# the solution's witness of each model (the transfer part)
WITNESS = {
    "same_padding": """
        x = torch.zeros(1, 1, 8)
        x_prime = x.clone()
        x_prime[0, 0, 4] = 1.0
        return x, x_prime, 3""",
    "dilated_pad": """
        x = torch.randn(2, 1, 10, generator=torch.Generator().manual_seed(0))
        x_prime = x.clone()
        x_prime[..., 5] += 1.0
        return x, x_prime, 2""",
    "shifted_input": """
        x = torch.zeros(1, 1, 6)
        x_prime = x.clone()
        x_prime[0, 0, 2] = 1.0
        return x, x_prime, 2""",
    "sees_the_present": """
        x = torch.zeros(2, 1, 5)
        x_prime = x.clone()
        x_prime[:, 0, 3] = torch.tensor([1.0, -1.0])
        return x, x_prime, 3""",
    "centered_pool": """
        x = torch.zeros(1, 1, 6)
        x_prime = x.clone()
        x_prime[0, 0, 3] = 5.0
        return x, x_prime, 2""",
    "lag_feature": """
        x = torch.zeros(1, 1, 24)
        x_prime = x.clone()
        x_prime[0, 0, 20] = 1.0
        return x, x_prime, 0""",
    "time_norm": """
        x = torch.zeros(2, 1, 4)
        x_prime = x.clone()
        x_prime[:, 0, -1] = torch.tensor([1.0, -1.0])
        return x, x_prime, 0""",
}


def one_change(length: int, position: int, t, value: str = "1.0", shape: str = "1, 1") -> str:
    """A witness body: zeros of shape (shape, length), x_prime changed at one position."""
    return f"""
        x = torch.zeros({shape}, {length})
        x_prime = x.clone()
        x_prime[..., {position}] = {value}
        return x, x_prime, {t}"""


WITNESS_SAME_PADDING = {
    "solution": witness(WITNESS["same_padding"], None),
    "random_future": witness("""
        generator = torch.Generator().manual_seed(1)
        x = torch.randn(3, 1, 12, generator=generator)
        x_prime = torch.cat([x[..., :7], torch.randn(3, 1, 5, generator=generator)], dim=-1)
        return x, x_prime, 6""", None),
    "list_in_float64": witness("""
        x = torch.tensor([[[0.0, 0.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
        x_prime = torch.tensor([[[0.0, 0.0, 0.0, 0.0, -3.0]]], dtype=torch.float64)
        return [x, x_prime, 3]""", None),
    "requires_grad": witness("""
        x = torch.zeros(1, 1, 5, requires_grad=True)
        x_prime = x.detach().clone()
        x_prime[0, 0, 1] = 1.0
        return x, x_prime, 0""", None),
    "half_precision": witness(one_change(6, 2, 1).replace(
        "torch.zeros(1, 1, 6)", "torch.zeros(1, 1, 6, dtype=torch.float16)"), None),
    "from_numpy": witness("""
        import numpy as np
        x = torch.from_numpy(np.zeros((1, 1, 6)))
        x_prime = x.clone()
        x_prime[..., 5] = 1
        return x, x_prime, 4""", None),
    "int_from_a_tensor": witness("""
        x = torch.zeros(1, 1, 8)
        x_prime = x.clone()
        x_prime[..., 5] = 2.0
        t = int((x_prime != x).nonzero()[0, -1]) - 1
        return x, x_prime, t""", None),
    # mistakes
    "present_changed": witness(one_change(8, 3, 3)),  # the output at t may read x[t]
    "two_ahead": witness(one_change(8, 5, 3)),  # the kernel of 3 reads only one step ahead
    "swapped_pair": witness(one_change(8, 0, 1)),  # the checker's (t, s) = (0, 1) read as (s, t)
    "t_as_tensor": witness(one_change(8, 4, "torch.tensor(3)")),
    "t_equals_length": witness(one_change(8, 8 - 1, 8)),
    "x_prime_is_x": witness("""
        x = torch.zeros(1, 1, 8)
        x_prime = x
        x_prime[0, 0, 4] = 1.0
        return x, x_prime, 3"""),
    # shows the leak on some initialisations only: |w| * 5e-4 is below 1e-4 for seed 2's weights
    "small_step": witness(one_change(8, 4, 3, "5e-4")),
    "int_tensors": witness("""
        x = torch.tensor([[[0, 0, 0, 0, 0, 0]]])
        x_prime = torch.tensor([[[0, 0, 0, 1, 0, 0]]])
        return x, x_prime, 2"""),
    "one_dimension": witness("""
        x = torch.zeros(8)
        x_prime = x.clone()
        x_prime[4] = 1.0
        return x, x_prime, 3"""),
    "pair_only": witness("""
        x = torch.zeros(1, 1, 8)
        x_prime = x.clone()
        x_prime[0, 0, 4] = 1.0
        return x, x_prime"""),
    "t_first": witness("""
        x = torch.zeros(1, 1, 8)
        x_prime = x.clone()
        x_prime[0, 0, 4] = 1.0
        return 3, x, x_prime"""),
}

WITNESS_DILATED_PAD = {
    "solution": witness(WITNESS["dilated_pad"], None),
    "shortest": witness(one_change(4, 3, 0), None),
    "whole_future_changed": witness("""
        x = torch.zeros(2, 1, 9)
        x_prime = x.clone()
        x_prime[..., 4:] = 1.0
        return x, x_prime, 3""", None),
    # mistakes
    "dilation_distance": witness(one_change(10, 6, 2)),  # reads x[t + 3], not x[t + 4]
    "t_in_the_padded_end": witness(one_change(8, 7, 6)),  # outputs 5 to 7 are padding: zeros
    "too_short": witness(one_change(3, 2, 0)),  # the model cannot run on 3 steps
    "numpy_arrays": witness("""
        import numpy as np
        x = np.zeros((1, 1, 8), dtype=np.float32)
        x_prime = x.copy()
        x_prime[..., 3] = 1
        return x, x_prime, 0"""),
    "swapped_pair": witness(one_change(8, 0, 3)),
}

WITNESS_SHIFTED_INPUT = {
    "solution": witness(WITNESS["shifted_input"], None),
    "next_input": witness(one_change(6, 3, 2), None),
    "everything_at_t_zero": witness("""
        x = torch.zeros(1, 1, 4)
        return x, torch.ones(1, 1, 4), 0""", None),
    # mistakes
    "two_ahead": witness(one_change(6, 4, 2)),  # reads x[t] and x[t + 1], no further
    "swapped_pair": witness(one_change(6, 0, 1)),
    "negative_t": witness(one_change(6, 5, -1)),  # t=-1 for the last position
    "t_as_float": witness(one_change(6, 2, "2.0")),
}

WITNESS_SEES_THE_PRESENT = {
    "solution": witness(WITNESS["sees_the_present"], None),
    "one_positive_change": witness(one_change(5, 0, 0), None),
    "random_present_and_future": witness("""
        generator = torch.Generator().manual_seed(2)
        x = torch.randn(4, 1, 6, generator=generator)
        x_prime = x.clone()
        x_prime[..., 3:] = torch.randn(4, 1, 3, generator=generator)
        return x, x_prime, 3""", None),
    # mistakes
    "future_only": witness(one_change(5, 4, 3)),  # it reads the present, not x[t + 1]
    "last_allowed_changed": witness(one_change(5, 2, 3)),  # x[t - 1] may be read
}

WITNESS_CENTERED_POOL = {
    "solution": witness(WITNESS["centered_pool"], None),
    "negative_inputs": witness("""
        x = -torch.ones(1, 1, 6)
        x_prime = x.clone()
        x_prime[0, 0, 3] = 0.0
        return x, x_prime, 2""", None),
    "falling_ramp": witness("""
        x = torch.arange(6.0).flip(0).view(1, 1, 6)
        x_prime = x.clone()
        x_prime[0, 0, 3] = 10.0
        return x, x_prime, 2""", None),
    # mistakes
    "hidden_by_the_max": witness(one_change(6, 3, 2, "-1.0")),  # max(0, 0, -1) is still 0
    "two_ahead": witness(one_change(6, 4, 2)),
    "swapped_pair": witness(one_change(6, 0, 1)),
    "t_from_argmax": witness("""
        x = torch.zeros(1, 1, 6)
        x_prime = x.clone()
        x_prime[0, 0, 3] = 1.0
        return x, x_prime, (x_prime - x).abs().argmax() - 1"""),
}

WITNESS_LAG_FEATURE = {
    "solution": witness(WITNESS["lag_feature"], None),
    "lag_minus_one": witness(one_change(25, 20, 1), None),  # the first tap reads x[t - 1 + lag]
    "long_random": witness("""
        generator = torch.Generator().manual_seed(3)
        x = torch.randn(2, 1, 40, generator=generator)
        x_prime = x.clone()
        x_prime[..., 31:] += torch.randn(2, 1, 9, generator=generator)
        return x, x_prime, 11""", None),
    # mistakes
    "length_16": witness(one_change(16, 15, 0)),  # the lag reads 20 steps ahead: not in 16
    "lag_plus_one": witness(one_change(30, 21, 0)),
    "lag_backwards": witness(one_change(25, 0, 20)),  # x[t - lag] is what it should read
    "x_prime_is_x": witness("""
        x = torch.zeros(1, 1, 24)
        x_prime = x
        x_prime[..., 20] = 1.0
        return x, x_prime, 0"""),
}

WITNESS_TIME_NORM = {
    "solution": witness(WITNESS["time_norm"], None),
    "one_last_change": witness(one_change(16, 15, 0), None),
    "shifted_future": witness("""
        x = torch.randn(4, 1, 12, generator=torch.Generator().manual_seed(4))
        x_prime = x.clone()
        x_prime[..., 6:] += 2.0
        return x, x_prime, 5""", None),
    # mistakes
    "scaled_sequence": witness("""
        x = torch.randn(1, 1, 8, generator=torch.Generator().manual_seed(5))
        return x, 2 * x, 3"""),
    "swapped_pair": witness(one_change(16, 0, 1)),
    "tiny_change": witness(one_change(16, 15, 0, "1e-6")),
    "as_a_dict": witness("""
        x = torch.zeros(2, 1, 4)
        x_prime = x.clone()
        x_prime[:, 0, -1] = torch.tensor([1.0, -1.0])
        return {"x": x, "x_prime": x_prime, "t": 0}"""),
}

VARIANTS = {
    "witness_same_padding": WITNESS_SAME_PADDING, "same_padding": SAME_PADDING,
    "chomped": CHOMPED,
    "witness_dilated_pad": WITNESS_DILATED_PAD, "dilated_pad": DILATED_PAD,
    "witness_shifted_input": WITNESS_SHIFTED_INPUT, "shifted_input": SHIFTED_INPUT,
    "witness_sees_the_present": WITNESS_SEES_THE_PRESENT, "sees_the_present": SEES_THE_PRESENT,
    "witness_centered_pool": WITNESS_CENTERED_POOL, "centered_pool": CENTERED_POOL,
    "witness_lag_feature": WITNESS_LAG_FEATURE, "lag_feature": LAG_FEATURE,
    "witness_time_norm": WITNESS_TIME_NORM, "time_norm": TIME_NORM,
}
# the models are independent, and so are a model's witness and fix: a wrong answer for one must
# not cost another's points
ISOLATION = {
    "leaky_same_padding_then_right_chomped": ({"same_padding": ("return self.conv(x)",)},
                                              "chomped"),
    "blank_time_norm_then_right_lag_feature": (
        {"time_norm": ("raise NotImplementedError()",),
         "witness_time_norm": ("raise NotImplementedError()",)}, "lag_feature"),
    "blank_witness_then_right_fix": (
        {"witness_same_padding": ("raise NotImplementedError()",)}, "same_padding"),
    "leaky_fix_then_right_witness": (
        {"same_padding": ("return self.conv(x)",)}, "witness_dilated_pad"),
    "wrong_witness_then_right_witness": (
        {"witness_shifted_input": (WITNESS_SHIFTED_INPUT["two_ahead"][1],)},
        "witness_sees_the_present"),
}

# a student's own cell: SamePadding redefined so that its output at t reads x[t + 2], which the
# given model does not; the tests build the given model, not this one
OWN_MODEL = '''# my own SamePadding, to try witnesses on (same layers, a wider look ahead)
class SamePadding(nn.Module):
    def __init__(self, channels=2, kernel_size=3):
        super().__init__()
        self.conv = nn.Conv1d(1, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1))[..., 1:])
'''


def samples(kit) -> dict:
    """{student: make(released notebook) -> notebook}: right in other ways, blank, and wrong in
    the ways students go wrong (a witness that changes what the output may read, or that shows
    nothing, or only for some weights; a fix that still leaks or computes something else)."""
    def answers(*picks: tuple[str, str]) -> dict[str, str]:
        return {answer: kit.variant(answer, name) for answer, name in picks}

    def own_model(nb):
        nb = kit.fill(nb, dict(kit.good, **answers(("witness_same_padding", "two_ahead"))))
        return kit.with_cell(nb, OWN_MODEL, after="given_same_padding")

    return {
        "perfect": kit.with_answers(),
        "blank": lambda nb: nb,
        "ex03_leak_other_ways": kit.with_answers(**answers(
            ("witness_same_padding", "random_future"), ("same_padding", "fft_convolution"),
            ("chomped", "chomp_or_none"),
            ("witness_dilated_pad", "whole_future_changed"), ("dilated_pad", "conv_then_crop"),
            ("witness_shifted_input", "next_input"), ("shifted_input", "cat_zeros"),
            ("witness_sees_the_present", "random_present_and_future"),
            ("witness_centered_pool", "falling_ramp"), ("centered_pool", "replicate_padding"),
            ("witness_lag_feature", "lag_minus_one"), ("lag_feature", "roll_and_zero"),
            ("witness_time_norm", "shifted_future"), ("time_norm", "by_hand_biased_variance"))),
        "ex03_leak_forgot_strict": kit.with_answers(**answers(
            ("witness_sees_the_present", "future_only"), ("shifted_input", "shift_removed"))),
        "ex03_leak_shifted_fixes": kit.with_answers(**answers(
            ("same_padding", "shift_input_one_step"), ("shifted_input", "shift_output"),
            ("sees_the_present", "shift_output"))),
        "ex03_leak_padding_values": kit.with_answers(**answers(
            ("centered_pool", "zero_padding"), ("lag_feature", "lag_off_by_one"),
            ("chomped", "chomp_at_least_one"))),
        # the checker's first pair (t, s) read as (s, t): t = s, and x changed at the old t
        "ex03_leak_swapped_pairs": kit.with_answers(**answers(*[
            (f"witness_{model}", "swapped_pair") for model in (
                "same_padding", "dilated_pad", "shifted_input", "centered_pool", "time_norm")],
            ("witness_lag_feature", "lag_backwards"))),
        "ex03_leak_time_statistics": kit.with_answers(**answers(
            ("time_norm", "group_norm"), ("witness_lag_feature", "length_16"),
            ("witness_dilated_pad", "dilation_distance"))),
        "ex03_leak_own_model": own_model,
        "ex03_leak_tensor_t": kit.with_answers(**answers(
            ("witness_same_padding", "t_as_tensor"), ("witness_centered_pool", "t_from_argmax"),
            ("witness_shifted_input", "negative_t"))),
        "ex03_leak_small_steps": kit.with_answers(**answers(
            ("witness_same_padding", "small_step"), ("witness_time_norm", "tiny_change"),
            ("witness_lag_feature", "x_prime_is_x"))),
        "ex03_leak_rolled": kit.with_answers(**answers(
            ("shifted_input", "roll"), ("lag_feature", "plain_roll"),
            ("witness_centered_pool", "hidden_by_the_max"))),
    }
