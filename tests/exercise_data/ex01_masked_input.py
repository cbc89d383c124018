"""Exercise 01 (masked input and the synthesis loop): its answer variants and samples.

Data only (see ``tests/exercise_data/__init__.py``): right ways to write ``masked_input`` and
``generate`` (the warm-ups) and ``masked_input_any_order`` and ``generate_any_order`` (the
transfer: generation in any order), the mistakes students make with the exact test cells each one
fails, and the sample submissions the grading round trip grades.
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
    # checks t's values after moving it to x's device: cannot run on "meta", right on every
    # real device (the device test's second run, default device "meta", accepts it)
    "validates_on_x_device": (None, """
if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.size(1) != 1:
    raise ValueError("x must have shape (B, 1, T)")
batch, _, length = x.shape
cuts = torch.as_tensor(t, device=x.device)
if cuts.dim() == 0:
    cuts = cuts.expand(batch)
if cuts.shape != (batch,):
    raise ValueError("t must have shape (B,)")
if (cuts < 0).any() or (cuts > length).any():
    raise ValueError("t out of range")
known = torch.arange(length, device=x.device)[None, :] < cuts[:, None]  # (B, T)
mask = known.to(x.dtype)[:, None]  # (B, 1, T)
return torch.cat([mask, x * mask], dim=1)"""),
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
    "inverse_cdf": (None, loop(
        "probs = torch.softmax(model(masked_input(x, t)), dim=-1)\n"
        "u = torch.rand(nb_sequences, 1, generator=generator)\n"
        "drawn = torch.searchsorted(probs.cumsum(-1), u)[:, 0]\n"
        "tokens[:, t] = drawn.clamp(max=nb_classes - 1)")),
    # mistakes ------------------------------------------------------------------------------
    "temperature_left_in": (("samples",), loop(
        "temperature = 0.8  # left over from trying sharper samples\n"
        "logits = model(masked_input(x, t))\n"
        "probs = torch.softmax(logits / temperature, -1)\n"
        "tokens[:, t] = torch.multinomial(probs, 1, generator=generator)[:, 0]")),
    "sigmoid_probs": (("samples",), loop(
        "logits = model(masked_input(x, t))\n"
        "tokens[:, t] = torch.multinomial(torch.sigmoid(logits), 1, generator=generator)[:, 0]")),
    "relu_probs": (("shape_and_range", "samples"), loop(
        "logits = model(masked_input(x, t))\n"
        "tokens[:, t] = torch.multinomial(torch.relu(logits), 1, generator=generator)[:, 0]")),
    "reseeded_each_step": (("samples",), loop(
        "logits = model(masked_input(x, t))\n"
        "# the same seed at every step, to make the run reproducible\n"
        "step_generator = None if generator is None else torch.Generator().manual_seed(\n"
        "    generator.initial_seed())\n"
        "probs = torch.softmax(logits, -1)\n"
        "tokens[:, t] = torch.multinomial(probs, 1, generator=step_generator)[:, 0]")),
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

ORDER_CHECKS = """
if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.size(1) != 1:
    raise ValueError("x must have shape (B, 1, T)")
batch, _, length = x.shape
if (not isinstance(order, torch.Tensor) or order.is_floating_point() or order.is_complex()
        or order.dtype == torch.bool):
    raise ValueError("order must be an integer tensor")
if order.shape != (length,):
    raise ValueError("order must have shape (T,)")
if sorted(order.tolist()) != list(range(length)):
    raise ValueError("order must be a permutation of range(T)")
if not 0 <= t <= length:
    raise ValueError("t must lie in [0, T]")
"""


def order_checked(body: str, checks: str = ORDER_CHECKS) -> str:
    """A masked_input_any_order body after input checks (which define batch and length)."""
    return checks.strip("\n") + "\n" + body.strip("\n")


KNOWN = """
known = torch.zeros(length, dtype=torch.bool, device=x.device)
known[order[:t].long().to(x.device)] = True
mask = known.to(x.dtype).expand(batch, 1, length)"""

MASKED_INPUT_ANY_ORDER = {
    # right ways ----------------------------------------------------------------------------
    "boolean_index_and_where": (None, order_checked("""
known = torch.zeros(length, dtype=torch.bool, device=x.device)
known[order[:t].long().to(x.device)] = True
values = torch.where(known, x, torch.zeros_like(x))  # (B, 1, T)
return torch.cat([known.to(x.dtype).expand(batch, 1, length), values], dim=1)""")),
    "rank_of_each_position": (None, order_checked("""
rank = torch.argsort(order.long()).to(x.device)  # rank[s]: the step that draws position s
mask = (rank < t).to(x.dtype).expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "python_loops": (None, order_checked("""
out = torch.zeros(batch, 2, length, dtype=x.dtype, device=x.device)
for position in order[:t].tolist():
    out[:, 0, position] = 1.0
    out[:, 1, position] = x[:, 0, position]
return out""")),
    "scatter": (None, order_checked("""
index = order[:t].long().to(x.device).expand(batch, t)  # (B, t)
mask = torch.zeros(batch, length, dtype=x.dtype, device=x.device).scatter(1, index, 1.0)
mask = mask[:, None]  # (B, 1, T)
return torch.cat([mask, x * mask], dim=1)""")),
    "permute_then_masked_input": (None, order_checked("""
order = order.long()
inverse = torch.argsort(order)
return masked_input(x[:, :, order], t)[:, :, inverse]""")),
    "isin_and_one_hot_checks": (None, """
if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.size(1) != 1:
    raise ValueError(f"x must have shape (B, 1, T), got {getattr(x, 'shape', None)}")
batch, _, length = x.shape
if not isinstance(order, torch.Tensor) or order.dtype not in (
        torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
    raise ValueError("order must be an integer tensor")
if order.dim() != 1 or order.numel() != length:
    raise ValueError("order must have one entry per position")
positions = order.long()
if (positions < 0).any() or (positions >= length).any():
    raise ValueError("order holds a position outside [0, T)")
if torch.unique(positions).numel() != length:
    raise ValueError("order repeats a position")
if isinstance(t, bool) or not isinstance(t, int) or t < 0 or t > length:
    raise ValueError("t must be an int in [0, T]")
known = torch.isin(torch.arange(length, device=x.device), positions[:t].to(x.device))
mask = known.to(x.dtype).expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)"""),
    # moves order to x's device, then checks it there by its values: cannot run on "meta",
    # right on every real device (the second run of the device test accepts it)
    "validates_on_x_device": (None, """
if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.size(1) != 1:
    raise ValueError("x must have shape (B, 1, T)")
batch, _, length = x.shape
if not isinstance(order, torch.Tensor) or order.is_floating_point() or order.dtype == torch.bool:
    raise ValueError("order must be an integer tensor")
positions = order.to(x.device).long()
if positions.shape != (length,) or not torch.equal(
        torch.sort(positions).values, torch.arange(length, device=x.device)):
    raise ValueError("order must be a permutation of range(T)")
if not 0 <= t <= length:
    raise ValueError("t must lie in [0, T]")
one_hot = torch.nn.functional.one_hot(positions[:t], length)  # (t, T)
mask = one_hot.sum(dim=0).to(x.dtype).expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)"""),
    # mistakes ------------------------------------------------------------------------------
    # order[s] read as the step that draws position s (the inverse permutation)
    "by_rank": (("mask", "hides_unknown"), order_checked("""
mask = (order.long().to(x.device) < t).to(x.dtype).expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "ignores_order": (("mask", "hides_unknown"), order_checked("""
mask = (torch.arange(length, device=x.device) < t).to(x.dtype).expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "shows_step_t": (("matches_masked_input", "mask", "hides_unknown"), order_checked("""
known = torch.zeros(length, dtype=torch.bool, device=x.device)
known[order[:t + 1].long().to(x.device)] = True
mask = known.to(x.dtype).expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "values_not_zeroed": (("matches_masked_input", "hides_unknown"), order_checked(KNOWN + """
return torch.cat([mask, x], dim=1)""")),
    "mask_of_ones": (("matches_masked_input", "mask"), order_checked(KNOWN + """
return torch.cat([torch.ones_like(x), x * mask], dim=1)""")),
    "index_without_long": (("order_dtypes",), order_checked("""
known = torch.zeros(length, dtype=torch.bool, device=x.device)
known[order[:t].to(x.device)] = True  # int16 is refused, uint8 is taken as a mask
mask = known.to(x.dtype).expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "changes_x_in_place": (("keeps_dtype_and_input",), order_checked(KNOWN + """
x[:, :, ~known] = 0.0
return torch.cat([mask, x], dim=1)""")),
    "float32_always": (("keeps_dtype_and_input",), order_checked("""
known = torch.zeros(length, device=x.device)
known[order[:t].long().to(x.device)] = 1.0
mask = known.expand(batch, 1, length)
return torch.cat([mask, x.float() * mask], dim=1)""")),
    "zeros_without_device": (("keeps_dtype_and_input",), order_checked("""
known = torch.zeros(length, dtype=x.dtype)
known[order[:t].long()] = 1.0
mask = known.expand(batch, 1, length)
return torch.cat([mask, x * mask], dim=1)""")),
    "no_x_check": (("rejects_bad_x",), order_checked(KNOWN + """
return torch.cat([mask, x * mask], dim=1)""", ORDER_CHECKS.replace(
        'if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.size(1) != 1:\n'
        '    raise ValueError("x must have shape (B, 1, T)")\n', ""))),
    # length and repeats checked with a set, not the range: [0, 1, 2, 4] slips through
    "no_range_check": (("rejects_bad_order",), order_checked(KNOWN + """
return torch.cat([mask, x * mask], dim=1)""", ORDER_CHECKS.replace(
        "if sorted(order.tolist()) != list(range(length)):",
        "if len(set(order.tolist())) != length:"))),
    # sorted([2.0, 0.0, 1.0]) == [0, 1, 2] in Python: a float order slips through
    "no_dtype_check": (("rejects_bad_order",), order_checked(KNOWN + """
return torch.cat([mask, x * mask], dim=1)""", ORDER_CHECKS.replace(
        "(not isinstance(order, torch.Tensor) or order.is_floating_point() or order.is_complex()"
        "\n        or order.dtype == torch.bool)", "not isinstance(order, torch.Tensor)"))),
    "type_error_for_a_float_order": (("rejects_bad_order",), order_checked(KNOWN + """
return torch.cat([mask, x * mask], dim=1)""", ORDER_CHECKS.replace(
        'raise ValueError("order must be an integer tensor")',
        'raise TypeError("order must be an integer tensor")'))),
    # order[:t] with t = -1 or t > T slices without complaint
    "no_t_check": (("rejects_bad_t",), order_checked(KNOWN + """
return torch.cat([mask, x * mask], dim=1)""", ORDER_CHECKS.replace(
        'if not 0 <= t <= length:\n    raise ValueError("t must lie in [0, T]")\n', ""))),
}

ANY_ORDER_LOOP = """
tokens = torch.zeros(nb_sequences, len(order), dtype=torch.long)
with torch.no_grad():
    for step, position in enumerate(order.tolist()):
        x = toylib.data.tokens_to_input(tokens, nb_classes)
        {step}
return tokens"""
ANY_ORDER_DRAW = ("probs = torch.softmax(logits[:, position], dim=-1)\n"
                  "tokens[:, position] = torch.multinomial(probs, 1, generator=generator)[:, 0]")


def any_order_loop(step: str = "logits = model(masked_input_any_order(x, order, step))\n"
                   + ANY_ORDER_DRAW) -> str:
    return ANY_ORDER_LOOP.format(step=step.replace("\n", "\n        "))


def any_order_draw(probs: str) -> str:
    """The loop with the probabilities of position `position` computed as ``probs``."""
    return any_order_loop("logits = model(masked_input_any_order(x, order, step))\n"
                          f"probs = {probs}\n"
                          "tokens[:, position] = torch.multinomial(probs, 1, "
                          "generator=generator)[:, 0]")


GENERATE_ANY_ORDER = {
    # right ways ----------------------------------------------------------------------------
    "solution_layout": (None, any_order_loop()),
    "softmax_of_every_position": (None, any_order_draw(
        "torch.softmax(logits, dim=-1)[:, position]")),
    "gumbel_max": (None, any_order_loop(
        "logits = model(masked_input_any_order(x, order, step))[:, position]\n"
        "u = torch.rand(logits.shape, generator=generator).clamp(1e-9, 1 - 1e-9)\n"
        "tokens[:, position] = (logits - torch.log(-torch.log(u))).argmax(dim=-1)")),
    "tensor_indices_and_inference_mode": (None, """
tokens = torch.zeros(nb_sequences, order.numel(), dtype=torch.long)
for i in range(order.numel()):
    p = order[i]
    with torch.inference_mode():
        logits = model(masked_input_any_order(
            toylib.data.tokens_to_input(tokens, nb_classes), order, i))
    probs = logits[:, p].softmax(-1)
    tokens[:, p] = torch.multinomial(probs, num_samples=1, generator=generator).view(-1)
return tokens"""),
    # the model's input built here, as the contract says, without part 3's function
    "masks_inline": (None, """
length = len(order)
tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
known = torch.zeros(nb_sequences, 1, length)
with torch.no_grad():
    for step in range(length):
        position = int(order[step])
        x = toylib.data.tokens_to_input(tokens, nb_classes)
        logits = model(torch.cat([known, x * known], dim=1))
        probs = torch.softmax(logits[:, position].double(), dim=-1)
        tokens[:, position] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        known[:, :, position] = 1.0
return tokens"""),
    # mistakes ------------------------------------------------------------------------------
    "left_to_right": (("feeds_known_positions", "in_order"), """
length = len(order)
tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
with torch.no_grad():
    for step in range(length):
        x = toylib.data.tokens_to_input(tokens, nb_classes)
        logits = model(masked_input_any_order(x, torch.arange(length), step))
        probs = torch.softmax(logits[:, step], dim=-1)
        tokens[:, step] = torch.multinomial(probs, 1, generator=generator)[:, 0]
return tokens"""),
    "logits_of_the_step": (("in_order",), any_order_loop(
        "logits = model(masked_input_any_order(x, order, step))\n"
        "probs = torch.softmax(logits[:, step], dim=-1)\n"
        "tokens[:, position] = torch.multinomial(probs, 1, generator=generator)[:, 0]")),
    "writes_at_the_step": (("feeds_known_positions", "in_order"), any_order_loop(
        "logits = model(masked_input_any_order(x, order, step))\n"
        "probs = torch.softmax(logits[:, position], dim=-1)\n"
        "tokens[:, step] = torch.multinomial(probs, 1, generator=generator)[:, 0]")),
    "shows_the_drawn_position": (("feeds_known_positions",), any_order_loop(
        "logits = model(masked_input_any_order(x, order, step + 1))\n" + ANY_ORDER_DRAW)),
    "input_made_once": (("feeds_known_positions",), """
tokens = torch.zeros(nb_sequences, len(order), dtype=torch.long)
x = toylib.data.tokens_to_input(tokens, nb_classes)
with torch.no_grad():
    for step, position in enumerate(order.tolist()):
        logits = model(masked_input_any_order(x, order, step))
        probs = torch.softmax(logits[:, position], dim=-1)
        tokens[:, position] = torch.multinomial(probs, 1, generator=generator)[:, 0]
return tokens"""),
    # every position from the first call: the draws ignore each other
    "one_call_for_all": (("one_call_per_step", "in_order"), """
tokens = torch.zeros(nb_sequences, len(order), dtype=torch.long)
with torch.no_grad():
    x = toylib.data.tokens_to_input(tokens, nb_classes)
    logits = model(masked_input_any_order(x, order, 0))
    for position in order.tolist():
        probs = torch.softmax(logits[:, position], dim=-1)
        tokens[:, position] = torch.multinomial(probs, 1, generator=generator)[:, 0]
return tokens"""),
    "no_no_grad": (("no_grad",), """
tokens = torch.zeros(nb_sequences, len(order), dtype=torch.long)
for step, position in enumerate(order.tolist()):
    x = toylib.data.tokens_to_input(tokens, nb_classes)
    logits = model(masked_input_any_order(x, order, step)).detach()
    probs = torch.softmax(logits[:, position], dim=-1)
    tokens[:, position] = torch.multinomial(probs, 1, generator=generator)[:, 0]
return tokens"""),
    "argmax": (("samples", "uses_generator"), any_order_loop(
        "logits = model(masked_input_any_order(x, order, step))\n"
        "tokens[:, position] = logits[:, position].argmax(dim=-1)")),
    "temperature_left_in": (("samples",), any_order_draw(
        "torch.softmax(logits[:, position] / 0.8, dim=-1)  # temperature 0.8, left over")),
    "sigmoid_probs": (("samples",), any_order_draw("torch.sigmoid(logits[:, position])")),
    # a real model's logits are often all negative at some position: relu gives no distribution
    "relu_probs": (("shape_and_range", "samples", "uses_generator"), any_order_draw(
        "torch.relu(logits[:, position])")),
    "softmax_over_positions": (("in_order", "samples"), any_order_draw(
        "torch.softmax(logits, dim=1)[:, position]")),
    "reseeded_each_step": (("samples",), any_order_loop(
        "logits = model(masked_input_any_order(x, order, step))\n"
        "probs = torch.softmax(logits[:, position], dim=-1)\n"
        "step_generator = None if generator is None else torch.Generator().manual_seed(\n"
        "    generator.initial_seed())  # the same seed at every step, to be reproducible\n"
        "tokens[:, position] = torch.multinomial(probs, 1, generator=step_generator)[:, 0]")),
    "generator_ignored": (("uses_generator",), any_order_loop(
        "logits = model(masked_input_any_order(x, order, step))\n"
        "probs = torch.softmax(logits[:, position], dim=-1)\n"
        "tokens[:, position] = torch.multinomial(probs, 1)[:, 0]")),
    "float_tokens": (("shape_and_range",), """
tokens = torch.zeros(nb_sequences, len(order))
with torch.no_grad():
    for step, position in enumerate(order.tolist()):
        x = toylib.data.tokens_to_input(tokens.long(), nb_classes)
        logits = model(masked_input_any_order(x, order, step))
        probs = torch.softmax(logits[:, position], dim=-1)
        tokens[:, position] = torch.multinomial(probs, 1, generator=generator)[:, 0].float()
return tokens"""),
}

VARIANTS = {"masked_input": MASKED_INPUT, "generate": GENERATE,
            "masked_input_any_order": MASKED_INPUT_ANY_ORDER,
            "generate_any_order": GENERATE_ANY_ORDER}
# a broken earlier answer must not cost a later answer's points a second time: a broken
# masked_input (part 1) for generate, a broken masked_input_any_order (part 3) for
# generate_any_order, which is judged by what that function gives
ISOLATION = {
    "broken_masked_input_then_right_generate": (
        {"masked_input": ("return torch.cat([torch.ones_like(x), x], dim=1)",)}, "generate"),
    "any_order_values_not_zeroed_then_right_generate_any_order": (
        {"masked_input_any_order": (MASKED_INPUT_ANY_ORDER["values_not_zeroed"][1],)},
        "generate_any_order"),
    "any_order_by_rank_then_right_generate_any_order": (
        {"masked_input_any_order": (MASKED_INPUT_ANY_ORDER["by_rank"][1],)},
        "generate_any_order"),
}


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
    # the transfer parts and the sampler: right in other styles, and three real mistakes
    made["ex01_any_order_python_loops_gumbel"] = kit.with_answers(
        masked_input_any_order=kit.variant("masked_input_any_order", "python_loops"),
        generate_any_order=kit.variant("generate_any_order", "gumbel_max"))
    made["ex01_any_order_by_rank"] = kit.with_answers(
        masked_input_any_order=kit.variant("masked_input_any_order", "by_rank"))
    made["ex01_any_order_left_to_right"] = kit.with_answers(
        generate_any_order=kit.variant("generate_any_order", "left_to_right"))
    made["ex01_temperature_left_in"] = kit.with_answers(
        generate=kit.variant("generate", "temperature_left_in"))
    return made
