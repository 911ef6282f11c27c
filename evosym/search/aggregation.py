"""Tactics that put each read of v into the aggregation: gather it into one nest, pin its indices with
Kronecker deltas, order and factor the nest, merge the terms, name K and infer Ω."""

from __future__ import annotations

import sympy as sp

from ..proof.tree import factors, same, walk
from .failure import Stuck
from .nests import (POSITION_NAMES, innermost_sum, mul_parent, ranges_around, role_order, sum_binding,
                    value_factor)
from .omega import infer_neighbourhood


class Aggregation:
    """Mixin of :class:`~evosym.search.engine.Search`: from reads of v to the Evolution form."""

    # -- one read of v into the aggregation ------------------------------------------------
    def next_read(self):
        for r in self.reads():
            if not self.done(r):
                return r
        return None

    def done(self, r) -> bool:
        node = innermost_sum(self.d.expr, r)
        if node is None or r not in factors(node.function):
            return False
        nest = {l[0]: (l[1], l[2]) for l in node.limits}
        idx = [i for k, i in enumerate(r.indices) if k != self.batch_axis]
        if len(set(idx)) != len(idx) or set(idx) != set(nest):
            return False
        return all(same(nest[i][0], 0) and same(nest[i][1], self.shape[k] - 1)
                   for k, i in enumerate(r.indices) if k != self.batch_axis)

    def aggregate(self, r):
        if r.indices[self.batch_axis] != self.op.batch:
            raise Stuck(f"{r} is not read at the batch index {self.op.batch}")
        for _ in range(20):   # gather everything that multiplies the read into its innermost nest
            node = innermost_sum(self.d.expr, r)
            if node is None:
                break
            parent = mul_parent(self.d.expr, node)
            if parent is None:
                break
            self.apply("move-into-sum", factor=sp.Mul(*[a for a in parent.args if a is not node]), into=node.limits[0][0])
        node = innermost_sum(self.d.expr, r)
        if node is not None and r not in factors(node.function):
            raise Stuck(f"the value tensor is read as {r} inside {node.function}, not as a factor of a sum's summand")
        ranges = ranges_around(self.d.expr, r)
        r = self.split_groups(r, node, ranges)
        node = innermost_sum(self.d.expr, r)
        nest = {l[0]: (l[1], l[2]) for l in node.limits} if node is not None else {}
        targets, pins, new_index = [], {}, list(r.indices)
        seen = [i for k, i in enumerate(r.indices) if k != self.batch_axis]
        names = {self.channel_axis: "c"} | {k: POSITION_NAMES[n] if n < len(POSITION_NAMES) else f"q_{n}"
                                            for n, k in enumerate(self.position_axes)}
        taken = []
        for k, e in enumerate(r.indices):
            if k == self.batch_axis:
                continue
            length = self.shape[k]
            canonical = (e in nest and seen.count(e) == 1 and same(nest[e][0], 0) and same(nest[e][1], length - 1))
            if canonical:      # read at every position, unless a delta in the kernel pins it
                pins[k] = self.kernel_pin(e, node)
                continue
            var = self.fresh(names[k])
            while str(var) in taken:
                var = sp.Symbol(f"{var}_", integer=True)
            taken.append(str(var))
            targets.append((e, var, sp.Integer(0), length - 1))
            pins[k] = (e, dict(ranges))
            new_index[k] = var
        if targets:
            within = node.limits[0][0] if node is not None else None
            if within is None and sum(1 for t in sp.Add.make_args(self.d.expr)
                                      if any(t.has(e) for e, *_ in targets)) > 1:
                raise Stuck(f"{r} is read outside every sum while another term mentions the same indices, so no "
                            "rule can pin this read alone (write the term as a sum, e.g. over a tap u in [0, 0])")
            self.apply("introduce-delta", targets=targets, **({"within": within} if within is not None else {}))
        self.pins.append(pins)
        r = r.base[tuple(new_index)]
        keep = [i for k, i in enumerate(r.indices) if k != self.batch_axis]
        node = innermost_sum(self.d.expr, r)
        self.order_nest(node.limits[0][0], outer=role_order(r, self))
        node = innermost_sum(self.d.expr, r)
        inner = [l[0] for l in node.limits if l[0] not in keep]
        if inner:
            self.apply("factor-out", factor=r, over=inner)

    def kernel_pin(self, q, node):
        """(e, ranges) when the summand of ``node`` carries δ(q, e) with e free of q (a position the kernel
        pins, e.g. by a congruence), else None."""
        if node is None:
            return None
        for dl in factors(node.function):
            if not isinstance(dl, sp.KroneckerDelta):
                continue
            a, b = dl.args
            e = b if a == q else a if b == q else None
            if e is not None and q not in e.free_symbols:
                ranges = {l[0]: (l[1], l[2]) for n, _ in walk(self.d.expr) if isinstance(n, sp.Sum) for l in n.limits}
                return e, ranges
        return None

    def split_groups(self, r, node, ranges):
        """A channel read at g·B + c' with c' over [0, B − 1]: a sum over all channels with a group delta."""
        e = r.indices[self.channel_axis]
        if node is None or e in {l[0] for l in node.limits}:
            return r
        length = self.shape[self.channel_axis]
        for v, lo, hi in node.limits:
            if v not in e.free_symbols or not same(lo, 0):
                continue
            rest = sp.expand(e - v)
            block = hi + 1
            if v in rest.free_symbols:
                continue
            group, groups = sp.simplify(rest / block), sp.simplify(length / block)
            if not (group.is_integer and groups.is_integer) or groups.free_symbols & set(ranges):
                continue
            new = self.fresh("c")
            self.apply("split-channels-into-groups", var=v, new=new, group=group, groups=groups, block=block)
            idx = list(r.indices)
            idx[self.channel_axis] = new
            return r.base[tuple(idx)]
        return r

    def order_nest(self, var, *, outer, exact: bool = False):
        """Exchange blocks of the nest that binds ``var`` until the variables ``outer`` are outermost; with
        ``exact``, also in the order given (listed innermost first)."""
        for _ in range(60):
            node = sum_binding(self.d.expr, var)
            names = [l[0] for l in node.limits]            # innermost first
            t = [v in outer for v in names]
            k = next((k for k in range(len(names) - 1) if t[k] and not t[k + 1]), None)
            if k is not None:            # a block of aggregation variables inside a block of others: swap them
                j = k
                while j > 0 and t[j - 1]:
                    j -= 1
                m = k + 1
                while m + 1 < len(names) and not t[m + 1]:
                    m += 1
                self.apply("exchange-sums", outer=names[k + 1:m + 1], inner=names[j:k + 1])
                continue
            if not exact:
                return
            tail = [v for v in names if v in outer]
            want = [v for v in outer if v in names]
            if tail == want:
                return
            base = len(names) - len(tail)
            k = next(k for k in range(len(tail) - 1) if want.index(tail[k]) > want.index(tail[k + 1]))
            self.apply("exchange-sums", outer=[names[base + k + 1]], inner=[names[base + k]])
        raise Stuck("the sums could not be put in order")

    # -- the end -----------------------------------------------------------------------------
    def aggregations(self):
        out = []
        for t in sp.Add.make_args(self.d.expr):
            if isinstance(t, sp.Sum) and any(isinstance(f, sp.Indexed) and str(f.base.label) == self.value
                                             for f in factors(t.function)):
                out.append(t)
        return out

    def merge(self):
        aggs = self.aggregations()
        self.pins += [{}] * (len(aggs) - len(self.pins))   # terms already in the form: read at every position
        if len(aggs) != len(self.reads()):
            raise Stuck("the value tensor is still read outside the aggregations")
        while len(aggs) > 1:
            first, second = aggs[0], aggs[1]
            r1 = value_factor(first, self.value)
            for agg in (first, second):
                r = value_factor(agg, self.value)
                self.order_nest(agg.limits[0][0], outer=role_order(r, self), exact=True)
            aggs = self.aggregations()
            first, second = aggs[0], aggs[1]
            r1 = value_factor(first, self.value)
            self.apply("merge-sums", first=first.limits[0][0], second=second.limits[0][0], common=r1)
            aggs = self.aggregations()
        if not aggs:
            raise Stuck("the expression does not read the value tensor")

    def name_kernel(self):
        agg = self.aggregations()[0]
        r = value_factor(agg, self.value)
        kernel = sp.Mul(*[f for f in factors(agg.function) if f is not r])
        c = r.indices[self.channel_axis]
        q = tuple(r.indices[k] for k in self.position_axes)
        batch = (self.op.batch,) if self.op.batch in kernel.free_symbols else ()
        indices = batch + (self.op.out_channel, c) + tuple(self.op.position) + q
        taken = set(self.d.definitions) | {t.name for t in self.op.tensors} | {str(v) for v in self.op.size_symbols()}
        name = next(n for n in ("K", "K_evo", *(f"K_evo{k}" for k in range(1, 100))) if n not in taken)
        self.apply("name-kernel", name=name, channel=c, position=q, indices=indices)

    def conclude(self):
        agg = self.aggregations()[0]
        r = value_factor(agg, self.value)
        c = r.indices[self.channel_axis]
        q = tuple(r.indices[k] for k in self.position_axes)
        lengths = tuple(self.shape[k] for k in self.position_axes)
        omega = infer_neighbourhood(self.pins, self.position_axes, self.op.position, q, lengths, self.op)
        if omega is None:
            raise Stuck("the neighbourhood Ω could not be inferred from the kernel's index maps")
        self.d.conclude(omega=omega, channel=c, neighbour=q)
