"""The exercise's test cells accept every correct answer and reject real mistakes, readably.

Fast and in-process: the test cells (visible and hidden parts) are taken from the solutions
notebook by grade id and run with ``exec`` in a namespace where the answer cell holds a variant:
correct ways to write the code, and mistakes people really make (see shared notes, "Real bugs").
Each test cell grades one property, so a rejected variant must fail *exactly* the cells named in
the table (no more: partial credit separates a near-miss from a crash), and every failure must be
an AssertionError with a message a student can act on (no bare ``assert``).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import nbformat
import pytest

# the "same padding" mistake makes torch warn; the test is about the verdict, not the warning
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

SOLUTION = (Path(__file__).resolve().parent.parent / "solutions" / "02_causal_conv1d"
            / "02_causal_conv1d.ipynb")
LAYER_TESTS = ["test_causal_conv1d_shape", "test_causal_conv1d_values",
               "test_causal_conv1d_is_causal", "test_causal_conv1d_gradients"]
NET_TESTS = ["test_toy_net_shape", "test_toy_net_is_causal", "test_toy_net_receptive_field",
             "test_toy_net_is_nonlinear"]
GENERATE_TESTS = ["test_generate_shape_and_range", "test_generate_uses_position_t",
                  "test_generate_samples"]
REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?",
                    re.MULTILINE | re.DOTALL)


def _cells() -> dict[str, str]:
    nb = nbformat.read(SOLUTION, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if "nbgrader" in c.metadata}


CELLS = _cells()


def with_bodies(grade_id: str, *bodies: str) -> str:
    """The solution's answer cell with its solution regions replaced by ``bodies``, in order."""
    parts = iter(bodies)

    def swap(match: re.Match) -> str:
        return textwrap.indent(textwrap.dedent(next(parts)).strip("\n") + "\n", match.group(1))

    source = REGION.sub(swap, CELLS[grade_id] + "\n")
    assert next(parts, None) is None, f"more bodies than solution regions in {grade_id}"
    return source


def run_cells(answers: dict[str, str], tests: list[str]) -> dict[str, BaseException | None]:
    """Run setup, the answer cells, then each test cell; {test grade id: exception or None}."""
    namespace: dict = {"__name__": "__main__"}
    exec(compile(CELLS["setup"], "<setup>", "exec"), namespace)
    for grade_id in ("causal_conv1d", "toy_net", "generate"):
        source = answers.get(grade_id, CELLS[grade_id])
        exec(compile(source, f"<{grade_id}>", "exec"), namespace)
    results: dict[str, BaseException | None] = {}
    for grade_id in tests:
        try:
            exec(compile(CELLS[grade_id], f"<{grade_id}>", "exec"), namespace)
            results[grade_id] = None
        except Exception as error:  # noqa: BLE001 - the verdict of the test cell
            results[grade_id] = error
    return results


def fails(tests: list[str], *properties: str) -> frozenset[str]:
    """The grade ids of the test cells a variant must fail, by the end of their names."""
    found = frozenset(g for g in tests for p in properties if g.endswith(f"_{p}"))
    assert len(found) == len(properties), properties
    return found


def layer_fails(*properties: str) -> frozenset[str]:
    return fails(LAYER_TESTS, *properties)


def net_fails(*properties: str) -> frozenset[str]:
    return fails(NET_TESTS, *properties)


def generate_fails(*properties: str) -> frozenset[str]:
    return fails(GENERATE_TESTS, *properties)


def check(results: dict[str, BaseException | None], must_fail: frozenset[str] | None) -> None:
    failures = {k: v for k, v in results.items() if v is not None}
    if must_fail is None:
        assert not failures, f"a correct variant was rejected: {failures}"
        return
    assert set(failures) == set(must_fail), (
        f"expected exactly {sorted(must_fail)} to reject the variant; failures: "
        f"{ {k: str(v)[:200] for k, v in failures.items()} }")
    for grade_id, error in failures.items():
        message = str(error)
        assert isinstance(error, AssertionError), (
            f"{grade_id} failed with {type(error).__name__}, not a readable AssertionError: "
            f"{message}")
        assert len(message) > 40 and "\n" not in message.strip(), (
            f"{grade_id}: message not readable enough: {message!r}")


# ------------------------------------------------------------------------------------- layer
def fwd(body: str) -> str:
    """A forward body that starts from the left padding amount ``pad``."""
    return "pad = (self.kernel_size - 1) * self.dilation\n" + textwrap.dedent(body).strip("\n")


LAYER_VARIANTS = {
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
    # mistakes --------------------------------------------------------------------------------
    "same_padding": (layer_fails("is_causal", "values"), """
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return F.conv1d(x, self.conv.weight, self.conv.bias, dilation=self.dilation,
                        padding="same")"""),
    "symmetric_padding": (layer_fails("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad // 2, pad - pad // 2)))""")),
    "right_padding": (layer_fails("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (0, pad)))""")),
    "pad_ignores_dilation": (layer_fails("gradients", "is_causal", "shape", "values"), """
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (self.kernel_size - 1, 0)))"""),
    "crop_on_wrong_side": (layer_fails("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        y = F.conv1d(x, self.conv.weight, self.conv.bias, dilation=self.dilation, padding=pad)
        return y[..., pad:]""")),
    "chomp_empty_for_k1": (layer_fails("gradients", "is_causal", "shape", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        y = F.conv1d(x, self.conv.weight, self.conv.bias, dilation=self.dilation, padding=pad)
        return y[..., :-pad]""")),
    "pad_one_step_short": (layer_fails("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad - 1, 1)))""")),
    "hide_present_ignored": (layer_fails("is_causal", "values"), fwd("""
        return self.conv(F.pad(x, (pad, 0)))""")),
    "hide_shift_by_dilation": (layer_fails("shape", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (self.dilation, -self.dilation))
        return self.conv(F.pad(x, (pad, 0)))""")),
    "hide_shift_by_two": (layer_fails("is_causal", "shape", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (2, -2))
        return self.conv(F.pad(x, (pad, 0)))""")),
    "hide_drops_first_step": (layer_fails("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, 0))[..., 1:]
        return self.conv(F.pad(x, (pad, 0)))""")),
    "roll_instead_of_shift": (layer_fails("is_causal", "values"), fwd("""
        if self.hide_present:
            x = torch.roll(x, 1, dims=-1)
        return self.conv(F.pad(x, (pad, 0)))""")),
    "shift_output_not_input": (layer_fails("values"), fwd("""
        y = self.conv(F.pad(x, (pad, 0)))
        return F.pad(y, (1, -1)) if self.hide_present else y""")),
    "type_a_mask_instead_of_shift": (layer_fails("gradients", "values"), fwd("""
        weight = self.conv.weight
        if self.hide_present:
            mask = torch.ones_like(weight)
            mask[..., -1] = 0
            weight = weight * mask
        return F.conv1d(F.pad(x, (pad, 0)), weight, self.conv.bias, dilation=self.dilation)""")),
    "replicate_padding": (layer_fails("values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad, 0), mode="replicate"))""")),
    "reflect_padding_leaks_first_steps": (layer_fails("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad, 0), mode="reflect") if pad < x.size(-1) else
                         F.pad(x, (pad, 0)))""")),
    "circular_padding_leaks_last_step": (layer_fails("is_causal", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad, 0), mode="circular") if pad <= x.size(-1) else
                         F.pad(x, (pad, 0)))""")),
    "new_conv_in_forward": (layer_fails("gradients", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        conv = nn.Conv1d(self.in_channels, self.out_channels, self.kernel_size,
                         dilation=self.dilation)
        return conv(F.pad(x, (pad, 0)))""")),
    "bias_dropped": (layer_fails("gradients", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return F.conv1d(F.pad(x, (pad, 0)), self.conv.weight, dilation=self.dilation)""")),
    "input_modified_in_place": (layer_fails("gradients"), fwd("""
        if self.hide_present:
            x[..., 1:] = x[..., :-1].clone()
            x[..., 0] = 0
        return self.conv(F.pad(x, (pad, 0)))""")),
    "input_detached": (layer_fails("gradients"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x.detach(), (pad, 0)))""")),
    "weight_data": (layer_fails("gradients"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        bias = None if self.conv.bias is None else self.conv.bias.data
        return F.conv1d(F.pad(x, (pad, 0)), self.conv.weight.data, bias,
                        dilation=self.dilation)""")),
    "no_grad_in_forward": (layer_fails("gradients"), fwd("""
        with torch.no_grad():
            if self.hide_present:
                x = F.pad(x, (1, -1))
            return self.conv(F.pad(x, (pad, 0)))""")),
    "nan_output": (layer_fails("shape", "values", "is_causal", "gradients"), fwd("""
        return self.conv(F.pad(x, (pad, 0))) * float("nan")""")),
    "hard_coded_batch_size": (layer_fails("gradients", "shape", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(torch.cat([x.new_zeros(4, x.size(1), pad), x], dim=-1))""")),
    "hard_coded_length": (layer_fails("is_causal", "shape", "values"), fwd("""
        if self.hide_present:
            x = F.pad(x, (1, -1))
        return self.conv(F.pad(x, (pad, 0)))[..., :16]""")),
}


@pytest.mark.parametrize("name", list(LAYER_VARIANTS))
def test_causal_conv1d_variant(name: str) -> None:
    must_fail, body = LAYER_VARIANTS[name]
    results = run_cells({"causal_conv1d": with_bodies("causal_conv1d", body)}, LAYER_TESTS)
    check(results, must_fail)


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


NET_VARIANTS = {
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
    "first_layer_sees_present": (net_fails("is_causal"), net(hide_first="False")),
    "every_layer_hides_present": (net_fails("receptive_field"),
                                  net(extra=", hide_present=True")),
    "no_transpose": (net_fails("is_causal", "is_nonlinear", "receptive_field", "shape"),
                     net(end="")),
    "fixed_four_layers": (net_fails("receptive_field"), net(layers="4")),
    "fixed_kernel_size": (net_fails("receptive_field"), net(k="2")),
    "dilated_layers": (net_fails("receptive_field"), net(extra=", dilation=2 ** i")),
    "nan_logits": (net_fails("shape", "is_causal", "receptive_field", "is_nonlinear"),
                   net(end=".transpose(1, 2) * float('nan')")),
    "no_relu": (net_fails("is_nonlinear"), net(act="")),
}


@pytest.mark.parametrize("name", list(NET_VARIANTS))
def test_toy_net_variant(name: str) -> None:
    must_fail, bodies = NET_VARIANTS[name]
    results = run_cells({"toy_net": with_bodies("toy_net", *bodies)}, NET_TESTS)
    check(results, must_fail)


def test_toy_net_is_graded_with_the_course_layer() -> None:
    """A broken CausalConv1d from part 1 does not cost the ToyNet points a second time."""
    broken_layer = with_bodies("causal_conv1d", "return self.conv(F.pad(x, (0, 9)))[..., :-9]")
    check(run_cells({"causal_conv1d": broken_layer}, NET_TESTS), None)


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


GENERATE_VARIANTS = {
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
    "argmax": (generate_fails("samples"), loop("tokens[:, t] = {logits}.argmax(dim=-1)")),
    "logits_of_previous_position": (generate_fails("uses_position_t"),
                                    loop(logits="logits[:, t - 1]")),
    "logits_of_next_position": (generate_fails("uses_position_t"),
                                loop(logits="logits[:, min(t + 1, length - 1)]")),
    "raw_tokens_as_input": (generate_fails("uses_position_t"), """
        tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
        for t in range(length):
            logits = model(tokens.float().unsqueeze(1))
            probs = torch.softmax(logits[:, t], dim=-1)
            tokens[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return tokens"""),
    "all_positions_in_one_pass": (generate_fails("uses_position_t"), """
        tokens = torch.zeros(nb_sequences, length, dtype=torch.long)
        logits = model(toylib.data.tokens_to_input(tokens, nb_classes))
        probs = torch.softmax(logits, dim=-1).reshape(-1, nb_classes)
        return torch.multinomial(probs, 1, generator=generator).view(nb_sequences, length)"""),
    "float_tokens": (generate_fails("shape_and_range"), """
        tokens = torch.zeros(nb_sequences, length)
        for t in range(length):
            logits = model(toylib.data.tokens_to_input(tokens.long(), nb_classes))
            probs = torch.softmax(logits[:, t], dim=-1)
            tokens[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1).float()
        return tokens"""),
    "generator_ignored": (generate_fails("samples"), loop(
        "tokens[:, t] = torch.multinomial(torch.softmax({logits}, dim=-1), 1).squeeze(1)")),
    "categorical_without_generator": (generate_fails("samples"), loop(
        "tokens[:, t] = torch.distributions.Categorical(logits={logits}).sample()")),
}


@pytest.mark.parametrize("name", list(GENERATE_VARIANTS))
def test_generate_variant(name: str) -> None:
    must_fail, body = GENERATE_VARIANTS[name]
    results = run_cells({"generate": with_bodies("generate", body)}, GENERATE_TESTS)
    check(results, must_fail)


def test_blank_answers_fail_every_test_cell_readably() -> None:
    """The released stubs (raise NotImplementedError) fail each test cell with a message."""
    stub = "raise NotImplementedError()"
    answers = {"causal_conv1d": with_bodies("causal_conv1d", stub),
               "toy_net": with_bodies("toy_net", stub, stub),
               "generate": with_bodies("generate", stub)}
    results = run_cells(answers, LAYER_TESTS + NET_TESTS + GENERATE_TESTS)
    for grade_id, error in results.items():
        assert isinstance(error, AssertionError) and "NotImplementedError" in str(error), (
            grade_id, error)


# -------------------------------------------------------------------- what the student sees
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS\n.*?^[ \t]*### END HIDDEN TESTS\n?",
                    re.MULTILINE | re.DOTALL)
TABLES = [("causal_conv1d", LAYER_VARIANTS, LAYER_TESTS), ("toy_net", NET_VARIANTS, NET_TESTS),
          ("generate", GENERATE_VARIANTS, GENERATE_TESTS)]


@pytest.mark.parametrize("answer, name", [(answer, name) for answer, table, _ in TABLES
                                          for name, (fails_, _) in table.items() if fails_])
def test_the_visible_tests_already_reveal_each_mistake(answer: str, name: str,
                                                       monkeypatch) -> None:
    """Every property a hidden test grades has a visible test that tells the student: each
    mistake fails, in the released notebook, every cell it fails when graded."""
    table, tests = next((t, tests) for a, t, tests in TABLES if a == answer)
    must_fail, body = table[name]
    bodies = body if isinstance(body, tuple) else (body,)
    visible = {grade_id: HIDDEN.sub("", CELLS[grade_id]) for grade_id in tests}
    monkeypatch.setitem(globals(), "CELLS", dict(CELLS, **visible))
    results = run_cells({answer: with_bodies(answer, *bodies)}, tests)
    failures = {k for k, v in results.items() if v is not None}
    assert failures == set(must_fail), (
        f"graded, {name} fails {sorted(must_fail)}; the visible tests show {sorted(failures)}")
