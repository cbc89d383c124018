"""Exercise 04 (PixelCNN: positional bits, masks A and B, colour masks, the two-stack model):
variants, samples.

Data only (see ``tests/exercise_data/__init__.py``): right ways to write each answer, the mistakes
real implementations make (bits in the wrong order, mask A and B swapped, the centre row masked
wrongly, colour groups interleaved, a shift on the wrong axis, ...) with the exact test cells each
one fails, and the sample submissions the grading round trip grades.
"""

from __future__ import annotations

ASSIGNMENT = "04_pixelcnn"

BINARY_POSITIONAL_ENCODING = {
    # right ways ----------------------------------------------------------------------------
    "shift_and_mask": (None, """
nr, nc = math.ceil(math.log2(height)), math.ceil(math.log2(width))
rows = torch.arange(height).view(-1, 1).expand(height, width)  # (H, W)
cols = torch.arange(width).view(1, -1).expand(height, width)  # (H, W)
bits = [(rows >> i) & 1 for i in range(nr)] + [(cols >> j) & 1 for j in range(nc)]
if not bits:
    return torch.zeros(0, height, width)
return torch.stack(bits).float()"""),
    "python_loops": (None, """
nr, nc = (height - 1).bit_length(), (width - 1).bit_length()
pe = torch.zeros(nr + nc, height, width)
for r in range(height):
    for c in range(width):
        for i in range(nr):
            pe[i, r, c] = (r // 2 ** i) % 2
        for j in range(nc):
            pe[nr + j, r, c] = (c // 2 ** j) % 2
return pe"""),
    "binary_strings": (None, """
nr, nc = math.ceil(math.log2(height)), math.ceil(math.log2(width))

def code(index, bits):  # least significant bit first
    return [float(b) for b in reversed(format(index, f"0{bits}b"))] if bits else []

row_codes = torch.tensor([code(r, nr) for r in range(height)]).reshape(height, nr)  # (H, nr)
col_codes = torch.tensor([code(c, nc) for c in range(width)]).reshape(width, nc)  # (W, nc)
rows = row_codes.T[:, :, None].expand(nr, height, width)  # (nr, H, W)
cols = col_codes.T[:, None, :].expand(nc, height, width)  # (nc, H, W)
return torch.cat([rows, cols]).float().contiguous()"""),
    "meshgrid_bitwise_and": (None, """
nr, nc = math.ceil(math.log2(height)), math.ceil(math.log2(width))
rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
powers_r = (2 ** torch.arange(nr)).view(-1, 1, 1)  # (nr, 1, 1)
powers_c = (2 ** torch.arange(nc)).view(-1, 1, 1)  # (nc, 1, 1)
return torch.cat([(rows & powers_r) > 0, (cols & powers_c) > 0]).to(torch.float32)"""),
    # mistakes ------------------------------------------------------------------------------
    "most_significant_bit_first": (("bits",), """
nr, nc = math.ceil(math.log2(height)), math.ceil(math.log2(width))
rows = torch.arange(height).view(-1, 1).expand(height, width)
cols = torch.arange(width).view(1, -1).expand(height, width)
bits = [(rows >> i) & 1 for reversed_i in range(nr) for i in [nr - 1 - reversed_i]]
bits += [(cols >> j) & 1 for reversed_j in range(nc) for j in [nc - 1 - reversed_j]]
if not bits:
    return torch.zeros(0, height, width)
return torch.stack(bits).float()"""),
    "columns_first": (("bits",), """
nr, nc = math.ceil(math.log2(height)), math.ceil(math.log2(width))
rows = torch.arange(height).view(-1, 1).expand(height, width)
cols = torch.arange(width).view(1, -1).expand(height, width)
bits = [(cols >> j) & 1 for j in range(nc)] + [(rows >> i) & 1 for i in range(nr)]
if not bits:
    return torch.zeros(0, height, width)
return torch.stack(bits).float()"""),
    "rows_and_columns_swapped": (("bits",), """
nr, nc = math.ceil(math.log2(height)), math.ceil(math.log2(width))
rows = torch.arange(height).view(-1, 1).expand(height, width)
cols = torch.arange(width).view(1, -1).expand(height, width)
bits = [(cols >> i) & 1 for i in range(nr)] + [(rows >> j) & 1 for j in range(nc)]
if not bits:
    return torch.zeros(0, height, width)
return torch.stack(bits).float()"""),
    "floor_log2_plus_one": (("shape", "bits"), """
nr, nc = int(math.log2(height)) + 1, int(math.log2(width)) + 1
rows = torch.arange(height).view(-1, 1).expand(height, width)
cols = torch.arange(width).view(1, -1).expand(height, width)
bits = [(rows >> i) & 1 for i in range(nr)] + [(cols >> j) & 1 for j in range(nc)]
return torch.stack(bits).float()"""),
    "at_least_one_bit": (("shape", "bits"), """
nr = max(1, math.ceil(math.log2(height)))
nc = max(1, math.ceil(math.log2(width)))
rows = torch.arange(height).view(-1, 1).expand(height, width)
cols = torch.arange(width).view(1, -1).expand(height, width)
bits = [(rows >> i) & 1 for i in range(nr)] + [(cols >> j) & 1 for j in range(nc)]
return torch.stack(bits).float()"""),
    # the natural answer without the empty case: torch.stack([]) raises for a 1x1 image, whose
    # encoding is (0, 1, 1) by the contract (nr = nc = 0); the visible 1x1 case shows it
    "stack_without_empty_case": (("shape",), """
nr, nc = math.ceil(math.log2(height)), math.ceil(math.log2(width))
rows = torch.arange(height).view(-1, 1).expand(height, width)
cols = torch.arange(width).view(1, -1).expand(height, width)
bits = [(rows >> i) & 1 for i in range(nr)] + [(cols >> j) & 1 for j in range(nc)]
return torch.stack(bits).float()"""),
    "integer_bits": (("shape",), """
nr, nc = math.ceil(math.log2(height)), math.ceil(math.log2(width))
rows = torch.arange(height).view(-1, 1).expand(height, width)
cols = torch.arange(width).view(1, -1).expand(height, width)
bits = [(rows >> i) & 1 for i in range(nr)] + [(cols >> j) & 1 for j in range(nc)]
if not bits:
    return torch.zeros(0, height, width, dtype=torch.long)
return torch.stack(bits)"""),
    "scaled_index_not_bits": (("bits",), """
nr, nc = math.ceil(math.log2(height)), math.ceil(math.log2(width))
rows = torch.arange(height).view(-1, 1).expand(height, width) / max(height - 1, 1)
cols = torch.arange(width).view(1, -1).expand(height, width) / max(width - 1, 1)
return torch.cat([rows.expand(nr, -1, -1), cols.expand(nc, -1, -1)]).float()"""),
}

MASK_CHECKS = """
if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
    raise ValueError(f"kernel_size must be an odd int >= 1, got {kernel_size!r}")
if mask_type not in ("A", "B"):
    raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
c = kernel_size // 2
"""


def checked(body: str) -> str:
    return MASK_CHECKS.strip("\n") + "\n" + body.strip("\n")


PIXELCNN_MASK = {
    "fill_the_past": (None, checked("""
mask = torch.zeros(kernel_size, kernel_size)
mask[:c] = 1.0
mask[c, :c] = 1.0
if mask_type == "B":
    mask[c, c] = 1.0
return mask""")),
    "ones_then_cut_the_future": (None, checked("""
mask = torch.ones(kernel_size, kernel_size)
mask[c, c + (mask_type == "B"):] = 0
mask[c + 1:] = 0
return mask""")),
    "raster_index": (None, checked("""
index = torch.arange(kernel_size * kernel_size).view(kernel_size, kernel_size)  # raster order
centre = c * kernel_size + c
keep = index <= centre if mask_type == "B" else index < centre
return keep.float()""")),
    "loops": (None, checked("""
mask = torch.zeros(kernel_size, kernel_size, dtype=torch.float32)
for r in range(kernel_size):
    for s in range(kernel_size):
        if r < c or (r == c and s < c) or (r == c and s == c and mask_type == "B"):
            mask[r, s] = 1
return mask""")),
    # mistakes ------------------------------------------------------------------------------
    "a_and_b_swapped": (("values",), checked("""
mask = torch.zeros(kernel_size, kernel_size)
mask[:c] = 1.0
mask[c, :c] = 1.0
if mask_type == "A":
    mask[c, c] = 1.0
return mask""")),
    "whole_centre_row_kept": (("values",), checked("""
mask = torch.zeros(kernel_size, kernel_size)
mask[:c + 1] = 1.0
if mask_type == "A":
    mask[c, c] = 0.0
return mask""")),
    "centre_row_hidden": (("values",), checked("""
mask = torch.zeros(kernel_size, kernel_size)
mask[:c] = 1.0
if mask_type == "B":
    mask[c, c] = 1.0
return mask""")),
    "centre_column_not_row": (("values",), checked("""
mask = torch.zeros(kernel_size, kernel_size)
mask[:, :c] = 1.0
mask[:c, c] = 1.0
if mask_type == "B":
    mask[c, c] = 1.0
return mask""")),
    "boolean_mask": (("values",), checked("""
index = torch.arange(kernel_size * kernel_size).view(kernel_size, kernel_size)
centre = c * kernel_size + c
return index <= centre if mask_type == "B" else index < centre""")),
    "no_checks": (("errors",), """
c = kernel_size // 2
mask = torch.zeros(max(kernel_size, 0), max(kernel_size, 0))
mask[:c] = 1.0
mask[c, :c] = 1.0
if mask_type == "B":
    mask[c, c] = 1.0
return mask"""),
    # -1 is odd: only a visible negative kernel size shows that it passes
    "only_even_sizes_refused": (("errors",), """
if kernel_size % 2 == 0:
    raise ValueError(f"kernel_size must be odd, got {kernel_size}")
if mask_type not in ("A", "B"):
    raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
c = kernel_size // 2
mask = torch.zeros(kernel_size, kernel_size)
mask[:c] = 1.0
mask[c, :c] = 1.0
if mask_type == "B":
    mask[c, c] = 1.0
return mask"""),
    "type_upper_cased": (("errors",), """
if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
    raise ValueError(f"kernel_size must be an odd int >= 1, got {kernel_size!r}")
mask_type = str(mask_type).upper()
if mask_type not in ("A", "B"):
    raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
c = kernel_size // 2
mask = torch.zeros(kernel_size, kernel_size)
mask[:c] = 1.0
mask[c, :c] = 1.0
if mask_type == "B":
    mask[c, c] = 1.0
return mask"""),
    "assert_not_raise": (("errors",), """
assert kernel_size >= 1 and kernel_size % 2 == 1, "odd kernel_size >= 1"
assert mask_type in ("A", "B"), "mask type A or B"
c = kernel_size // 2
mask = torch.zeros(kernel_size, kernel_size)
mask[:c] = 1.0
mask[c, :c] = 1.0
if mask_type == "B":
    mask[c, c] = 1.0
return mask"""),
}

RGB_CHECKS = """
if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
    raise ValueError(f"kernel_size must be an odd int >= 1, got {kernel_size!r}")
if not isinstance(groups, int) or groups < 1:
    raise ValueError(f"groups must be an int >= 1, got {groups!r}")
if in_channels % groups or out_channels % groups:
    raise ValueError(f"channels {in_channels}, {out_channels} not divisible by {groups}")
if mask_type not in ("A", "B"):
    raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
c = kernel_size // 2
"""


def rgb_checked(body: str, checks: str = RGB_CHECKS) -> str:
    return checks.strip("\n") + "\n" + body.strip("\n")


CENTRE_A = "group_in[None, :] < group_out[:, None]"  # (C_out, C_in)
CENTRE_B = "group_in[None, :] <= group_out[:, None]"


def rgb_groups(group_in: str, group_out: str, centre_a: str = CENTRE_A, centre_b: str = CENTRE_B,
               spatial: str = "mask[:, :, :c] = 1.0\nmask[:, :, c, :c] = 1.0",
               checks: str = RGB_CHECKS, dtype: str = "") -> str:
    """The solution's shape (group indices, a centre block, the pixels before it), with one part
    replaced."""
    return rgb_checked(f"""
group_in = {group_in}
group_out = {group_out}
centre = ({centre_a}) if mask_type == "A" else ({centre_b})
mask = torch.zeros(out_channels, in_channels, kernel_size, kernel_size{dtype})
{spatial}
mask[:, :, c, c] = centre
return mask""", checks)


GROUP_IN = "torch.arange(in_channels) // (in_channels // groups)"
GROUP_OUT = "torch.arange(out_channels) // (out_channels // groups)"

PIXELCNN_MASK_RGB = {
    # right ways ----------------------------------------------------------------------------
    "group_index_broadcast": (None, rgb_groups(GROUP_IN, GROUP_OUT)),
    "loops": (None, rgb_checked("""
mask = torch.zeros(out_channels, in_channels, kernel_size, kernel_size)
per_in, per_out = in_channels // groups, out_channels // groups
for o in range(out_channels):
    for i in range(in_channels):
        for r in range(kernel_size):
            for s in range(kernel_size):
                if r < c or (r == c and s < c):
                    mask[o, i, r, s] = 1.0
                elif r == c and s == c:
                    g_in, g_out = i // per_in, o // per_out
                    if g_in < g_out or (mask_type == "B" and g_in == g_out):
                        mask[o, i, r, s] = 1.0
return mask""")),
    "kron_of_a_group_mask": (None, rgb_checked("""
# allowed[g_out, g_in]: below the diagonal for A, and on it for B
allowed = torch.tril(torch.ones(groups, groups), diagonal=-1 if mask_type == "A" else 0)
block = torch.ones(out_channels // groups, in_channels // groups)
mask = torch.zeros(out_channels, in_channels, kernel_size, kernel_size)
mask[:, :, :c, :] = 1
mask[:, :, c, :c] = 1
mask[:, :, c, c] = torch.kron(allowed, block)
return mask""")),
    # reuses the student's own part-2 mask for the pixels before the centre
    "repeat_interleave_and_own_plain_mask": (None, rgb_checked("""
plain = pixelcnn_mask(kernel_size, "A")  # (k, k): the pixels before the centre
allowed = torch.ones(groups, groups).tril(-1 if mask_type == "A" else 0)
centre = allowed.repeat_interleave(out_channels // groups, dim=0)
centre = centre.repeat_interleave(in_channels // groups, dim=1)  # (C_out, C_in)
mask = plain.repeat(out_channels, in_channels, 1, 1)
mask[:, :, c, c] = centre
return mask""")),
    "raster_index_4d": (None, rgb_checked("""
index = torch.arange(kernel_size * kernel_size).view(1, 1, kernel_size, kernel_size)
centre = c * kernel_size + c
g_out = torch.div(torch.arange(out_channels), out_channels // groups, rounding_mode="floor")
g_in = torch.arange(in_channels) * groups // in_channels
g_out, g_in = g_out.view(-1, 1, 1, 1), g_in.view(1, -1, 1, 1)
colour = (g_in < g_out) | ((g_in == g_out) & torch.tensor(mask_type == "B"))
return ((index < centre) | ((index == centre) & colour)).float()""")),
    "numpy_outer": (None, """
import numpy as np

if type(kernel_size) is not int or kernel_size <= 0 or not kernel_size % 2:
    raise ValueError("kernel_size: odd, >= 1")
if type(groups) is not int or groups <= 0:
    raise ValueError("groups >= 1")
if in_channels % groups != 0:
    raise ValueError("in_channels not divisible by groups")
if out_channels % groups != 0:
    raise ValueError("out_channels not divisible by groups")
if mask_type != "A" and mask_type != "B":
    raise ValueError("mask_type: 'A' or 'B'")
c = kernel_size // 2
mask = np.zeros((out_channels, in_channels, kernel_size, kernel_size), dtype=np.float32)
mask[:, :, :c] = 1
mask[:, :, c, :c] = 1
g_out = np.arange(out_channels) // (out_channels // groups)
g_in = np.arange(in_channels) // (in_channels // groups)
later = np.subtract.outer(g_out, g_in)  # (C_out, C_in): how many groups o comes after i
mask[:, :, c, c] = later > 0 if mask_type == "A" else later >= 0
return torch.from_numpy(mask)"""),
    "meshgrid_and_expand": (None, rgb_checked("""
g_out, g_in = torch.meshgrid(torch.arange(out_channels) // (out_channels // groups),
                             torch.arange(in_channels) // (in_channels // groups), indexing="ij")
offset = 0 if mask_type == "B" else 1
centre = (g_in + offset <= g_out).float()  # (C_out, C_in)
before = torch.zeros(kernel_size * kernel_size)
before[:c * kernel_size + c] = 1  # raster order up to the centre
mask = before.view(1, 1, kernel_size, kernel_size).expand(out_channels, in_channels, -1, -1)
mask = mask.clone()
mask[:, :, c, c] = centre
return mask""")),
    # mistakes ------------------------------------------------------------------------------
    "groups_interleaved": (("centre_a", "centre_b"), rgb_groups(
        "torch.arange(in_channels) % groups", "torch.arange(out_channels) % groups")),
    "a_and_b_swapped": (("centre_a", "centre_b"), rgb_groups(
        GROUP_IN, GROUP_OUT, centre_a="group_in[None, :] <= group_out[:, None]",
        centre_b="group_in[None, :] < group_out[:, None]")),
    "input_groups_from_out_channels": (("centre_a", "centre_b"), rgb_groups(
        "torch.arange(in_channels) // (out_channels // groups)", GROUP_OUT)),
    "group_comparison_reversed": (("centre_a", "centre_b"), rgb_groups(
        GROUP_IN, GROUP_OUT, centre_a="group_in[None, :] > group_out[:, None]",
        centre_b="group_in[None, :] >= group_out[:, None]")),
    "groups_ignored": (("centre_a", "centre_b"), rgb_groups(
        GROUP_IN, GROUP_OUT, centre_a="torch.zeros(out_channels, in_channels)",
        centre_b="torch.ones(out_channels, in_channels)")),
    "a_hides_the_whole_centre": (("centre_a",), rgb_groups(
        GROUP_IN, GROUP_OUT, centre_a="torch.zeros(out_channels, in_channels)")),
    "b_keeps_the_whole_centre": (("centre_b",), rgb_groups(
        GROUP_IN, GROUP_OUT, centre_b="torch.ones(out_channels, in_channels)")),
    "b_own_group_only": (("centre_b",), rgb_groups(
        GROUP_IN, GROUP_OUT, centre_b="group_in[None, :] == group_out[:, None]")),
    "centre_row_right_part_open": (("past",), rgb_groups(
        GROUP_IN, GROUP_OUT, spatial="mask[:, :, :c] = 1.0\nmask[:, :, c, :] = 1.0")),
    # the colour rule at every pixel up to the centre, not only at the centre
    "colour_rule_everywhere": (("past",), rgb_groups(
        GROUP_IN, GROUP_OUT, spatial="mask[:, :, :c] = centre[:, :, None, None].float()\n"
                                     "mask[:, :, c, :c] = centre[:, :, None].float()")),
    "in_and_out_swapped": (("shape", "past", "centre_a", "centre_b"), rgb_checked("""
group_in = torch.arange(in_channels) // (in_channels // groups)
group_out = torch.arange(out_channels) // (out_channels // groups)
allowed = group_in[:, None] < group_out[None, :] if mask_type == "A" else (
    group_in[:, None] <= group_out[None, :])  # (C_in, C_out)
mask = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
mask[:, :, :c] = 1.0
mask[:, :, c, :c] = 1.0
mask[:, :, c, c] = allowed.float()
return mask""")),
    "boolean_mask": (("shape",), rgb_checked("""
index = torch.arange(kernel_size * kernel_size).view(1, 1, kernel_size, kernel_size)
g_out = (torch.arange(out_channels) // (out_channels // groups)).view(-1, 1, 1, 1)
g_in = (torch.arange(in_channels) // (in_channels // groups)).view(1, -1, 1, 1)
colour = g_in < g_out if mask_type == "A" else g_in <= g_out
return (index < c * kernel_size + c) | ((index == c * kernel_size + c) & colour)""")),
    "float64_from_numpy": (("shape",), """
import numpy as np

if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
    raise ValueError(f"kernel_size must be an odd int >= 1, got {kernel_size!r}")
if not isinstance(groups, int) or groups < 1:
    raise ValueError(f"groups must be an int >= 1, got {groups!r}")
if in_channels % groups or out_channels % groups:
    raise ValueError("channels not divisible by groups")
if mask_type not in ("A", "B"):
    raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
c = kernel_size // 2
mask = np.zeros((out_channels, in_channels, kernel_size, kernel_size))
mask[:, :, :c] = 1
mask[:, :, c, :c] = 1
g_out = np.arange(out_channels) // (out_channels // groups)
g_in = np.arange(in_channels) // (in_channels // groups)
later = np.subtract.outer(g_out, g_in)
mask[:, :, c, c] = later > 0 if mask_type == "A" else later >= 0
return torch.from_numpy(mask)"""),
    "type_lower_cased": (("errors",), rgb_groups(GROUP_IN, GROUP_OUT, checks=RGB_CHECKS.replace(
        'if mask_type not in ("A", "B"):', 'mask_type = mask_type.upper()\n'
                                           'if mask_type not in ("A", "B"):'))),
    "type_in_a_string": (("errors",), rgb_groups(GROUP_IN, GROUP_OUT, checks=RGB_CHECKS.replace(
        'if mask_type not in ("A", "B"):', 'if mask_type not in "AB":'))),
    "divisibility_not_checked": (("errors",), rgb_groups(
        GROUP_IN, GROUP_OUT, checks=RGB_CHECKS.replace(
            'if in_channels % groups or out_channels % groups:\n'
            '    raise ValueError(f"channels {in_channels}, {out_channels} not divisible by '
            '{groups}")\n', ""))),
    "only_zero_groups_refused": (("errors",), rgb_groups(
        GROUP_IN, GROUP_OUT, checks=RGB_CHECKS.replace(
            "if not isinstance(groups, int) or groups < 1:", "if groups == 0:"))),
    "only_even_sizes_refused": (("errors",), rgb_groups(
        GROUP_IN, GROUP_OUT, checks=RGB_CHECKS.replace(
            "if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:",
            "if kernel_size % 2 == 0:"))),
}

POSITIONS = """
half = self.kernel_size // 2
if self.positional:
    pe = binary_positional_encoding(x.size(2), x.size(3)).to(x)  # (P, H, W)
    pe = pe.expand(x.size(0), -1, -1, -1)  # (B, P, H, W)
"""


def stacks(shifts: str, loop: str) -> str:
    """A forward: the two shifts, the positional channels, then the layers."""
    cat = ("if self.positional:\n    v, h = torch.cat([v, pe], dim=1), torch.cat([h, pe], dim=1)\n")
    return (POSITIONS.strip("\n") + "\n" + shifts.strip("\n") + "\n" + cat + loop.strip("\n")
            + "\nreturn self.output(h)")


LAYERS = """
for vertical, horizontal, link in zip(self.vertical, self.horizontal, self.down_to_right):
    v = F.relu(vertical(F.pad(v, (half, half, half, 0))))
    h = F.relu(horizontal(F.pad(h, (half, 0))) + link(v))"""
SHIFTS = """
v = F.pad(x, (0, 0, 1, -1))
h = F.pad(x, (1, -1))"""

TWO_STACK = {
    "pad_then_conv": (None, stacks(SHIFTS, LAYERS)),
    "conv_padding_then_crop": (None, stacks("""
height, width = x.shape[-2:]
v = F.pad(x, (0, 0, 1, 0))[..., :height, :]
h = F.pad(x, (1, 0))[..., :width]""", """
for vertical, horizontal, link in zip(self.vertical, self.horizontal, self.down_to_right):
    v = F.conv2d(v, vertical.weight, vertical.bias, padding=(half, half))[..., :height, :]
    h = F.conv2d(h, horizontal.weight, horizontal.bias, padding=(0, half))[..., :width]
    h = torch.relu(h + link(torch.relu(v)))
    v = torch.relu(v)""")),
    "cat_zeros": (None, stacks("""
zero_row = x.new_zeros(x.size(0), 1, 1, x.size(3))
zero_col = x.new_zeros(x.size(0), 1, x.size(2), 1)
v = torch.cat([zero_row, x[:, :, :-1]], dim=2)
h = torch.cat([zero_col, x[:, :, :, :-1]], dim=3)""", """
for vertical, horizontal, link in zip(self.vertical, self.horizontal, self.down_to_right):
    b, c, height, width = v.shape
    v = torch.cat([v.new_zeros(b, c, height, half), v, v.new_zeros(b, c, height, half)], dim=3)
    v = torch.cat([v.new_zeros(b, c, half, width + 2 * half), v], dim=2)
    v = F.relu(vertical(v))
    h = torch.cat([h.new_zeros(b, h.size(1), height, half), h], dim=3)
    h = F.relu(horizontal(h) + link(v))""")),
    "zero_pad_module_and_slices": (None, stacks("""
v = torch.zeros_like(x)
v[:, :, 1:] = x[:, :, :-1]
h = torch.zeros_like(x)
h[:, :, :, 1:] = x[:, :, :, :-1]""", """
pad_v = nn.ZeroPad2d((half, half, half, 0))
pad_h = nn.ZeroPad2d((half, 0, 0, 0))
for vertical, horizontal, link in zip(self.vertical, self.horizontal, self.down_to_right):
    v = F.relu(vertical(pad_v(v)))
    h = F.relu(horizontal(pad_h(h)) + link(v))""")),
    # every convolution by 2D FFT, in float32 (a circular correlation of the padded input whose
    # first rows and columns, the ones that wrap round, are cropped): right, with FFT round-off
    "fft2_convolutions": (None, stacks(SHIFTS, """
def conv(layer, padded):  # layer(padded): no padding, by FFT
    kh, kw = layer.weight.shape[-2:]
    size = padded.shape[-2:]
    flipped = layer.weight.flip(-2, -1)
    spectrum = torch.einsum("bihw,oihw->bohw", torch.fft.rfft2(padded, s=size),
                            torch.fft.rfft2(flipped, s=size))
    y = torch.fft.irfft2(spectrum, s=size)[..., kh - 1:, kw - 1:]
    return y + layer.bias[:, None, None]

for vertical, horizontal, link in zip(self.vertical, self.horizontal, self.down_to_right):
    v = F.relu(conv(vertical, F.pad(v, (half, half, half, 0))))
    h = F.relu(conv(horizontal, F.pad(h, (half, 0))) + link(v))""")),
    # mistakes ------------------------------------------------------------------------------
    "shifts_on_the_wrong_axes": (("is_causal", "sees_its_past", "values"), stacks("""
v = F.pad(x, (1, -1))
h = F.pad(x, (0, 0, 1, -1))""", LAYERS)),
    "vertical_not_shifted": (("is_causal", "sees_its_past", "values"), stacks("""
v = x
h = F.pad(x, (1, -1))""", LAYERS)),
    "horizontal_not_shifted": (("is_causal", "sees_its_past", "values"), stacks("""
v = F.pad(x, (0, 0, 1, -1))
h = x""", LAYERS)),
    "vertical_padded_below": (("is_causal", "sees_its_past", "values"), stacks(SHIFTS, """
for vertical, horizontal, link in zip(self.vertical, self.horizontal, self.down_to_right):
    v = F.relu(vertical(F.pad(v, (half, half, 0, half))))
    h = F.relu(horizontal(F.pad(h, (half, 0))) + link(v))""")),
    "horizontal_padded_on_the_right": (("is_causal", "sees_its_past", "values"), stacks(SHIFTS, """
for vertical, horizontal, link in zip(self.vertical, self.horizontal, self.down_to_right):
    v = F.relu(vertical(F.pad(v, (half, half, half, 0))))
    h = F.relu(horizontal(F.pad(h, (0, half))) + link(v))""")),
    "shifted_again_every_layer": (("sees_its_past", "values"), stacks(SHIFTS, """
for layer, (vertical, horizontal, link) in enumerate(
        zip(self.vertical, self.horizontal, self.down_to_right)):
    if layer:
        v, h = F.pad(v, (0, 0, 1, -1)), F.pad(h, (1, -1))
    v = F.relu(vertical(F.pad(v, (half, half, half, 0))))
    h = F.relu(horizontal(F.pad(h, (half, 0))) + link(v))""")),
    "no_link_between_stacks": (("sees_its_past", "values"), stacks(SHIFTS, """
for vertical, horizontal, link in zip(self.vertical, self.horizontal, self.down_to_right):
    v = F.relu(vertical(F.pad(v, (half, half, half, 0))))
    h = F.relu(horizontal(F.pad(h, (half, 0))))""")),
    "positions_shifted_with_the_image": (("values",), POSITIONS.strip("\n") + """
if self.positional:
    x = torch.cat([x, pe], dim=1)
v = F.pad(x, (0, 0, 1, -1))
h = F.pad(x, (1, -1))""" + LAYERS + "\nreturn self.output(h)"),
    # the 1D chomp, conv(pad both sides)[..., :-half]: right for k > 1, empty for k = 1
    "cropped_with_minus_half": (("shape", "is_causal", "sees_its_past", "values"),
                                stacks(SHIFTS, """
for vertical, horizontal, link in zip(self.vertical, self.horizontal, self.down_to_right):
    v = F.relu(vertical(F.pad(v, (half, half, half, half)))[..., :-half, :])
    h = F.relu(horizontal(F.pad(h, (half, half)))[..., :-half] + link(v))""")),
    "positional_channels_forgotten": (("shape", "is_causal", "sees_its_past", "values"),
                                      """
half = self.kernel_size // 2
v = F.pad(x, (0, 0, 1, -1))
h = F.pad(x, (1, -1))""" + LAYERS + "\nreturn self.output(h)"),
}

VARIANTS = {"binary_positional_encoding": BINARY_POSITIONAL_ENCODING,
            "pixelcnn_mask": PIXELCNN_MASK, "pixelcnn_mask_rgb": PIXELCNN_MASK_RGB,
            "two_stack_pixelcnn": TWO_STACK}
ISOLATION = {"broken_encoding_then_right_model": (
    {"binary_positional_encoding": ("return torch.zeros(1, height, width)",)},
    "two_stack_pixelcnn"),
    "broken_plain_mask_then_right_colour_mask": (
        {"pixelcnn_mask": ("return torch.ones(kernel_size, kernel_size)",)}, "pixelcnn_mask_rgb")}


def samples(kit) -> dict:
    """{student: make(released notebook) -> notebook}: right in several ways, and wrong in the
    ways PixelCNNs go wrong."""
    made = {"perfect": kit.with_answers(), "blank": lambda nb: nb}
    for table, name in [("binary_positional_encoding", "python_loops"),
                        ("two_stack_pixelcnn", "conv_padding_then_crop"),
                        ("binary_positional_encoding", "most_significant_bit_first"),
                        ("pixelcnn_mask", "a_and_b_swapped"),
                        ("pixelcnn_mask", "whole_centre_row_kept"),
                        ("two_stack_pixelcnn", "shifts_on_the_wrong_axes"),
                        ("two_stack_pixelcnn", "no_link_between_stacks"),
                        ("binary_positional_encoding", "stack_without_empty_case")]:
        made[f"ex04_{name}"] = kit.with_answers(**{table: kit.variant(table, name)})
    for name in ("kron_of_a_group_mask", "groups_interleaved", "centre_row_right_part_open"):
        made[f"ex04_rgb_{name}"] = kit.with_answers(
            pixelcnn_mask_rgb=kit.variant("pixelcnn_mask_rgb", name))
    return made
