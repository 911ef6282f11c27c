"""The convolution theorem: circular cross-correlation computed through the DFT (1-D, channels, bias).

    X̂[b, c, k] = Σ_m x[b, c, m]·e^{−2πi·k·m/L}                      (DFT of the input)
    Ŵ[o, c, k] = Σ_u W[o, c, u]·e^{−2πi·k·(u − P)/L}                 (DFT of the kernel, zero-padded to L and
                                                                    rolled by −P: its tap P sits at 0)
    y[b, o, p] = bias[o] + 1/L · Σ_k Σ_c X̂[b, c, k]·conj(Ŵ[o, c, k])·e^{2πi·k·p/L}   (inverse DFT)

What deep learning calls convolution is a cross-correlation, so the kernel's transform is conjugated
(for a real kernel), not multiplied as in the textbook theorem (trap 1 of the spec); the roll by −P
centres the kernel so that the result is PyTorch's conv1d with padding P and padding_mode='circular'.
The proof multiplies the transforms out, sums the roots of unity over the frequencies (their
orthogonality) and solves the congruence that is left: the Evolution kernel is the circular
convolution's, K[o, c, p, m] = Σ_u W[o, c, u]·δ(m, (p + u − P) mod L). Linear (zero-padded)
convolution by FFT is the same identity on an input zero-padded to at least L + K − 1.
"""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis, index, size

from ._conv import _numpy_reference

B, C, O, L, K = size("B"), size("C"), size("O"), size("L"), size("K")
P = size("P", zero=True)
b, o, c, p, k, m, u = (index(t) for t in "b o c p k m u".split())


def _turn(t):
    """e^{2πi·t}: t full turns."""
    return sp.exp(2 * sp.pi * sp.I * t)


x = TensorDecl("x", (B, C, L), "input", "input signal (channels first)")
W = TensorDecl("W", (O, C, K), "parameter", "convolution weight (PyTorch layout), real", torch_name="weight")
bias = TensorDecl("bias", (O,), "parameter", "per-output-channel bias", latex=r"\mathrm{bias}", torch_name="bias")
y = TensorDecl("y", (B, O, L), "output", "output signal")

x_hat = Definition("x_hat", (b, c, k), sp.Sum(x[b, c, m] * _turn(-k * m / L), (m, 0, L - 1)),
                   "DFT of the input along its positions", latex=r"\hat{x}", text="x\u0302", shape=(B, C, L))
w_hat = Definition("w_hat", (o, c, k), sp.Sum(W[o, c, u] * _turn(-k * (u - P) / L), (u, 0, K - 1)),
                   "DFT of the kernel zero-padded to length L and rolled by −P (tap P at position 0)",
                   latex=r"\hat{W}", text="W\u0302", shape=(O, C, L))


def torch_reference(t, sizes):
    """torch.fft: pad the kernel to L, roll it by −P, then y = IDFT(Σ_c DFT(x)·conj(DFT(w))) + bias (real
    FFTs: the half spectrum of a real signal determines the rest)."""
    import torch
    xt, wt = t["x"], t["W"]
    n, p = xt.shape[-1], int(sizes["P"])
    w_pad = torch.zeros(wt.shape[:2] + (n,), dtype=wt.dtype)
    w_pad[..., :wt.shape[-1]] = wt
    # real signals: the half spectrum (rfft) carries everything; the channel sum is a matmul per frequency
    xf = torch.fft.rfft(xt, dim=-1).permute(2, 0, 1)                                  # (F, B, C)
    wf = torch.fft.rfft(torch.roll(w_pad, -p, -1), dim=-1).conj().permute(2, 1, 0)    # (F, C, O)
    spectrum = torch.bmm(xf, wf).permute(1, 2, 0)                                      # (B, O, F)
    return torch.fft.irfft(spectrum, n=n, dim=-1) + t["bias"][None, :, None]


OPERATOR = Operator(
    name="fourier_conv1d",
    summary="circular cross-correlation through the DFT (the convolution theorem), channels and bias",
    output=y, lhs_indices=(b, o, p),
    traditional=bias[o] + sp.Sum(x_hat[b, c, k] * sp.conjugate(w_hat[o, c, k]) * _turn(k * p / L),
                                 (c, 0, C - 1), (k, 0, L - 1)) / L,
    tensors=(x, W, bias), batch=b, out_channel=o, position=(p,), definitions=(x_hat, w_hat),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels"), (L, "signal length (the DFT size)"),
           (K, "kernel size (K ≤ L)"), (P, "circular padding: the kernel tap that sits at offset 0")),
    # the kernel is zero-padded to the DFT size L, so it has at most L taps (the reference cannot pad it otherwise);
    # P is any size ≥ 0: the roll by −P counts mod L (P and P mod L give the same operator)
    constraints=(sp.Le(K, L),),
    grid=({B: 1, C: 2, O: 1, L: 3, K: 2, P: 1},
          {B: 2, C: 1, O: 2, L: 4, K: 3, P: 1},
          {B: 1, C: 1, O: 1, L: 5, K: 5, P: 2},
          {B: 1, C: 1, O: 1, L: 6, K: 2, P: 0}),
    reference=_numpy_reference(torch_reference), reference_name="torch.fft (rfft, conj, irfft)", reference_rounds=True,
    torch_reference=torch_reference,
    bench={B: 8, C: 64, O: 64, L: 4096, K: 9, P: 4},
    figure={B: 1, C: 1, O: 1, L: 8, K: 3, P: 1},
    description="A convolution layer evaluated in the frequency domain: the input's DFT times the conjugate of the "
                "kernel's DFT, summed over input channels, transformed back. As an Evolution form it is exactly the "
                "circular convolution: a static kernel shared across space, full channel mixing, a K-tap window "
                "that wraps around the signal.",
    citation="The convolution theorem for the DFT; PyTorch conv1d(padding=P, padding_mode='circular') as the direct form",
    notes=("Cross-correlation: the kernel's DFT is conjugated (the kernel is real). The textbook convolution "
           "multiplies the DFTs without the conjugate and flips the kernel.",
           "The kernel is rolled by −P so that tap P sits at offset 0: with P = ⌊K/2⌋ this matches padding = K//2. "
           "The roll counts mod L, so any P ≥ 0 is admitted (P > L reads as P mod L, where PyTorch's circular padding "
           "refuses P > L); the kernel is zero-padded to L, so K ≤ L is declared.",
           "The reference is floating-point FFTs, so it is compared within 1e-12 relative; the traditional form itself "
           "is evaluated exactly (roots of unity in the cyclotomic field).",
           "Linear (zero-padded) convolution by FFT needs the input padded to at least L + K − 1 first.",
           "Multiply-adds are those of the formula as written (a direct inverse DFT of the product, B·O·C·L²); an FFT "
           "needs O(L·log L) per transform, the Evolution form B·O·C·K·L."),
)


def derive(d):
    d.apply("unfold-definition", name="x_hat")
    d.apply("unfold-definition", name="w_hat")
    d.apply("conjugate-real", name="W")
    # multiply the transforms out: one nest over (k, c, m, u), the frequency sum innermost
    w_sum = sp.Sum(_turn(k * (u - P) / L) * W[o, c, u], (u, 0, K - 1))
    d.apply("move-into-sum", factor=_turn(p * k / L) * w_sum, into=m)
    d.apply("move-into-sum", factor=_turn(p * k / L) * _turn(-k * m / L) * x[b, c, m], into=u)
    d.apply("move-into-sum", factor=1 / L, into=k)
    d.apply("exchange-sums", outer=[k], inner=[c, m, u])
    d.apply("factor-out", factor=x[b, c, m] * W[o, c, u] / L, over=[k])
    # Σ_k e^{2πi·k·(p + u − P − m)/L} = L·[m ≡ p + u − P (mod L)], and m ∈ [0, L − 1] pins m
    d.apply("roots-of-unity-sum", over=k)
    d.apply("congruence-to-remainder", var=m)
    d.apply("factor-out", factor=x[b, c, m], over=[u])
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, p, m))
    d.conclude(omega=Window((WindowAxis(K, 1, 1, P, L, wrap=True),)), channel=c, neighbour=(m,))
