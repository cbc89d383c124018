"""Exercise 06 (causal convolutions inside today's sequence models): variants and samples.

Data only (see ``tests/exercise_data/__init__.py``): right and wrong ways to write the two
answers, with the exact test cells each mistake fails, and the sample submissions.

``fft_causal_conv(x, kernel)`` (H3/Hyena's long convolution by FFT) has the cells
``shape_and_dtype`` (L = T); ``values`` (L = T, float32 at tol 1e-4 and float64 at 1e-10);
``is_causal`` (L = T, one batch whose row 1 + s changes x[s]); ``short_kernel`` (L < T, down to
L = 1, float32); ``uses_fft`` (a ``TorchFunctionMode`` in the probe records the torch functions
called; torch isn't patched). The wrap-around family: no zero padding (n = T) and one sample
short (n = T + L - 2) both make the output at t = 0 read x[T - 1] (``is_causal`` says so), and
n = T + L - 2 also raises at T = L = 1 (n = 0: ``shape_and_dtype``, ``values``). Padding to 2L
(the Hyena formula with L for T) is right when L = T and wraps only for L < T. A reversed kernel
is causal but wrong; a conjugated spectrum (a correlation) reads the future. ``irfft`` without
``n`` returns an even length: wrong values for every odd n = T + L - 1 (2T - 1 when L = T) and a
crash at T = L = 1. A float32 computation of a float64 input loses precision (``values``) and, if
not cast back, the dtype too (``shape_and_dtype``). A direct sum (``F.conv1d``, NumPy's FFT) is
right in every cell but ``uses_fft``.

``causal_conv1d_update(x, conv_state, weight, bias=None, activation=None)`` (Mamba's decode
step) has ``values`` (one step from a random state, bias or not, float64, W = 1); ``state`` (the
caller's state after the call, exact); ``view`` (a slice of rows of a cache (N, D, W - 1), and a
time-major cache (N, W - 1, D) seen through ``.transpose(1, 2)``, not contiguous);
``matches_full_conv`` (T steps from zeros against ``F.conv1d`` with groups=D); ``activation``
(silu/swish against F.silu of the student's own output without activation, so it grades the
activation alone); ``unknown_activation_raises``. A state rebound, shifted the wrong way or with
x written first fails ``state``, ``view`` and ``matches_full_conv`` (not ``values``: the output
is computed from the right window first). A ``.contiguous()`` copy of a non-contiguous view
fails ``view`` only. Writing ``conv_state[:, :, -1] = x`` raises on the empty state of W = 1:
the right roll and slice variants guard it, the unguarded one fails every cell with W = 1.
"""

from __future__ import annotations

ASSIGNMENT = "06_modern_causal_convs"

# fft_causal_conv ---------------------------------------------------------------------------------
SIZES = "length, taps = x.size(-1), kernel.size(-1)\n"


def rfft_conv(n: str = "length + taps - 1", spectrum: str = "torch.fft.rfft(kernel, n=n)",
              inverse: str = "torch.fft.irfft(product, n=n)", keep: str = "[..., :length]",
              setup: str = "") -> str:
    """A body of fft_causal_conv by rfft/irfft with FFT length ``n``."""
    return (SIZES + setup + f"n = {n}\n"
            f"product = torch.fft.rfft(x, n=n) * {spectrum}\n"
            f"return {inverse}{keep}")


FFT_CAUSAL_CONV = {
    # right ways ----------------------------------------------------------------------------------
    "rfft_irfft": (None, rfft_conv()),
    "complex_fft_then_real": (None, SIZES + """
n = length + taps - 1
product = torch.fft.fft(x, n=n) * torch.fft.fft(kernel, n=n)  # complex spectra of length n
return torch.fft.ifft(product, n=n).real[..., :length]"""),
    "next_power_of_two": (None, rfft_conv(
        n="1 << (length + taps - 2).bit_length()  # the power of two >= T + L - 1")),
    "hyena_two_t": (None, rfft_conv(n="2 * length")),
    "loop_over_channels": (None, SIZES + """
n = length + taps - 1
out = []
for c in range(x.size(1)):
    spectrum = torch.fft.rfft(x[:, c], n=n) * torch.fft.rfft(kernel[c], n=n)  # (B, n // 2 + 1)
    out.append(torch.fft.irfft(spectrum, n=n)[:, :length])
return torch.stack(out, dim=1)"""),
    "padded_by_hand": (None, SIZES + """
x_padded = F.pad(x, (0, taps - 1))  # (B, C, T + L - 1)
k_padded = F.pad(kernel, (0, length - 1))  # (C, T + L - 1)
n = x_padded.size(-1)
y = torch.fft.irfft(torch.fft.rfft(x_padded) * torch.fft.rfft(k_padded), n=n)
return y[..., :length].contiguous()"""),
    "rfftn_on_the_last_dim": (None, SIZES + """
n = length + taps - 1
product = torch.fft.rfftn(x, s=(n,), dim=(-1,)) * torch.fft.rfftn(kernel, s=(n,), dim=(-1,))
return torch.fft.irfftn(product, s=(n,), dim=(-1,))[..., :length]"""),
    # wrap round --------------------------------------------------------------------------------
    "circular_no_padding": (("values", "is_causal", "short_kernel"), rfft_conv(n="length")),
    "padded_one_short": (("shape_and_dtype", "values", "is_causal", "short_kernel"),
                         rfft_conv(n="length + taps - 2")),
    # Hyena's 2T with the filter's length: right for L = T, wraps for L < T
    "padded_to_twice_the_kernel": (("short_kernel",), rfft_conv(n="2 * taps")),
    # the other end of the full convolution: y[t] reads up to x[t + L - 1]
    "keeps_the_last_t_outputs": (("values", "is_causal", "short_kernel"),
                                 rfft_conv(keep="[..., -length:]")),
    # direction ---------------------------------------------------------------------------------
    "kernel_flipped": (("values", "short_kernel"),
                       rfft_conv(spectrum="torch.fft.rfft(kernel.flip(-1), n=n)")),
    "conjugated_spectrum": (("values", "is_causal", "short_kernel"),
                            rfft_conv(spectrum="torch.fft.rfft(kernel, n=n).conj()")),
    # irfft's default length is even: wrong for an odd n, and 0 at n = 1
    "irfft_without_n": (("shape_and_dtype", "values", "is_causal", "short_kernel"),
                        rfft_conv(inverse="torch.fft.irfft(product)")),
    # dtype -------------------------------------------------------------------------------------
    "float32_inside": (("values",), SIZES + """
n = length + taps - 1
product = torch.fft.rfft(x.float(), n=n) * torch.fft.rfft(kernel.float(), n=n)
return torch.fft.irfft(product, n=n)[..., :length].to(x.dtype)"""),
    "float32_returned": (("shape_and_dtype", "values"), SIZES + """
n = length + taps - 1
product = torch.fft.rfft(x.float(), n=n) * torch.fft.rfft(kernel.float(), n=n)
return torch.fft.irfft(product, n=n)[..., :length]"""),
    # right values, no FFT ----------------------------------------------------------------------
    "conv1d_direct": (("uses_fft",), SIZES + """
weight = kernel.flip(-1).unsqueeze(1)  # (C, 1, L): conv1d correlates
return F.conv1d(F.pad(x, (taps - 1, 0)), weight, groups=x.size(1))"""),
    "numpy_fft": (("uses_fft",), SIZES + """
import numpy as np

n = length + taps - 1
product = np.fft.rfft(x.numpy(), n=n) * np.fft.rfft(kernel.numpy(), n=n)
return torch.from_numpy(np.fft.irfft(product, n=n)[..., :length].astype(
    x.numpy().dtype))"""),
}

# causal_conv1d_update ----------------------------------------------------------------------------
CHECK = """
if activation not in (None, "silu", "swish"):
    raise ValueError(f"unknown activation {activation!r}")
"""
OUT = """
out = (window * weight).sum(dim=-1)
if bias is not None:
    out = out + bias
return F.silu(out) if activation is not None else out"""
WINDOW = "window = torch.cat([conv_state, x[..., None]], dim=-1)  # (B, D, W)\n"


def update(state: str, out: str = OUT, check: str = CHECK, window: str = WINDOW) -> str:
    """A body of causal_conv1d_update: ``check``, the window, ``state`` (its update), ``out``."""
    return check.lstrip("\n") + window + state.strip("\n") + out


CAUSAL_CONV1D_UPDATE = {
    # right ways ----------------------------------------------------------------------------------
    "window_then_copy": (None, update("conv_state.copy_(window[..., 1:])")),
    # Mamba's own fallback, with the empty state of W = 1 guarded
    "roll_then_write": (None, update("""
if conv_state.size(-1) > 0:
    conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
    conv_state[:, :, -1] = x""")),
    "slices_with_clone": (None, update("""
if conv_state.size(-1) > 0:
    conv_state[..., :-1] = conv_state[..., 1:].clone()
    conv_state[..., -1] = x""")),
    "cat_then_copy": (None, update(
        "conv_state.copy_(torch.cat([conv_state[..., 1:], x[..., None]], dim=-1))")),
    "python_loop_over_taps": (None, CHECK.lstrip("\n") + """
width = weight.size(-1)
out = x * weight[:, width - 1] if bias is None else bias + x * weight[:, width - 1]
for w in range(width - 1):
    out = out + weight[:, w] * conv_state[:, :, w]
for w in range(width - 2):
    conv_state[:, :, w] = conv_state[:, :, w + 1]
if width > 1:
    conv_state[:, :, width - 2] = x
return F.silu(out) if activation in ("silu", "swish") else out"""),
    "einsum_and_state_first": (None, CHECK.lstrip("\n") + """
window = torch.cat([conv_state, x.unsqueeze(-1)], dim=-1)  # (B, D, W)
conv_state[...] = window[:, :, 1:]
out = torch.einsum("bdw,dw->bd", window, weight)
if bias is not None:
    out += bias
if activation in ("silu", "swish"):
    out = out * torch.sigmoid(out)
return out"""),
    # the state -----------------------------------------------------------------------------------
    "state_rebound": (("state", "view", "matches_full_conv"), update(
        "conv_state = window[..., 1:]  # a new name: the caller's tensor is unchanged")),
    "shifted_the_wrong_way": (("state", "view", "matches_full_conv"), update("""
if conv_state.size(-1) > 0:
    conv_state.copy_(torch.roll(conv_state, shifts=1, dims=-1))
    conv_state[:, :, -1] = x""")),
    "x_written_first": (("state", "view", "matches_full_conv"), update(
        "conv_state.copy_(torch.cat([x[..., None], conv_state], dim=-1)[..., :-1])")),
    # a copy of a non-contiguous view: right for a plain tensor and a slice of rows
    "contiguous_view": (("view",), update("""
state = conv_state.contiguous()  # a copy when conv_state is not contiguous
state.copy_(window[..., 1:])""")),
    # Mamba's fallback as it is: conv_state[:, :, -1] raises on the empty state of W = 1
    "roll_without_w1_guard": (("values", "state", "matches_full_conv"), update("""
conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
conv_state[:, :, -1] = x""")),
    # the output ----------------------------------------------------------------------------------
    # the output from the old state alone, before x is written: x is left out
    "window_without_x": (("values", "matches_full_conv"), CHECK.lstrip("\n") + """
out = (conv_state * weight[:, :-1]).sum(dim=-1)  # the old state only
conv_state.copy_(torch.cat([conv_state, x[..., None]], dim=-1)[..., 1:])
if bias is not None:
    out = out + bias
return F.silu(out) if activation is not None else out"""),
    "weight_taps_reversed": (("values", "matches_full_conv"), update(
        "conv_state.copy_(window[..., 1:])", out=OUT.replace("window * weight",
                                                           "window * weight.flip(-1)"))),
    "bias_required": (("values",), update("conv_state.copy_(window[..., 1:])", out="""
out = (window * weight).sum(dim=-1) + bias
return F.silu(out) if activation is not None else out""")),
    # activation ----------------------------------------------------------------------------------
    "activation_checked_not_applied": (("activation",), update(
        "conv_state.copy_(window[..., 1:])", out="""
out = (window * weight).sum(dim=-1)
return out if bias is None else out + bias""")),
    "relu_for_silu": (("activation",), update("conv_state.copy_(window[..., 1:])",
                                              out=OUT.replace("F.silu(out)", "F.relu(out)"))),
    "any_activation_accepted": (("unknown_activation_raises",), update(
        "conv_state.copy_(window[..., 1:])", check="", out="""
out = (window * weight).sum(dim=-1)
if bias is not None:
    out = out + bias
return F.silu(out) if activation in ("silu", "swish") else out""")),
}

VARIANTS = {"fft_causal_conv": FFT_CAUSAL_CONV, "causal_conv1d_update": CAUSAL_CONV1D_UPDATE}
# part 1 broken (it raises): part 2, written on its own, loses nothing
ISOLATION = {"broken_fft_causal_conv": (
    {"fft_causal_conv": ("raise NotImplementedError()",)}, "causal_conv1d_update")}

REFERENCE = "from toylib.longconv import fft_causal_conv  # the course's own\n"


def samples(kit) -> dict:
    """{student: make(released notebook) -> notebook}: right in other styles (complex FFT and a
    rolled state), blank, the wrap-around of an FFT without zero padding, a direct sum without
    FFT, a state rebound instead of updated in place, a .contiguous() copy of a view, and part 1
    imported from the course's toylib.longconv (uses_reference)."""
    return {
        "perfect": kit.with_answers(),
        "blank": lambda nb: nb,
        "ex06_complex_fft_and_roll": kit.with_answers(
            fft_causal_conv=kit.variant("fft_causal_conv", "complex_fft_then_real"),
            causal_conv1d_update=kit.variant("causal_conv1d_update", "roll_then_write")),
        "ex06_circular_fft": kit.with_answers(
            fft_causal_conv=kit.variant("fft_causal_conv", "circular_no_padding")),
        "ex06_padded_one_short": kit.with_answers(
            fft_causal_conv=kit.variant("fft_causal_conv", "padded_one_short")),
        "ex06_no_fft": kit.with_answers(
            fft_causal_conv=kit.variant("fft_causal_conv", "conv1d_direct")),
        "ex06_state_rebound": kit.with_answers(
            causal_conv1d_update=kit.variant("causal_conv1d_update", "state_rebound")),
        "ex06_contiguous_view": kit.with_answers(
            causal_conv1d_update=kit.variant("causal_conv1d_update", "contiguous_view")),
        "ex06_imports_longconv": kit.with_answers(fft_causal_conv=REFERENCE),
    }
