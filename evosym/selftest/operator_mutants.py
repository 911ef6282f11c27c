"""Mutants of operator definitions: wrong padding, stride origin, index order, group mapping,
flipped kernel, missing bias, wrong neighbourhood. The support and reference checks must refute
each (the steps of such a proof can all be valid: the definition itself is wrong)."""

from __future__ import annotations

import dataclasses

import sympy as sp

from .. import Derivation, Window, WindowAxis
from ..proof.reference import run_and_check_reference
from .registry import Outcome, load, mutant, outcome_of_check


def _family(dims=1, **kw):
    from ..derivations._conv import ConvFamily
    return ConvFamily(dims, **kw)


def _conv(name, fam, *, offsets=None, traditional=None, omega=None, grid=3) -> Outcome:
    from ..derivations import _conv as C
    base = load(name).operator
    if offsets is not None:
        fam.offsets = lambda: offsets(fam)
    op = C.conv_operator(fam, name=f"{name}-mutant", summary="", bias=True, grid=base.grid[:grid], description="",
                         reference_name=base.reference_name)
    if traditional is not None:
        op = dataclasses.replace(op, traditional=traditional(op, fam))
    d = Derivation(op)
    C.conv_derive(fam, d)
    p = d.proof()
    if omega is not None:
        p = dataclasses.replace(p, omega=omega(fam))
    return outcome_of_check(p.check())


def _reads(op, name):
    return [r for r in op.traditional.atoms(sp.Indexed) if str(r.base.label) == name]


@mutant("operator-definition", "conv1d read at s·i + δ·u − P + 1 (off-by-one padding)")
def off_by_one_padding():
    return _conv("conv1d", _family(), offsets=lambda f: tuple(s * p + d * u - P + 1 for s, p, d, u, P in zip(f.s, f.p, f.dil, f.u, f.P)))


@mutant("operator-definition", "conv1d read at s·(i + 1) + δ·u − P (wrong stride origin)")
def wrong_stride_origin():
    return _conv("conv1d", _family(), offsets=lambda f: tuple(s * (p + 1) + d * u - P for s, p, d, u, P in zip(f.s, f.p, f.dil, f.u, f.P)))


@mutant("operator-definition", "conv1d read at s·i + u − P (dilation ignored)")
def dilation_ignored():
    return _conv("conv1d", _family(), offsets=lambda f: tuple(s * p + u - P for s, p, u, P in zip(f.s, f.p, f.u, f.P)))


@mutant("operator-definition", "conv1d read at s·i + δ·u + P (padding sign)")
def padding_sign():
    return _conv("conv1d", _family(), offsets=lambda f: tuple(s * p + d * u + P for s, p, d, u, P in zip(f.s, f.p, f.dil, f.u, f.P)))


@mutant("operator-definition", "conv1d with the kernel flipped (K − 1 − u): a convolution, not PyTorch's cross-correlation")
def flipped_kernel():
    def trad(op, f):
        W = sp.IndexedBase("W")
        return op.traditional.xreplace({r: W[r.indices[:2] + (f.K[0] - 1 - r.indices[2],)] for r in _reads(op, "W")})
    return _conv("conv1d", _family(), traditional=trad)


@mutant("operator-definition", "conv1d weight read as W[c', o, u] (o and c swapped)")
def swapped_o_c():
    def trad(op, f):
        W = sp.IndexedBase("W")
        return op.traditional.xreplace({r: W[(r.indices[1], r.indices[0]) + tuple(r.indices[2:])] for r in _reads(op, "W")})
    return _conv("conv1d", _family(), traditional=trad, grid=6)


@mutant("operator-definition", "conv2d weight read as W[o, c', v, u] (transposed taps)")
def transposed_taps():
    def trad(op, f):
        W = sp.IndexedBase("W")
        return op.traditional.xreplace({r: W[r.indices[:2] + tuple(r.indices[2:][::-1])] for r in _reads(op, "W")})
    return _conv("conv2d", _family(2), traditional=trad, grid=2)


@mutant("operator-definition", "conv1d declares Ω with padding P + 1 (a wrong border)")
def wrong_neighbourhood():
    return _conv("conv1d", _family(), omega=lambda f: Window(tuple(WindowAxis(K, s, d, P + 1, L)
                                                                    for K, s, d, P, L in zip(f.K, f.s, f.dil, f.P, f.L))))


def _reference_mutant(name, rewrite) -> Outcome:
    op = load(name).operator
    bad = dataclasses.replace(op, traditional=rewrite(op))
    r = run_and_check_reference(bad)
    return Outcome(not r.ok, "reference" if not r.ok else "nothing", r.message)


@mutant("operator-definition", "conv1d groups as c mod G (channel c'·G + g) instead of contiguous blocks")
def groups_c_mod_G():
    f = _family()

    def rewrite(op):
        g = sp.floor(f.o / f.Og)
        return op.traditional.xreplace({r: r.base[(r.indices[0], f.cg * f.G + g) + tuple(r.indices[2:])]
                                        for r in _reads(op, "x_pad")})
    return _reference_mutant("conv1d", rewrite)


@mutant("operator-definition", "depthwise output channel o reads input channel o mod C instead of ⌊o/M⌋")
def depthwise_channel_mod():
    f = _family(2, depthwise=True)

    def rewrite(op):
        return op.traditional.xreplace({r: r.base[(r.indices[0], sp.Mod(f.o, f.G)) + tuple(r.indices[2:])]
                                        for r in _reads(op, "x_pad")})
    return _reference_mutant("depthwise_conv2d", rewrite)


@mutant("operator-definition", "linear reads W[c, o] (the transpose)")
def linear_transposed():
    def rewrite(op):
        W = sp.IndexedBase("W")
        return op.traditional.xreplace({r: W[r.indices[1], r.indices[0]] for r in _reads(op, "W")})
    return _reference_mutant("linear", rewrite)


@mutant("operator-definition", "conv1d's traditional form forgets the bias its module has")
def missing_bias():
    f = _family()
    return _reference_mutant("conv1d", lambda op: op.traditional - sp.IndexedBase("bias")[f.o])


@mutant("operator-definition", "conv1d bias indexed by the next output channel instead of o")
def bias_wrong_index():
    f = _family()

    def rewrite(op):
        bias = sp.IndexedBase("bias")
        return op.traditional.xreplace({bias[f.o]: bias[sp.Mod(f.o + 1, f.G * f.Og)]})
    return _reference_mutant("conv1d", rewrite)
