"""The kernel context: a windowed Evolution form as C pieces, shared by the CUDA and CPU templates.

Both kernel targets aggregate with a kernel tensor that the generated PyTorch module computes from
K̂ (the same plan and the same compiled SymPy program as the generic path), in the canonical layout

    kt[b, ⌊g/share⌋, o', c', u…, p…]     y[b, g·O_g + o', p] = Σ_c' Σ_u kt[…] · x̃[b, g·C_g + c', s·p + δ·u − P]

where any axis of kt may have length 1 (broadcast, stride 0 in the kernel). Everything the
kernels compute with sizes — output lengths, the window offset q(p, u), the clamped tap range
for p, the valid output range for a tap, the inverse map p = (q − β(u))/s, the channel map — is
printed here from the proved form's SymPy expressions by :mod:`.cprint`, and is all that differs
between operators: the templates (``common/index.j2``, through ``cuda/kernels.cu.j2`` and
``cpu/kernels.cpp.j2``) print it as the sizes struct and one ``evo_axis<A>`` specialisation per
axis, plus the entry points; threads, loops and launches are written once, over any number of axes,
in the runtime's headers (``evosym/runtime/include/evosym_cpu_window.h``, ``evosym_cuda_window.h``,
``evosym_cuda_attention.h``), which every generated source includes.

A window that wraps around, is clamped inside the input or tiled reads x at start(p) + δ·u (mod L
when it wraps) instead: its axes carry start(p), the tap range it leaves inside the input, and the
inverse over output positions of :mod:`.window_maps` (the CUDA target, ``windows="any"``). The CPU
target lowers the affine, clamped and wrapping kinds (not tiled windows): a clamped or wrapping axis
carries start(p)'s affine interior [in_lo, in_hi] (:func:`.window_maps.interior`), which its kernels run
as one affine range, and the window's border positions one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .. import __version__
from ..errors import EvosymError
from ..proof.symbolic import nonnegative
from ..runtime.backends import WINDOW_KINDS   # what ``windows="any"`` lowers
from .cprint import c_index, size_names
from .plan import Plan, plan_out_channels
from .torchexpr import py_name
from .window_maps import copy_range, fits, interior, is_affine, position_range, tap_range


_KIND_TEXT = {"clamp": "clamped inside it", "wrap": "wrapping around it", "tiled": "in fixed tiles"}


@dataclass
class Axis:
    """One spatial axis as C expressions (p, u, q are the loop variables p{k}, u{k}, q{k})."""

    k: int
    length_in: str
    length_out: str
    kernel: str
    offset: str       # q(p, u)
    tap_lo: str       # first tap u with q(p, u) ≥ 0
    tap_hi: str       # last tap u with q(p, u) ≤ L_in − 1
    p_num: str        # s·p = p_num(q, u)
    stride: str
    dilation: str     # q(p, u + 1) − q(p, u)
    back_lo: str      # first tap u with 0 ≤ p_num(q, u) ≤ s·(L_out − 1), before clamping to [0, K − 1]
    back_hi: str
    p_lo: str         # first output position p with q(p, u) ≥ 0, before clamping to [0, L_out − 1]
    p_hi: str         # last output position p with q(p, u) ≤ L_in − 1, before clamping
    affine: bool = True   # start(p) = s·p − P, no wrap: the inverse runs over taps (p_num, back_lo/back_hi)
    wrap: bool = False    # q(p, u) is taken mod L_in (offset prints the wrapped position)
    start: str = ""       # start(p) (any kind of window)
    first: str = ""       # output positions p holding a tap at the unwrapped offset t: [first(t), last(t)]
    last: str = ""
    copy_lo: str = ""     # unwrapped copies t = q + m·L_in of q that a tap can reach: m in [copy_lo(q), copy_hi(q)]
    copy_hi: str = ""
    fits: str = ""        # a condition on the sizes the window needs (empty: none)
    in_lo: str = "0"      # the interior (CPU): output positions whose every tap reads q(in_lo, u) + s·(p − in_lo),
    in_hi: str = ""       # inside the input, [in_lo, in_hi] before clipping (an affine axis: every position)


def kernel_context(cp, plan: Plan, target: str = "CUDA", windows="affine") -> dict:
    """Everything a kernel template needs for ``plan`` (a windowed, channels-first Evolution form).

    ``target`` names the kernel target in errors ("CUDA", "CPU"): a form it cannot lower is refused.
    ``windows``: the kinds of window it lowers, a collection of "affine" (s·p + δ·u − P clipped to the
    input), "clamp", "wrap" and "tiled" (:mod:`.window_maps`), or "any" (every kind: the CUDA target);
    "affine" alone as a string.
    """
    op, form = cp.operator, cp.evolution
    if plan.global_omega:
        raise EvosymError(f"{op.name}: the {target} target lowers windowed neighbourhoods only (Ω is "
                          f"{'global' if form.omega.kind == 'global' else 'an index set'})")
    kinds = WINDOW_KINDS if windows == "any" else frozenset({windows} if isinstance(windows, str) else windows)
    if kinds != WINDOW_KINDS:
        for flag, what in (("tiled", "is a fixed tile"), ("clamp", "is clamped inside the input"),
                           ("wrap", "wraps around: circular padding")):
            if getattr(plan, flag) and flag not in kinds:
                more = " or ".join(_KIND_TEXT[k] for k in ("clamp", "wrap", "tiled") if k in kinds)
                raise EvosymError(f"{op.name}: the {target} target lowers windows at s·p + δ·u − P clipped to the input"
                                  f"{', ' + more if more else ''} only (Ω {what}); the PyTorch target "
                                  f"(path=\"generic\") and the CUDA target lower it")
    if [r[0] for r in plan.value_layout] != ["batch", "channel"] + ["position"] * plan.dims or \
            [r[0] for r in plan.output_layout] != ["batch", "out"] + ["position"] * plan.dims:
        raise EvosymError(f"{op.name}: the {target} target supports channels-first layouts (B, C, L…) only")
    if not 1 <= plan.dims <= 3:
        raise EvosymError(f"{op.name}: the {target} target supports 1 to 3 spatial axes, not {plan.dims}")
    names = size_names([s for s, _ in op.sizes])
    axes = []
    for k, (a, p) in enumerate(zip(form.omega.axes, form.position)):
        length_out = op.output.shape[op.lhs_indices.index(p)]
        axes.append((_affine_axis if is_affine(a) else _general_axis)(op, k, a, length_out, names, target))
    groups, og, cg, share = plan.channel_map
    return dict(plan=plan, name=op.name, ident=py_name(op.name), summary=op.summary, version=__version__,
                dims=plan.dims, axes=axes,
                sizes=[(py_name(s), meaning) for s, meaning in op.sizes],
                groups=c_index(groups, names), og=c_index(og, names), cg=c_index(cg, names),
                share=c_index(share, names), batch=c_index(op.output.shape[op.lhs_indices.index(op.batch)], names),
                kernel_text=plan.kernel_text, out_channels=c_index(plan_out_channels(op), names),
                fits=[a.fits for a in axes if a.fits])


def _symbols(k: int, names: dict):
    pv, uv, qv, tv = (sp.Symbol(f"{v}{k}", integer=True) for v in "puqt")
    return pv, uv, qv, tv, {**names, pv: f"p{k}", uv: f"u{k}", qv: f"q{k}", tv: f"t{k}"}


def _affine_axis(op, k, a, length_out, names, target) -> Axis:
    """An axis read at q = s·p + δ·u − P, clipped to the input: the inverse over taps, p = (q − δ·u + P)/s."""
    pv, uv, qv, _, local = _symbols(k, names)
    offset = sp.expand(a.offset(pv, uv))
    alpha, alpha_p = sp.expand(offset.diff(uv)), sp.expand(offset.diff(pv))
    if alpha.has(pv, uv) or alpha_p.has(pv, uv) or not nonnegative(alpha - 1) or not nonnegative(alpha_p - 1):
        raise EvosymError(f"{op.name}: the {target} target needs q = s·p + δ·u − P with s, δ provably ≥ 1 (axis {k})")
    beta = sp.expand(offset - alpha * uv)
    p_num = sp.expand(qv - (offset - alpha_p * pv))        # = α_p·p; affine in u with slope −α
    pn0 = sp.expand(p_num + alpha * uv)
    gamma = sp.expand(offset - alpha_p * pv)                # q(0, u) = δ·u − P: affine in u
    return Axis(
        k=k, length_in=c_index(a.length, names), length_out=c_index(length_out, names),
        kernel=c_index(a.kernel, names), offset=c_index(offset, local),
        tap_lo=c_index(sp.ceiling(-beta / alpha), local), tap_hi=c_index(sp.floor((a.length - 1 - beta) / alpha), local),
        p_num=c_index(p_num, local), stride=c_index(alpha_p, names), dilation=c_index(alpha, names),
        back_lo=c_index(sp.ceiling((pn0 - alpha_p * (length_out - 1)) / alpha), local),
        back_hi=c_index(sp.floor(pn0 / alpha), local),
        p_lo=c_index(sp.ceiling(-gamma / alpha_p), local),
        p_hi=c_index(sp.floor((a.length - 1 - gamma) / alpha_p), local),
        in_lo="0", in_hi=c_index(length_out - 1, names))


def _general_axis(op, k, a, length_out, names, target) -> Axis:
    """A wrapping, clamped or tiled axis: offset start(p) + δ·u (mod L_in when it wraps), taps clipped
    by start(p), the inverse over output positions (:mod:`.window_maps`)."""
    pv, uv, qv, tv, local = _symbols(k, names)
    if not (nonnegative(a.dilation - 1) and nonnegative(a.stride - 1)):
        raise EvosymError(f"{op.name}: the {target} target needs a stride and dilation provably ≥ 1 (axis {k})")
    offset = c_index(a.offset(pv, uv), local)
    lo, hi = tap_range(a, pv)
    first, last = position_range(a, tv, length_out)
    m_lo, m_hi = copy_range(a, qv, length_out)
    cond = fits(a)
    in_lo, in_hi = interior(a) if not a.tiled else (sp.Integer(0), sp.Integer(-1))   # tiled: no CPU kernels
    return Axis(
        k=k, length_in=c_index(a.length, names), length_out=c_index(length_out, names),
        kernel=c_index(a.kernel, names),
        offset=f"evo_wrap({offset}, {c_index(a.length, names)})" if a.wrap else offset,
        tap_lo=c_index(lo, local), tap_hi=c_index(hi, local), p_num="", stride=c_index(a.stride, names),
        dilation=c_index(a.dilation, names), back_lo="", back_hi="",
        # the CPU's p_lo/p_hi: every tap of every position reads the input (clamped where it fits, or wrapped)
        p_lo="" if a.tiled else "0", p_hi="" if a.tiled else c_index(length_out - 1, names),
        in_lo=c_index(in_lo, names), in_hi=c_index(in_hi, names),
        affine=False, wrap=a.wrap, start=c_index(a.start(pv), local), first=c_index(first, local),
        last=c_index(last, local), copy_lo=c_index(m_lo, local), copy_hi=c_index(m_hi, local),
        fits="" if cond is None or cond == sp.true else c_index(cond, names))
