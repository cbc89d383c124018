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

The transfer, ``PaddedNextItemEncoder`` (sessions left-padded with ``padding_id``), has the cells
``interface`` (the contract's attributes, the padding row of the embedding zero, the output's
shape); ``is_causal`` (dependency map of padded batches, real items replaced by real items);
``padding_is_zero`` (exact zeros before each session's first item); ``ignores_padding`` (each
session's real positions against the same encoder on that session alone, its padding removed:
the reference is the student's own model, so a wrong stack that is consistent with itself passes);
and ``values`` (sessions without padding against part 1's definition in float64). Where the mask
goes decides the cells: only after the embedding (Spotlight's CNN) leaves relu(bias) at the
padding, read by the first items and returned (``padding_is_zero``, ``ignores_padding``); only at
the end hides the output but not what the layers read (``ignores_padding``); on each conv's input
but not the last output (``padding_is_zero``). A mask from the shifted ids zeroes the first item's
position in the session alone as well, so padding changes nothing, but t = 0 is wrong
(``values``). Shifting after masking, or shifting the ids with ``padding_id`` as filler, is right:
the first item's position reads the padding's embedding, zero (``padding_idx``), as the session
alone reads its zero padding; with a non-zero padding row (``padding_idx`` missing or hard-coded,
the table re-initialised) it reads that row (``ignores_padding``) unless the embeddings are masked
before the shift.
"""

from __future__ import annotations

import textwrap

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
    # a shift that wraps: the last item comes back at t = 0
    "roll_without_zeroing": (("is_causal", "values"), encoder("h = torch.roll(h, 1, dims=2)")),
    # the dilations of the lecture's stack, whatever the constructor was given
    "dilations_as_powers_of_two": (("sees_its_past", "values"), encoder("h = F.pad(h, (1, -1))", """
for layer, conv in enumerate(self.convs):
    d = 2 ** layer
    h = h + F.relu(F.conv1d(F.pad(h, ((self.kernel_size - 1) * d, 0)), conv.weight, conv.bias,
                            dilation=d))""")),
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

# the transfer: PaddedNextItemEncoder, left-padded sessions ---------------------------------------
INIT = """
self.embedding = nn.Embedding(nb_items, dim, padding_idx=padding_id)
self.convs = nn.ModuleList(nn.Conv1d(dim, dim, kernel_size, dilation=d) for d in dilations)
self.kernel_size, self.dilations, self.padding_id = kernel_size, tuple(dilations), padding_id"""
REAL = "real = (items != self.padding_id).unsqueeze(1)  # (B, 1, T)\n"
SHIFTED = "h = F.pad(self.embedding(items).transpose(1, 2), (1, -1))  # (B, dim, T)\n"


def padded(forward: str, init: str = INIT) -> tuple[str, str]:
    """The two solution regions of PaddedNextItemEncoder: the constructor's and forward's."""
    return init, forward


def layers(after: str = "", before: str = "", branch: str = "") -> str:
    """The residual stack, with ``before`` applied to the conv's input h, ``branch`` to the
    relu branch and ``after`` to h after each layer."""
    return f"""
for conv, d in zip(self.convs, self.dilations):
    x = F.pad(h{before}, ({LEFT}, 0))
    h = h + F.relu(conv(x)){branch}
    h = h{after}"""


PADDED_NEXT_ITEM_ENCODER = {
    # right ways ----------------------------------------------------------------------------
    "mask_after_every_layer": (None, padded(REAL + SHIFTED + "h = h * real" + layers(" * real")
                                            + OUT)),
    # no mask after the shift: the padding row of the embedding is zero, so is every padding
    # position of the shifted input (and the first item's position reads a padding one)
    "masked_fill_after_every_layer": (None, padded(
        "pad = (items == self.padding_id).unsqueeze(1)  # (B, 1, T)\n" + SHIFTED
        + layers(".masked_fill(pad, 0.0)") + OUT)),
    "where_time_major": (None, padded("""
real = (items != self.padding_id)[..., None]  # (B, T, 1)
e = self.embedding(items)  # (B, T, dim)
h = torch.where(real, F.pad(e, (0, 0, 1, -1)), torch.zeros_like(e))  # (B, T, dim)
for conv, d in zip(self.convs, self.dilations):
    z = conv(F.pad(h.transpose(1, 2), ((self.kernel_size - 1) * d, 0))).transpose(1, 2)
    h = torch.where(real, h + F.relu(z), torch.zeros_like(h))
return h""")),
    "loop_over_sessions": (None, padded("""
length = items.size(1)
out = []
for session in items:
    mine = session[session != self.padding_id]  # (n,): the items, without their padding
    h = F.pad(self.embedding(mine).T[None], (1, -1))  # (1, dim, n)""" + textwrap.indent(
        STACK, "    ") + """
    out.append(F.pad(h[0].T, (0, 0, length - mine.numel(), 0)))  # (T, dim): zeros first
return torch.stack(out)""")),
    # the cell of part 1 called on each session, with this module's weights
    "reuses_next_item_encoder_per_session": (None, padded("""
out = self.embedding.weight.new_zeros(*items.shape, self.embedding.embedding_dim)
for b, session in enumerate(items):
    start = int((session != self.padding_id).nonzero()[0])
    out[b, start:] = NextItemEncoder.forward(self, session[None, start:])[0]
return out""")),
    "cumulative_mask": (None, padded("""
started = (items != self.padding_id).long().cumsum(dim=1) > 0  # (B, T)
real = started.unsqueeze(1).float()  # (B, 1, T)
""" + SHIFTED + "h = h * real" + layers(" * real") + OUT)),
    "mask_from_lengths": (None, padded("""
length = items.size(1)
lengths = (items != self.padding_id).sum(dim=1)  # (B,)
real = (torch.arange(length)[None, :] >= (length - lengths)[:, None]).unsqueeze(1)  # (B, 1, T)
""" + SHIFTED + layers(" * real") + OUT)),
    # the padding positions of h are zero after the shift and stay so: masking the branch is enough
    "mask_the_branch_only": (None, padded(REAL + SHIFTED + layers(branch=" * real") + OUT)),
    # the mask on the conv's input and on the output: every conv reads zeros at the padding
    "mask_each_input_and_the_output": (None, padded(REAL + SHIFTED + layers(before=" * real")
                                                    + "\nreturn (h * real).transpose(1, 2)")),
    # masked, then shifted: the first item's position reads the (masked, zero) padding embedding,
    # which is what the session alone reads there (its zero padding): right
    "shift_after_masking": (None, padded(REAL + """
h = self.embedding(items).transpose(1, 2) * real  # (B, dim, T)
h = F.pad(h, (1, -1))""" + layers(" * real") + OUT)),
    # item ids shifted with padding_id as filler: its embedding row is zero (padding_idx)
    "ids_shifted_with_padding_id": (None, padded(REAL + """
shifted = F.pad(items, (1, -1), value=self.padding_id)  # (B, T): item t-1 at t
h = self.embedding(shifted).transpose(1, 2)  # (B, dim, T)""" + layers(" * real") + OUT)),
    "conv_padding_then_crop": (None, padded(REAL + SHIFTED + """
length = h.size(-1)
for conv, d in zip(self.convs, self.dilations):
    z = F.conv1d(h, conv.weight, conv.bias, dilation=d, padding=(self.kernel_size - 1) * d)
    h = (h + F.relu(z[..., :length])).masked_fill(~real, 0.0)""" + OUT)),
    "dilations_kept_as_a_list": (None, padded(REAL + SHIFTED + layers(" * real") + OUT, """
self.embedding = nn.Embedding(nb_items, dim, padding_idx=padding_id)
self.convs = nn.ModuleList([nn.Conv1d(dim, dim, kernel_size, dilation=d) for d in dilations])
self.kernel_size = kernel_size
self.dilations = list(dilations)
self.padding_id = padding_id""")),
    # where the mask goes ---------------------------------------------------------------------
    # Spotlight's and many a first try: padding_idx makes the padding's embedding zero, and
    # then nothing else: each layer writes relu(bias + ...) at the padding positions
    "mask_only_after_the_embedding": (("padding_is_zero", "ignores_padding"), padded(
        REAL + SHIFTED + "h = h * real" + layers() + OUT)),
    "mask_only_at_the_end": (("ignores_padding",), padded(
        REAL + SHIFTED + layers() + "\nreturn (h * real).transpose(1, 2)")),
    # every conv reads zeros at the padding, but the last layer's output is never masked
    "mask_each_input_not_the_output": (("padding_is_zero",), padded(
        REAL + SHIFTED + layers(before=" * real") + OUT)),
    # the mask from the shifted ids, one step late: the first item's position counts as padding,
    # in the session alone too (so padding changes nothing), and t=0 of a session without padding
    # is zero, where the stack on zeros gives relu(bias + ...)
    "mask_from_the_shifted_ids": (("values",), padded("""
shifted = F.pad(items, (1, -1), value=self.padding_id)  # (B, T)
real = (shifted != self.padding_id).unsqueeze(1)  # (B, 1, T): one step late
""" + SHIFTED + layers(" * real") + OUT)),
    # ... and the same with t=0 always kept: position 0 kept where it is padding, the first
    # item's position zeroed
    "mask_shifted_with_t0_kept": (("padding_is_zero", "ignores_padding"), padded("""
real = F.pad(items != self.padding_id, (1, -1), value=True).unsqueeze(1)  # (B, 1, T)
""" + SHIFTED + layers(" * real") + OUT)),
    # only the padding common to the whole batch cut off, nothing masked
    "trims_the_common_padding_only": (("padding_is_zero", "ignores_padding"), padded("""
length = items.size(1)
start = int((items != self.padding_id).any(dim=0).long().argmax())  # first column with an item
h = F.pad(self.embedding(items[:, start:]).transpose(1, 2), (1, -1))""" + STACK + """
return F.pad(h, (start, 0)).transpose(1, 2)""")),
    # padding on the wrong side -----------------------------------------------------------------
    # each session alone, its outputs put back at the start of the row: right-padded
    "outputs_put_back_on_the_right": (("is_causal", "padding_is_zero", "ignores_padding"),
                                      padded("""
length = items.size(1)
out = []
for session in items:
    mine = session[session != self.padding_id]  # (n,)
    h = F.pad(self.embedding(mine).T[None], (1, -1))  # (1, dim, n)""" + textwrap.indent(
        STACK, "    ") + """
    out.append(F.pad(h[0].T, (0, 0, 0, length - mine.numel())))  # (T, dim): zeros last
return torch.stack(out)""")),
    # the mask of right-padded sessions: the first n positions taken for the items
    "mask_for_right_padding": (("padding_is_zero", "ignores_padding"), padded("""
lengths = (items != self.padding_id).sum(dim=1)  # (B,)
real = (torch.arange(items.size(1))[None, :] < lengths[:, None]).unsqueeze(1)  # (B, 1, T)
""" + SHIFTED + layers(" * real") + OUT)),
    # padding_id 0 hard-coded -------------------------------------------------------------------
    # item 0 is a real item when padding_id != 0, and padding_id's positions count as items
    "mask_from_id_0": (("is_causal", "padding_is_zero", "ignores_padding", "values"), padded(
        "real = (items != 0).unsqueeze(1)  # (B, 1, T)\n" + SHIFTED + layers(" * real") + OUT)),
    # the ids shifted with item 0 as filler: right for padding_id=0 only (item 0's row is then
    # the zero padding row); otherwise t=0 of a session alone reads item 0's embedding, and its
    # first item's position in a batch reads padding_id's (zero): two different things
    "ids_shifted_with_item_0": (("ignores_padding", "values"), padded(REAL + """
shifted = F.pad(items, (1, -1))  # (B, T): item t-1 at t, item 0 at t=0
h = self.embedding(shifted).transpose(1, 2)  # (B, dim, T)""" + layers(" * real") + OUT)),
    # the padding row is item 0's, zero; padding_id's row is an item's, read at the first item
    "padding_idx_0": (("interface", "ignores_padding"), padded(
        REAL + SHIFTED + layers(" * real") + OUT, INIT.replace("padding_idx=padding_id",
                                                                 "padding_idx=0"))),
    # the embedding ---------------------------------------------------------------------------
    # fairseq's first fconv.py: padding_idx, then normal_() over the whole table, padding row too
    "embedding_reinitialised": (("interface", "ignores_padding"), padded(
        REAL + SHIFTED + layers(" * real") + OUT, INIT + """
nn.init.normal_(self.embedding.weight, std=0.1)""")),
    "no_padding_idx": (("interface", "ignores_padding"), padded(
        REAL + SHIFTED + layers(" * real") + OUT, INIT.replace(", padding_idx=padding_id", ""))),
    # right with no padding_idx but a table initialised by hand: the mask before the shift
    # hides the padding row; the interface still differs from the contract
    "no_padding_idx_masked_before_the_shift": (("interface",), padded(REAL + """
h = self.embedding(items).transpose(1, 2) * real  # (B, dim, T)
h = F.pad(h, (1, -1))""" + layers(" * real") + OUT, INIT.replace(", padding_idx=padding_id", ""))),
    "padding_id_stored_as_pad": (("interface",), padded(
        REAL.replace("self.padding_id", "self.pad") + SHIFTED + layers(" * real") + OUT,
        INIT.replace("self.padding_id = ", "self.pad = "))),
    # the stack of part 1 ------------------------------------------------------------------------
    "no_shift": (("is_causal", "values"), padded(
        REAL + "h = self.embedding(items).transpose(1, 2)" + layers(" * real") + OUT)),
    "residual_forgotten": (("values",), padded(REAL + SHIFTED + f"""
for conv, d in zip(self.convs, self.dilations):
    h = F.relu(conv(F.pad(h, ({LEFT}, 0)))) * real""" + OUT)),
    "conv_padding_built_in": (("interface",), padded(REAL + SHIFTED + """
length = h.size(-1)
for conv in self.convs:
    h = (h + F.relu(conv(h)[..., :length])) * real""" + OUT, """
self.embedding = nn.Embedding(nb_items, dim, padding_idx=padding_id)
self.convs = nn.ModuleList(nn.Conv1d(dim, dim, kernel_size, dilation=d,
                                     padding=(kernel_size - 1) * d) for d in dilations)
self.kernel_size, self.dilations, self.padding_id = kernel_size, tuple(dilations), padding_id""")),
    # crashes: every cell fails, each saying which call raised or what shape came back
    "output_not_transposed": (("interface", "is_causal", "padding_is_zero", "ignores_padding",
                               "values"),
                              padded(REAL + SHIFTED + layers(" * real") + "\nreturn h")),
}

VARIANTS = {"next_item_encoder": NEXT_ITEM_ENCODER,
            "padded_next_item_encoder": PADDED_NEXT_ITEM_ENCODER}
# part 1 broken (it raises): the transfer, written on its own, loses nothing
ISOLATION = {"broken_next_item_encoder": (
    {"next_item_encoder": ("raise NotImplementedError()",)}, "padded_next_item_encoder")}


def samples(kit) -> dict:
    """{student: make(released notebook) -> notebook}: right in two ways, blank, and the
    off-by-one both ways, and a causal alignment that computes another function (part 1); the
    transfer right as a loop over sessions, and wrong as Spotlight's (the padding's embedding
    zero, nothing else), with padding_id 0 hard-coded, and with the outputs put back on the
    right (part 2)."""
    made = {"perfect": kit.with_answers(), "blank": lambda nb: nb}
    for name in ["conv_padding_then_crop", "no_shift", "shifted_twice", "shift_after_the_stack"]:
        made[f"ex05_{name}"] = kit.with_answers(
            next_item_encoder=kit.variant("next_item_encoder", name))
    for name in ["loop_over_sessions", "mask_only_after_the_embedding", "mask_from_id_0",
                 "outputs_put_back_on_the_right"]:
        made[f"ex05_padded_{name}"] = kit.with_answers(
            padded_next_item_encoder=kit.variant("padded_next_item_encoder", name))
    return made
