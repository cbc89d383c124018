"""Exercise 01 (masked input and the synthesis loop): its answer variants and samples.

Data only (see ``tests/exercise_data/__init__.py``): right ways to write ``masked_input`` and
``generate``, the mistakes students make with the exact test cells each one fails, and the sample
submissions the grading round trip grades.
"""

from __future__ import annotations

ASSIGNMENT = "01_masked_input"

CHECKS = """
if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.size(1) != 1:
    raise ValueError("x must have shape (B, 1, T)")
batch, _, length = x.shape
if isinstance(t, torch.Tensor):
    if t.shape != (batch,):
        raise ValueError("t must have shape (B,)")
    if t.min() < 0 or t.max() > length:
        raise ValueError("t out of range")
elif not 0 <= t <= length:
    raise ValueError("t out of range")
"""


def checked(body: str) -> str:
    """A masked_input body after the usual input checks (which define batch and length)."""
    return CHECKS.strip("\n") + "\n" + body.strip("\n")


MASKED_INPUT = {
    # right ways ----------------------------------------------------------------------------
    "arange_compare": (None, checked("""
cut = t.view(-1, 1, 1) if isinstance(t, torch.Tensor) else t
mask = (torch.arange(length, device=x.device).view(1, 1, -1) < cut).to(x.dtype)
mask = mask.expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "where_and_stack": (None, checked("""
cuts = t if isinstance(t, torch.Tensor) else torch.full((batch,), t)
known = torch.arange(length, device=x.device)[None, :] < cuts.to(x.device)[:, None]
mask = known.to(x.dtype)
values = torch.where(known, x[:, 0], torch.zeros_like(x[:, 0]))
return torch.stack([mask, values], dim=1)""")),
    "python_loops": (None, checked("""
cuts = t.tolist() if isinstance(t, torch.Tensor) else [t] * batch
out = torch.zeros(batch, 2, length, dtype=x.dtype, device=x.device)
for b, cut in enumerate(cuts):
    out[b, 0, :cut] = 1.0
    out[b, 1, :cut] = x[b, 0, :cut]
return out""")),
    "clone_then_zero": (None, checked("""
cuts = t.tolist() if isinstance(t, torch.Tensor) else [t] * batch
values = x.clone()
mask = torch.ones_like(x)
for b, cut in enumerate(cuts):
    values[b, :, cut:] = 0.0
    mask[b, :, cut:] = 0.0
return torch.cat([mask, values], dim=1)""")),
    # mistakes ------------------------------------------------------------------------------
    "mask_includes_t": (("mask", "hides_unknown"), checked("""
cut = t.view(-1, 1, 1) if isinstance(t, torch.Tensor) else t
mask = (torch.arange(length, device=x.device).view(1, 1, -1) <= cut).to(x.dtype)
mask = mask.expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "mask_of_ones": (("mask",), checked("""
cut = t.view(-1, 1, 1) if isinstance(t, torch.Tensor) else t
known = (torch.arange(length, device=x.device).view(1, 1, -1) < cut).to(x.dtype)
known = known.expand(batch, 1, length)
return torch.cat([torch.ones_like(x), x * known], dim=1)""")),
    "values_not_zeroed": (("hides_unknown",), checked("""
cut = t.view(-1, 1, 1) if isinstance(t, torch.Tensor) else t
mask = (torch.arange(length, device=x.device).view(1, 1, -1) < cut).to(x.dtype)
mask = mask.expand(batch, 1, length)
return torch.cat([mask, x], dim=1)""")),
    "t_off_by_one": (("mask", "hides_unknown"), checked("""
cut = t.view(-1, 1, 1) if isinstance(t, torch.Tensor) else t
mask = (torch.arange(length, device=x.device).view(1, 1, -1) < cut - 1).to(x.dtype)
mask = mask.expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "shared_t": (("per_row_t",), checked("""
cut = int(t[0]) if isinstance(t, torch.Tensor) else t
mask = (torch.arange(length, device=x.device).view(1, 1, -1) < cut).to(x.dtype)
mask = mask.expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "changes_x_in_place": (("keeps_dtype_and_input",), checked("""
cuts = t.tolist() if isinstance(t, torch.Tensor) else [t] * batch
mask = torch.ones_like(x)
for b, cut in enumerate(cuts):
    x[b, :, cut:] = 0.0
    mask[b, :, cut:] = 0.0
return torch.cat([mask, x], dim=1)""")),
    "arange_without_device": (("keeps_dtype_and_input",), checked("""
cut = t.view(-1, 1, 1) if isinstance(t, torch.Tensor) else t
mask = (torch.arange(length).view(1, 1, -1) < cut).to(x.dtype)
mask = mask.expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "float32_always": (("keeps_dtype_and_input",), checked("""
cut = t.view(-1, 1, 1) if isinstance(t, torch.Tensor) else t
mask = (torch.arange(length, device=x.device).view(1, 1, -1) < cut).float().expand(batch, 1, length)
return torch.cat([mask, x.float() * mask], dim=1)""")),
    "no_input_checks": (("rejects_bad_input",), """
length = x.size(-1)
cut = t.view(-1, 1, 1) if isinstance(t, torch.Tensor) else t
mask = (torch.arange(length, device=x.device).view(1, 1, -1) < cut).to(x.dtype)
mask = mask.expand(x.size(0), 1, length)
return torch.cat([mask, x * mask], dim=1)"""),
    "returns_two_tensors": (("shape", "mask", "hides_unknown", "per_row_t",
                             "keeps_dtype_and_input"), checked("""
cut = t.view(-1, 1, 1) if isinstance(t, torch.Tensor) else t
mask = (torch.arange(length, device=x.device).view(1, 1, -1) < cut).to(x.dtype)
mask = mask.expand(batch, 1, length)
return mask, x * mask""")),
}

LOOP = """
tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
with torch.no_grad():
    for t in range(length):
        x = toylib.data.tokens_to_input(tokens, nb_classes)
        {step}
return tokens"""
DRAW = "tokens[:, t] = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0]"


def loop(step: str = "logits = model(masked_input(x, t))\n" + DRAW) -> str:
    return LOOP.format(step=step.replace("\n", "\n        "))


GENERATE = {
    # right ways ----------------------------------------------------------------------------
    "solution_layout": (None, loop()),
    "tensor_t_per_row": (None, loop(
        "cut = torch.full((nb_sequences,), t, dtype=torch.long)\n"
        "logits = model(masked_input(x, cut))\n" + DRAW)),
    "gumbel_max": (None, loop(
        "logits = model(masked_input(x, t))\n"
        "u = torch.rand(logits.shape, generator=generator).clamp(1e-9, 1 - 1e-9)\n"
        "tokens[:, t] = (logits - torch.log(-torch.log(u))).argmax(dim=-1)")),
    # mistakes ------------------------------------------------------------------------------
    "no_mask": (("never_sees_future", "in_order"), loop(
        "logits = model(torch.cat([torch.ones_like(x), x], dim=1))\n" + DRAW)),
    "shows_position_t": (("never_sees_future", "in_order"), loop(
        "logits = model(masked_input(x, t + 1))\n" + DRAW)),
    "argmax": (("samples",), loop(
        "logits = model(masked_input(x, t))\ntokens[:, t] = logits.argmax(dim=-1)")),
    "generator_ignored": (("samples",), loop(
        "logits = model(masked_input(x, t))\n"
        "tokens[:, t] = torch.multinomial(torch.softmax(logits, -1), 1)[:, 0]")),
    "reversed_order": (("never_sees_future", "in_order"), """
tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
with torch.no_grad():
    for t in reversed(range(length)):
        x = toylib.data.tokens_to_input(tokens, nb_classes)
        logits = model(masked_input(x, t))
        probs = torch.softmax(logits, -1)
        tokens[:, t] = torch.multinomial(probs, 1, generator=generator)[:, 0]
return tokens"""),
    "float_tokens": (("shape_and_range",), """
tokens = torch.zeros(nb_sequences, length)
with torch.no_grad():
    for t in range(length):
        x = toylib.data.tokens_to_input(tokens.long(), nb_classes)
        logits = model(masked_input(x, t))
        probs = torch.softmax(logits, -1)
        tokens[:, t] = torch.multinomial(probs, 1, generator=generator)[:, 0].float()
return tokens"""),
    "updates_the_model": (("shape_and_range",), """
tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
for t in range(length):
    x = toylib.data.tokens_to_input(tokens, nb_classes)
    logits = model(masked_input(x, t))
    with torch.no_grad():
        for p in model.parameters():  # a leftover of an experiment: the model drifts
            p.mul_(1.001)
    probs = torch.softmax(logits.detach(), -1)
    tokens[:, t] = torch.multinomial(probs, 1, generator=generator)[:, 0]
return tokens"""),
}

VARIANTS = {"masked_input": MASKED_INPUT, "generate": GENERATE}
# a broken masked_input from part 1 must not cost the generate points a second time
ISOLATION = {"broken_masked_input_then_right_generate": (
    {"masked_input": ("return torch.cat([torch.ones_like(x), x], dim=1)",)}, "generate")}


def samples(kit) -> dict:
    """{student: make(released notebook) -> notebook}: right in several ways, and wrong in the
    ways students go wrong."""
    def answer(name: str) -> dict[str, str]:
        table = "masked_input" if name in MASKED_INPUT else "generate"
        return {table: kit.variant(table, name)}

    made = {"perfect": kit.with_answers(), "blank": lambda nb: nb}
    for name in ("where_and_stack", "python_loops", "mask_includes_t", "mask_of_ones",
                 "values_not_zeroed", "t_off_by_one", "shared_t", "changes_x_in_place",
                 "shows_position_t", "argmax"):
        made[f"ex01_{name}"] = kit.with_answers(**answer(name))
    return made
