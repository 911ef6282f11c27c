"""The sizes a trial may use: the operator's declared domain, with the module sizes fixed.

A size is in the domain when every declared bound holds and the operator is defined there:

- each size within its declared range (positive, or ≥ 0 for a padding), the operator's constraints true;
- every declared tensor and every shaped definition has a positive shape (the output is not empty);
- every window axis of the proven Ω fits its input: a clamped window (NATTEN) needs the input at least
  one window span long, a tiled window that wraps around (Swin) needs the input a multiple of the tile,
  and an axis read through a reflection (ACmix, ``padding_mode='reflect'``) needs the padding, and the
  window's reach past the far border, shorter than the input (PyTorch's reflection pad: P < L).

Trials draw the runtime sizes (batch and input lengths) from that domain: the smallest inputs it
allows (the window just fits), odd and non-square ones, random ones, and larger ones (beyond 12 on
every length, one length beyond 128 — past tiles of 32, 64 and 128; beyond 64 where Ω is global —, a batch of
9 to 11, bounded in total entries so that a trial stays cheap). An operator with several inputs draws
every size of each (the sizes only a non-value input has, too; the bound counts all their entries), and its
random trials give every length one value (cross-attention's L = S), where inputs can share a shape.
"""

from __future__ import annotations

import math

import sympy as sp

from ..codegen.torchexpr import py_name
from ..errors import EvosymError
from ..ir.neighbourhood import Window
from ..ir.symbols import check_size, size_value
from ..ir.tensors import Definition

BIG = 64                 # lengths searched for the smallest valid one
LARGE_FROM = 13          # a "large" trial has every length at least this (and above the minimum)
LARGE_SPAN = 16          # … and at most this much more
LONG_FROM = 129          # … and one length (each in turn) at least this: past tiles of 32, 64 or 128
LONG_SPAN = 31
LONG_GLOBAL = 65         # … (65 where every position reads every other: the operator's cost grows with its square)
LARGE_BATCH = 9          # … and a batch of 9 to 11 (bugs past the third or eighth sample: micro-batches, a bias kept
                         # for the first chunk)
MAX_INPUT = 250_000      # entries of the input of a large trial (kept cheap)

KINDS = ("odd", "large", "minimum", "random")   # trial k uses KINDS[k] (then random and large alternate)


def _reflected_lengths(op) -> list:
    """The lengths L of every reflection L − 1 − |L − 1 − |m|| (evosym.ir.padding.reflect) the operator reads through."""
    out = []
    exprs = [op.traditional] + [d.body for d in op.definitions]
    for e in exprs:
        for node in sp.preorder_traversal(sp.sympify(e)):
            if isinstance(node, sp.Abs) and node.args[0].has(sp.Abs):
                inner = [a for a in sp.Add.make_args(node.args[0]) if a.has(sp.Abs)]
                rest = sp.expand(node.args[0] - sp.Add(*inner))
                if len(inner) == 1 and rest.free_symbols and not rest.has(sp.Abs):
                    sign = -1 if inner[0].could_extract_minus_sign() else 1    # ±(L − 1 − |m|)
                    L = sp.expand(1 + rest if sign < 0 else 1 - rest)
                    if L not in out:
                        out.append(L)
    return out


class Domain:
    """The runtime sizes (batch, lengths) allowed with the module sizes ``fixed``."""

    def __init__(self, op, omega, plan, fixed: dict):
        """``plan`` (codegen's) names the runtime sizes and the generated code's domain checks; None: the sizes
        the inputs' shapes name (every input's: a size only another input has, such as cross-attention's query
        length L, is drawn too), and the structural conditions only."""
        self.op = op
        self.fixed = dict(fixed)                    # Symbol → int (the module sizes)
        by_name = {py_name(s): s for s, _ in op.sizes}
        if plan is not None:
            self.runtime = [by_name[name] for name, _ in plan.runtime_sizes]
        else:   # without a plan: the sizes the inputs' shapes name directly, and not fixed
            named = {n for t in op.tensors if t.role == "input" or t.name == op.value for n in t.shape}
            self.runtime = [s for s, _ in op.sizes if s in named and s not in fixed]
        self.inputs = [t.name for t in op.tensors if t.role == "input"] or [op.value]
        if op.value not in self.inputs:
            self.inputs = [op.value]
        first = op.tensor(op.value).shape[0]     # the batch: the input's first axis, when it is a runtime size
        self.batch = first if first in self.runtime else None
        self.axes = list(omega.axes) if isinstance(omega, Window) else []
        self.long_from = LONG_FROM if self.axes else LONG_GLOBAL
        self.reflected = _reflected_lengths(op)
        self.shaped = [d for d in op.definitions if isinstance(d, Definition) and getattr(d, "shape", None)]
        self.plan_domain = list(getattr(plan, "domain", None) or [])

    # -- membership -------------------------------------------------------------------------------
    def why_not(self, env: dict) -> str | None:
        """None when ``env`` (Symbol → int, every size) lies in the domain, else the first reason why not."""
        try:
            for sym, value in env.items():
                check_size(sym, int(value))
            self.op.valid_shapes_at(env)
            for d in self.shaped:
                shape = tuple(size_value(n, env) for n in d.shape)
                if any(n < 1 for n in shape):
                    return f"these sizes give {d.name} the shape {shape}"
        except ValueError as exc:
            return str(exc)
        names = {py_name(s): int(v) for s, v in env.items()}
        for cond, message in self.plan_domain:    # the conditions the generated code itself checks (codegen/domain.py)
            try:
                holds = bool(eval(cond, {"min": min, "max": max, "abs": abs}, dict(names)))  # noqa: S307 - generated
            except Exception:  # noqa: BLE001 - a condition this evaluation cannot read is checked by the code itself
                continue
            if not holds:
                try:
                    return eval('f"' + message + '"', {"min": min, "max": max, "abs": abs}, dict(names))  # noqa: S307
                except Exception:  # noqa: BLE001
                    return f"the condition {cond} does not hold"
        values = {s: sp.Integer(int(v)) for s, v in env.items()}
        for c in self.op.constraints:
            if sp.sympify(c).xreplace(values) is not sp.true:
                return f"the constraint {c} does not hold"
        for a in self.axes:
            try:
                K, s, d, P, L = (size_value(getattr(a, f), env) for f in ("kernel", "stride", "dilation", "padding", "length"))
            except ValueError as exc:
                return str(exc)
            span = d * (K - 1) + 1
            if a.clamp and L < span:
                return f"the clamped window spans {span} positions, the input has {L} (needs ≥ {span})"
            if a.tiled and a.wrap and L % K:
                return f"the input length {L} is not a multiple of the tile {K}"
            if any(sp.expand(R - a.length) == 0 for R in self.reflected) and (P > L - 1 or span - 1 - P > L - 1):
                return f"the reflected window reaches {max(P, span - 1 - P)} past the border of a length-{L} input (needs < {L})"
        return None

    def ok(self, env) -> bool:
        return self.why_not(env) is None

    def env(self, runtime_values: dict) -> dict:
        return {**self.fixed, **runtime_values}

    # -- the smallest inputs ----------------------------------------------------------------------
    def minimum(self) -> dict:
        """The smallest value of each runtime size (the others large) and, when those do not fit together, the
        smallest common increase; an ``EvosymError`` naming why when no input fits (lengths up to BIG plus four
        times the largest module size are tried)."""
        lengths = [s for s in self.runtime if s is not self.batch]
        out = {}
        if self.batch is not None:
            out[self.batch] = 1
        top = BIG + 4 * max([abs(int(v)) for v in self.fixed.values()] + [0])   # room for windows as large as given
        big = {s: top for s in lengths}
        base = {**big, **out}
        reason = self.why_not(self.env(base))
        if reason is not None:
            shown = ", ".join(f"{k}={v}" for k, v in sorted((str(k), v) for k, v in self.fixed.items()))
            raise EvosymError(f"{self.op.name}: no input size lies in the operator's domain with the sizes {shown} "
                              f"({reason})")
        for s in lengths:
            for v in range(1, top + 1):
                if self.ok(self.env({**base, s: v})):
                    out[s] = v
                    break
        for extra in range(top):
            trial = {**out, **{s: out[s] + extra for s in lengths}}
            if self.ok(self.env(trial)):
                return trial
        return base

    # -- trials -------------------------------------------------------------------------------------
    def draw(self, kind: str, rng, low: dict) -> dict:
        """Runtime sizes of one trial of ``kind`` ("odd", "large", "minimum", "random"), within the domain."""
        lengths = [s for s in self.runtime if s is not self.batch]
        if kind == "minimum":
            return dict(low)
        for _attempt in range(200):
            v = {}
            if self.batch is not None:
                v[self.batch] = (2 if kind == "odd" else int(rng.integers(LARGE_BATCH, LARGE_BATCH + 3))
                                 if kind == "large" else int(rng.integers(1, 4)))
            long = lengths[int(rng.integers(0, len(lengths)))] if kind == "large" and lengths and _attempt < 100 else None
            for k, s in enumerate(lengths):
                lo = low[s]
                if kind == "odd":
                    n = max(lo, 5 + 2 * k)
                    v[s] = n + 1 - n % 2
                elif kind == "large":
                    start = max(lo + 1, self.long_from if s is long else LARGE_FROM)
                    v[s] = int(rng.integers(start, start + (LONG_SPAN if s is long else LARGE_SPAN) + 1))
                else:   # (the minimum is a trial of its own)
                    v[s] = int(rng.integers(lo + 1, lo + 11))
            if kind == "odd":
                seen = set()
                for s in lengths:       # non-square: every length different
                    while v[s] in seen:
                        v[s] += 2
                    seen.add(v[s])
            if kind == "large":
                self._bound_cost(v, lengths, low, long)
            if kind == "random" and len(self.inputs) > 1 and len(lengths) > 1 and _attempt < 100:
                top = max(v[s] for s in lengths)    # several inputs: every length equal (keys as long as queries), so
                for s in lengths:                   # that inputs of one shape can be told apart (x read as keys?)
                    v[s] = top
            if self.ok(self.env(v)):
                return v
        return dict(low)

    def _bound_cost(self, v, lengths, low, long=None):
        """Shrink a large trial until its inputs (all together) are small enough: the other lengths first (never below
        LARGE_FROM or the minimum), then the batch (not below LARGE_BATCH), the long length (not below LONG_FROM), the
        batch to 1, and last the long length to LARGE_FROM."""
        for _ in range(256):
            try:
                shapes = self.op.shapes_at(self.env(v))
                n = sum(math.prod(shapes[name]) for name in self.inputs)
            except ValueError:
                return
            if n <= MAX_INPUT:
                return
            floor = {s: max(LARGE_FROM, low[s] + 1) for s in lengths}
            others = [s for s in lengths if s is not long and v[s] > floor[s]]
            batch = v[self.batch] if self.batch is not None else 1
            if others:
                s = max(others, key=lambda t: v[t])
                v[s] -= 1
            elif batch > LARGE_BATCH:
                v[self.batch] -= 1
            elif long is not None and v[long] > max(self.long_from, floor[long]):
                v[long] -= 1
            elif batch > 1:
                v[self.batch] -= 1
            elif long is not None and v[long] > floor[long]:
                v[long] -= 1
            else:
                return


def kinds(trials: int) -> list[str]:
    """The kind of each trial: odd, large, minimum, random, then random and large alternating."""
    out = list(KINDS[:trials])
    while len(out) < trials:
        out.append("random" if len(out) % 2 else "large")
    return out
