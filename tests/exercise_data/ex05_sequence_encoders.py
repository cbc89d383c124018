"""Exercise 05 (a causal CNN encoder for next-item prediction): variants and samples.

Data only (see ``tests/exercise_data/__init__.py``): right ways to write the encoder's forward,
and the mistakes real next-item encoders make, above all the off-by-one of the shift, in both
directions, with the exact test cells each one fails, and the sample submissions the grading
round trip grades.

The cells: ``shape``; ``is_causal`` (the representation at t changes with no item s >= t);
``sees_its_past`` (it uses item t - 1, and its widest window of items spans R = 1 + sum((k-1) d));
``values`` (the definition, with the encoder's own weights). An alignment that is causal and reads
the same window but computes another function (the stack's output shifted instead of its input,
the item ids shifted with item 0 as padding, the residual sums forgotten) fails ``values`` only.
A shift of two is causal but misses item t - 1: ``sees_its_past`` and ``values``; no shift sees
item t but still item t - 1 and a window of R items: ``is_causal`` and ``values``. The
``sees_its_past`` checks use kernels of size >= 2 with a dilation-1 layer (with ``kernel_size=1``
an unshifted encoder would not read item t - 1 either, and fail it too).
"""

from __future__ import annotations

ASSIGNMENT = "05_sequence_encoders"

LEFT = "(self.kernel_size - 1) * d"
STACK = f"""
for conv, d in zip(self.convs, self.dilations):
    h = h + F.relu(conv(F.pad(h, ({LEFT}, 0))))"""
OUT = "\nreturn h.transpose(1, 2)"


def encoder(shift: str, stack: str = STACK, out: str = OUT) -> str:
    """A forward: the embeddings as (B, dim, T) in h, ``shift``, then ``stack`` and ``out``."""
    return ("h = self.embedding(items).transpose(1, 2)  # (B, dim, T)\n" + shift.strip("\n")
            + "\n" + stack.strip("\n") + out)


NEXT_ITEM_ENCODER = {
    # right ways ----------------------------------------------------------------------------
    "pad_then_conv": (None, encoder("h = F.pad(h, (1, -1))")),
    "conv_padding_then_crop": (None, encoder("h = F.pad(h, (1, 0))[..., :-1]", """
length = h.size(-1)
for conv, d in zip(self.convs, self.dilations):
    z = F.conv1d(h, conv.weight, conv.bias, dilation=d, padding=(self.kernel_size - 1) * d)
    h = h + torch.relu(z[..., :length])""")),
    "cat_zeros": (None, encoder("""
zero = h.new_zeros(h.size(0), h.size(1), 1)
h = torch.cat([zero, h[..., :-1]], dim=2)""", """
for conv, d in zip(self.convs, self.dilations):
    left = h.new_zeros(h.size(0), h.size(1), (self.kernel_size - 1) * d)
    h = h + F.relu(conv(torch.cat([left, h], dim=2)))""")),
    "roll_and_zero": (None, encoder("""
h = torch.roll(h, 1, dims=2)
h[:, :, 0] = 0""", """
for layer, conv in enumerate(self.convs):
    pad = nn.ConstantPad1d(((self.kernel_size - 1) * self.dilations[layer], 0), 0.0)
    h = h + F.relu(conv(pad(h)))""")),
    "embed_the_past_items_only": (None, """
e = self.embedding(items[:, :-1])  # (B, T - 1, dim): the items that have a successor
e = torch.cat([e.new_zeros(items.size(0), 1, e.size(2)), e], dim=1)  # (B, T, dim)
h = e.permute(0, 2, 1)""" + STACK + "\nreturn h.permute(0, 2, 1)"),
    "time_major_shift": (None, """
e = self.embedding(items)  # (B, T, dim)
e = F.pad(e, (0, 0, 1, -1))  # (B, T, dim): a zero row on top, the last row dropped
h = e.transpose(1, 2).contiguous()""" + STACK + OUT),
    # every causal convolution by FFT, in float32: right, with FFT round-off
    "fft_convolutions": (None, encoder("h = F.pad(h, (1, -1))", """
length = h.size(-1)
for conv, d in zip(self.convs, self.dilations):
    left = (self.kernel_size - 1) * d
    kernel = conv.weight.new_zeros(*conv.weight.shape[:2], left + 1)
    kernel[..., ::d] = conv.weight
    n = length + left
    spectrum = torch.einsum("bif,oif->bof", torch.fft.rfft(h, n=n),
                            torch.fft.rfft(kernel.flip(-1), n=n))
    z = torch.fft.irfft(spectrum, n=n)[..., :length] + conv.bias[:, None]
    h = h + F.relu(z)""")),
    # the off-by-one, both ways ---------------------------------------------------------------
    "no_shift": (("is_causal", "values"), encoder("")),
    "shifted_twice": (("sees_its_past", "values"), """
e = F.pad(self.embedding(items), (0, 0, 1, -1))  # (B, T, dim), shifted
h = F.pad(e.transpose(1, 2), (1, -1))  # and shifted again""" + STACK + OUT),
    # F.pad(h, (2, -2)) also raises on a session of one item (narrow() of a negative length)
    "padded_by_two": (("shape", "sees_its_past", "values"), encoder("h = F.pad(h, (2, -2))")),
    # causal alignments that compute another function -----------------------------------------
    "shift_after_the_stack": (("values",), encoder("", out="""
return F.pad(h, (1, -1)).transpose(1, 2)""")),
    "ids_shifted_with_item_0": (("values",), """
shifted = F.pad(items, (1, -1))  # item 0 as padding: its embedding, not zeros, at t=0
h = self.embedding(shifted).transpose(1, 2)""" + STACK + OUT),
    "residual_forgotten": (("values",), encoder("h = F.pad(h, (1, -1))", f"""
for conv, d in zip(self.convs, self.dilations):
    h = F.relu(conv(F.pad(h, ({LEFT}, 0))))""")),
    # shifting in every layer (the "mask A everywhere" of sequences) ----------------------------
    "shift_inside_every_layer": (("is_causal", "sees_its_past", "values"), encoder("", f"""
for conv, d in zip(self.convs, self.dilations):
    h = h + F.relu(conv(F.pad(h, ({LEFT} + 1, -1))))""")),
    "shifted_again_in_every_layer": (("sees_its_past", "values"), encoder(
        "h = F.pad(h, (1, -1))", f"""
for conv, d in zip(self.convs, self.dilations):
    h = h + F.relu(conv(F.pad(h, ({LEFT} + 1, -1))))""")),
    # padding on the wrong side ---------------------------------------------------------------
    "padding_on_the_right": (("is_causal", "values"), encoder("h = F.pad(h, (1, -1))", f"""
for conv, d in zip(self.convs, self.dilations):
    h = h + F.relu(conv(F.pad(h, (0, {LEFT}))))""")),
    "same_padding": (("is_causal", "values"), encoder("h = F.pad(h, (1, -1))", """
for conv, d in zip(self.convs, self.dilations):
    h = h + F.relu(F.conv1d(h, conv.weight, conv.bias, dilation=d, padding="same"))""")),
    "crop_the_wrong_end": (("is_causal", "values"), encoder("h = F.pad(h, (1, -1))", """
length = h.size(-1)
for conv, d in zip(self.convs, self.dilations):
    z = F.conv1d(h, conv.weight, conv.bias, dilation=d, padding=(self.kernel_size - 1) * d)
    h = h + F.relu(z[..., -length:])""")),
    # the stack ---------------------------------------------------------------------------------
    "returns_after_the_first_layer": (("sees_its_past", "values"), encoder(
        "h = F.pad(h, (1, -1))", STACK + OUT.replace("\n", "\n    "), out="")),
    # crashes: every cell fails, each saying which call raised or what shape came back
    "padding_ignores_the_dilation": (("shape", "is_causal", "sees_its_past", "values"),
                                     encoder("h = F.pad(h, (1, -1))", """
for conv in self.convs:
    h = h + F.relu(conv(F.pad(h, (self.kernel_size - 1, 0))))""")),
    "output_not_transposed": (("shape", "is_causal", "sees_its_past", "values"),
                              encoder("h = F.pad(h, (1, -1))", out="\nreturn h")),
}

VARIANTS = {"next_item_encoder": NEXT_ITEM_ENCODER}
ISOLATION: dict = {}  # one answer: nothing earlier to break


def samples(kit) -> dict:
    """{student: make(released notebook) -> notebook}: right in two ways, blank, and the
    off-by-one both ways, and a causal alignment that computes another function."""
    made = {"perfect": kit.with_answers(), "blank": lambda nb: nb}
    for name in ["conv_padding_then_crop", "no_shift", "shifted_twice", "shift_after_the_stack"]:
        made[f"ex05_{name}"] = kit.with_answers(
            next_item_encoder=kit.variant("next_item_encoder", name))
    return made
