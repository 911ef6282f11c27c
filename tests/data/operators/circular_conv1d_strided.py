"""A circular 1-D convolution with stride s and dilation δ as sizes (look-alike of conv1d_circular, which fixes them):
where δ·(K − 1) ≥ L the window overlaps itself and two taps read one position. The proof holds (it is about K over
positions); the tap kernel would count such a position once per tap, so code generation refuses it with the
constraint to declare (review finding: it used to generate code that counted them twice)."""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, index, size
from evosym.derivations._conv import MODES

B, C, O, L, K = size("B"), size("C"), size("O"), size("L_in"), size("K")
s, dl = size("s"), size("delta")
P = size("P", zero=True)
b, o, c, i, u, m = (index(t) for t in "b o c i u m".split())
L_out = sp.floor((L + 2 * P - dl * (K - 1) - 1) / s) + 1
x = TensorDecl("x", (B, C, L), "input", "input sequence")
W = TensorDecl("W", (O, C, K), "parameter", "filters")
y = TensorDecl("y", (B, O, L_out), "output", "output")
x_pad = Definition("x_pad", (b, c, m), x[b, c, MODES["circular"](m, L)], "circularly padded input", text="x\u0303")


def torch_reference(t, sizes):
    import torch.nn.functional as F
    p, st, d = (int(sizes[n]) for n in ("P", "s", "delta"))
    xp = F.pad(t["x"], (p, p), mode="circular") if p else t["x"]
    return F.conv1d(xp, t["W"], stride=st, dilation=d)


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(a).to(torch.float64) for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="circular_conv1d_strided", summary="circular conv1d with stride and dilation as sizes",
    description="look-alike of conv1d_circular: its window may overlap itself",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(W[o, c, u] * x_pad[b, c, s * i + dl * u - P], (c, 0, C - 1), (u, 0, K - 1)),
    tensors=(x, W), batch=b, out_channel=o, position=(i,), value="x", definitions=(x_pad,),
    sizes=((B, "batch"), (C, "input channels"), (O, "output channels"), (L, "length"), (K, "window"), (P, "padding"),
           (s, "stride"), (dl, "dilation")),
    grid=({B: 1, C: 2, O: 1, L: 5, K: 3, P: 1, s: 2, dl: 2}, {B: 1, C: 1, O: 2, L: 4, K: 3, P: 2, s: 2, dl: 2},
          {B: 1, C: 1, O: 2, L: 6, K: 3, P: 0, s: 1, dl: 2}),
    constraints=(sp.Le(P, L),),
    reference=reference, reference_name="F.pad(mode='circular') then F.conv1d", torch_reference=torch_reference,
    bench={B: 2, C: 8, O: 8, L: 32, K: 3, P: 1, s: 2, dl: 2},
)


def derive(d):
    d.auto()
