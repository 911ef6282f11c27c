"""Tactics that bring the value tensor's reads to the surface: unfold the value path (and discrete
Fourier transforms), split sums over additions, let softmax weights sum to one, move factors into sums."""

from __future__ import annotations

import sympy as sp

from ..ir.tensors import indicator_names
from ..proof.tree import bound_variables, factors, walk
from .failure import Stuck
from .nests import frequency_domain, is_softmax, occurrences, sum_binding
from .valuepath import opaque_kernels, value_path


class Unfolding:
    """Mixin of :class:`~evosym.search.engine.Search`: the tactics before the aggregation."""

    def transforms(self):
        """A product of discrete Fourier transforms: unfold the transforms, drop the conjugate of real
        entries, multiply everything out into one nest, and sum the roots of unity over the frequency
        (their orthogonality); the congruence left pins the input position."""
        for _ in range(20):
            names = sorted({str(r.base.label) for r in self.d.expr.atoms(sp.Indexed)
                            if str(r.base.label) in self.d.definitions
                            and frequency_domain(self.d.definitions[str(r.base.label)].body)})
            if not names:
                break
            self.unfold(names[0])
        for name in sorted({str(c.args[0].base.label) for c in self.d.expr.atoms(sp.conjugate)
                            if isinstance(c.args[0], sp.Indexed)}):
            self.apply("conjugate-real", name=name)
        self.multiply_out()
        for node, _ in walk(self.d.expr):
            if not isinstance(node, sp.Sum):
                continue
            fs = factors(node.function)
            for k, lo, hi in node.limits:
                inside = [f for f in fs if k in f.free_symbols]
                if not inside or not all(isinstance(f, sp.exp) for f in inside):
                    continue
                self.order_nest(k, outer=[l[0] for l in node.limits if l[0] != k])
                rest = [f for f in fs if k not in f.free_symbols]
                if rest:
                    self.apply("factor-out", factor=sp.Mul(*rest), over=[k])
                self.apply("roots-of-unity-sum", over=k)
                reads = [r for r in self.reads()]
                for dl in self.d.expr.atoms(sp.KroneckerDelta):
                    mods = [a for a in dl.args if isinstance(a, sp.Mod)]
                    if not mods:
                        continue
                    for r in reads:
                        pos = [r.indices[a] for a in self.position_axes]
                        hit = [q for q in pos if q in mods[0].free_symbols]
                        if hit:
                            self.apply("congruence-to-remainder", var=hit[0])
                            return
                raise Stuck("the roots of unity summed to a congruence that pins no input position")
        # no frequency to sum (e.g. only a conjugate of a real input): the usual tactics go on from here

    def multiply_out(self):
        """g·Σ f = Σ g·f wherever a sum multiplies other factors: one nest for the whole term."""
        for _ in range(50):
            for node, _ in walk(self.d.expr):
                if isinstance(node, sp.Mul):
                    sums = [a for a in node.args if isinstance(a, sp.Sum)]
                    if sums and len(node.args) > 1:
                        target = max(sums, key=lambda a: (self._reads_v(a), len(a.limits)))
                        self.apply("move-into-sum", factor=sp.Mul(*[a for a in node.args if a is not target]),
                                   into=target.limits[0][0])
                        break
            else:
                return
        raise Stuck("factors keep moving into sums")

    def unfold(self, name):
        """Unfold ``name``, first renaming bound variables of the expression that its body binds too."""
        body = self.d.definitions[name].body
        n_reads = sum(1 for r in occurrences(self.d.expr) if str(r.base.label) == name)
        if n_reads > 1 and bound_variables(body):
            raise Stuck(f"{name} is read {n_reads} times and binds variables of its own; unfolding it would "
                         "bind them twice")
        for v in sorted(set(bound_variables(body)) & set(bound_variables(self.d.expr)), key=str):
            new = self.fresh(str(v))
            self.apply("reindex-sum", var=v, new=new, expr_of_new=new)
        self.apply("unfold-definition", name=name)

    def unfold_value_path(self):
        for _ in range(200):
            self.opaque |= opaque_kernels(self.d.expr, self.value, self.d.definitions)
            names = value_path(self.d.expr, self.value, self.d.definitions, self.opaque)
            if not names:
                return
            self.unfold(names[0])
            self.gather()
        raise Stuck("more than 200 definitions on the value path were unfolded (a limit of the search)")

    def gather(self):
        """Move what multiplies a sum that reads v into it (g·Σ f = Σ g·f), outermost products first."""
        for _ in range(50):
            for node, _ in walk(self.d.expr):
                if not isinstance(node, sp.Mul):
                    continue
                sums = [a for a in node.args if isinstance(a, sp.Sum) and self._reads_v(a)]
                others = [a for a in node.args if not (isinstance(a, sp.Sum) and self._reads_v(a))]
                if len(sums) == 1 and others and not any(self._reads_v(a) for a in others):
                    self.apply("move-into-sum", factor=sp.Mul(*others), into=sums[0].limits[0][0])
                    break
            else:
                return
        raise Stuck("factors keep moving into sums")

    def split_additions(self):
        for _ in range(50):
            target = None
            for node, _ in walk(self.d.expr):
                if isinstance(node, sp.Sum):
                    adds = [f for f in factors(node.function) if isinstance(f, sp.Add)]
                    if len(adds) == 1 and len(adds[0].args) == 2 and self._reads_v(adds[0]):
                        target = node
                        break
            if target is None:
                return
            add = [f for f in factors(target.function) if isinstance(f, sp.Add)][0]
            plain = [t for t in add.args if not self._reads_v(t)]
            rename = [(l[0], self.fresh(str(l[0]))) for l in target.limits] if len(plain) == 1 else []
            renamed, fresh = [], []
            for old, _ in rename:              # fresh names distinct from each other too
                new = self.fresh(str(old))
                while str(new) in fresh:
                    new = sp.Symbol(f"{new}_", integer=True)
                fresh.append(str(new))
                renamed.append((old, new))
            self.apply("split-sum", over=target.limits[0][0], rename=renamed)
            self.gather()
        raise Stuck("sums over additions keep appearing")

    def drop_softmax_terms(self):
        """A term that does not read v but sums softmax weights over the axes they normalise: Σ A = 1."""
        indicators = indicator_names(self.d.operator.tensors)
        for term, _ in walk(self.d.expr):
            if not isinstance(term, sp.Sum) or self._reads_v(term):
                continue
            for a in factors(term.function):
                if not (isinstance(a, sp.Indexed) and is_softmax(self.d.definitions.get(str(a.base.label)),
                                                                 self.d.definitions, indicators)):
                    continue
                nest = [l[0] for l in term.limits]
                others = [f for f in factors(term.function) if f is not a]
                axes = [v for v in nest if v in a.free_symbols and not any(v in f.free_symbols for f in others)]
                if not axes:
                    continue
                try:
                    self.order_nest(term.limits[0][0], outer=[v for v in nest if v not in axes])
                    node = sum_binding(self.d.expr, axes[0])
                    inner = [l[0] for l in node.limits][:len(axes)]
                    if others:
                        self.apply("factor-out", factor=sp.Mul(*others), over=inner)
                    self.apply("softmax-sums-to-one", name=str(a.base.label), over=inner)
                except Stuck:
                    continue
                return self.drop_softmax_terms()
