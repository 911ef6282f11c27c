"""Kernel properties decided from the symbolic Evolution kernel, each confirmed at concrete sizes.

A property is derived from the SymPy kernel (symbolically: which tensors it reads, which indices
it depends on, its delta factors) and then confirmed exactly at the operator's grid shapes with the
bounded evaluator (symbolic tensor entries): e.g. "dynamic from the centre pixel" is confirmed by
finding that every value K(b,o,c,p,q) contains input entries at position p only. The evidence
records both, so a mis-derived property cannot hide behind a label.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import sympy as sp

from ..facts.factors import channel_block, channel_factor, head_sum
from ..facts.kernel import kernel_facts
from ..facts.omega import divisor_offset
from ..facts.taps import index_maps, interior_kernel
from .border import border
from .causal import causality
from ..ir.neighbourhood import Global, Window
from .graph import graph_support
from ..ir.symbols import size_value
from ..ir.tensors import definitions_read
from ..printers.expr import text
from ..proof import poly as P
from ..proof.bounded import env_of
from ..proof.evaluate import Evaluator
from ..proof.magnitude import nonzero
from ..proof.proof import CheckedProof


@dataclass(frozen=True)
class Property:
    name: str
    value: str
    how: str          # "symbolic: …; confirmed at N shapes: …"


@dataclass(frozen=True)
class Properties:
    operator: str
    items: tuple[Property, ...] = field(default_factory=tuple)

    def get(self, name: str) -> str:
        return next(p.value for p in self.items if p.name == name)

    def _repr_latex_(self) -> str:
        from ..printers.notebook import properties_latex
        return properties_latex(self)

    def _repr_markdown_(self) -> str:
        from ..printers.notebook import properties_markdown
        return properties_markdown(self)


def analyse(cp: CheckedProof) -> Properties:
    """Every property of the checked proof's kernel (requires a checked, matching proof)."""
    facts = kernel_facts(cp)   # the tap form K̂ (for a window) is derived and verified once, with the other facts
    op, form, defs = cp.operator, cp.evolution, facts.definitions
    samples = list(_samples(op, form, defs))
    items = [_dynamic(op, form, defs, samples, facts), _shared(op, form, defs, facts),
             _channels(op, form, defs, samples, facts), _locality(form, len(op.grid), op), border(op, form, Property),
             causality(op, form, Property)]
    hop = graph_support(op, form, defs, Property)   # graph operators only: does K follow the adjacency?
    return Properties(op.name, tuple(items + ([hop] if hop is not None else [])))


def _samples(op, form, defs):
    """(env, b, o, c, p, q, K value as exact polynomial) over every grid shape (q in the support)."""
    lhs = {s: hi for s, _, hi in op.lhs_ranges()}
    for config in op.grid:
        env = env_of(config)
        kfn = Evaluator(op.shapes_at(env), defs).compile(form.kernel_body)

        def rng(hi):
            return range(size_value(hi, env) + 1)
        for b, o, c in itertools.product(rng(lhs[form.batch]), rng(lhs[form.out_channel]), rng(form.channel_hi)):
            for pt in itertools.product(*[rng(lhs[p]) for p in form.position]):
                for q in form.omega.points(pt, env):
                    local = {**env, form.batch: b, form.out_channel: o, form.channel: c}
                    local.update(zip(form.position, pt))
                    local.update(zip(form.neighbour, q))
                    yield env, b, o, c, pt, q, kfn(local)


def _input_reads(expr, inputs, defs):
    """Reads of input tensors in ``expr``, looking through defined tensors."""
    out = []
    for r in expr.atoms(sp.Indexed):
        name = str(r.base.label)
        if name in inputs:
            out.append(r)
        elif name in defs:
            out += _input_reads(defs[name].instantiate(r.indices), inputs, defs)
    return out


def _delta_partners(body, q_set) -> set:
    """Expressions e with a factor δ(e, f(q)) in ``body``: a read at e is a read at q (a reflected tap
    read at ρ(s·i + u − P) is summed against δ(q, ρ(s·i + u − P)))."""
    out = set()
    for d in body.atoms(sp.KroneckerDelta):
        a, b_ = d.args
        for one, other in ((a, b_), (b_, a)):
            if one.free_symbols & q_set and not other.free_symbols & q_set:
                out.add(other)
    return out


def _dynamic(op, form, defs, samples, facts) -> Property:
    inputs = set(facts.inputs)
    reads = _input_reads(form.kernel_body, inputs, defs)
    p_set, q_set, body = set(form.position), set(form.neighbour), form.kernel_body
    tapped = isinstance(form.omega, Window) and bool(reads)
    if tapped:   # in tap coordinates a read at q is a read at s·p + δ·u − P
        taps = facts.taps
        body, q_set = taps.expr, set(taps.taps)
        reads = _input_reads(body, inputs, defs)
    if not reads:
        confirmed = all(not input_atoms(v, inputs) for *_, v in samples)
        return Property("kernel", "static", f"symbolic: K reads no input; confirmed at {len(op.grid)} shapes: no "
                        f"value of K contains an input entry" if confirmed else "symbolic says static but an input entry "
                        "appears in K: INCONSISTENT")
    bound = {v: r for v, r in _bound_vars(body, defs).items() if v not in q_set}
    at_q = _delta_partners(body, q_set)
    kinds, local_reads, other_reads = set(), [], []
    for r in reads:
        if r.indices[0] != form.batch:   # the batch axis comes first: a read of another sample
            kinds.add("other samples of the batch")
        pos = [i for i in r.indices[1:] if not (i.free_symbols <= {form.batch} or i.is_Number)]
        syms = set().union(*[i.free_symbols for i in pos]) if pos else set()
        if tapped and syms & q_set and not syms & p_set:   # tap u reads a position set by u alone
            kinds.add("positions set by the tap, the same for every p")
            other_reads.append(r)
        elif not tapped and syms & q_set and syms & p_set:   # e.g. Z[b, c, i, m]: p's row, q's row
            kinds.add("positions set by both p and q")
            other_reads.append(r)
        elif syms & q_set or sum(i in at_q for i in pos) == len(q_set):   # at q, or where a delta ties each axis to q
            kinds.add("pairs (p, q)")
        elif syms & p_set and syms & set(bound):
            kinds.add("a local pool at p")
            local_reads.append(r)
        elif syms & bound.keys():
            kinds.add("a global pool")
        elif syms & p_set:
            kinds.add("the centre pixel")
        else:
            kinds.add("fixed positions")
    if kinds & {"pairs (p, q)", "a local pool at p"}:   # both already cover the centre pixel
        kinds.discard("the centre pixel")
    source = " and ".join(sorted(kinds, key=lambda k: (k != "pairs (p, q)", k)))
    # confirmation: which input positions do the values of K contain?
    ok, pools, coupled = True, {}, False
    per_sample = "other samples of the batch" not in kinds
    for env, b, o, c, pt, q, v in samples:
        atoms = input_atoms(v, inputs)
        if per_sample and any(a[2][0] != b for a in atoms):   # K_b may read sample b only
            ok = False
        coupled = coupled or any(a[2][0] != b for a in atoms)
        positions = {a[2][2:] for a in atoms}
        if other_reads:
            at = {**dict(zip(form.position, pt)), **dict(zip(form.neighbour, q))}
            if tapped:
                at.update(_taps_at(form, taps.taps, env, pt, q))
            reach = _pool_positions(reads, {**bound, **_bound_vars(body, defs)}, env, at)
            reach |= {tuple(pt), tuple(q)} if "pairs (p, q)" in kinds else set()
            ok = ok and positions <= reach
            continue
        if "the centre pixel" == source and not positions <= {tuple(pt)}:
            ok = False
        if "pairs (p, q)" == source and not positions <= {tuple(pt), tuple(q)}:
            ok = False
        if "a local pool at p" in source and "a global pool" not in source:
            key = (tuple(sorted(env.items(), key=lambda kv: str(kv[0]))), tuple(pt))
            if key not in pools:
                pools[key] = _pool_positions(local_reads, bound, env, dict(zip(form.position, pt)))
            if not positions <= pools[key] | ({tuple(pt), tuple(q)} if "pairs" in source else set()):
                ok = False
    confirmed = f"confirmed at {len(op.grid)} shapes: the input entries in K's values are at " + \
        {"the centre pixel": "p only", "pairs (p, q)": "p and q only",
         "a local pool at p": "the pooled positions of p only",
         "pairs (p, q) and a local pool at p": "p, q and the pooled positions of p only"}.get(
            source, "the positions the symbolic reads reach" if other_reads else "the positions the pool sums over")
    confirmed += ", of sample b only" if per_sample else ", including other samples' entries"
    ok = ok and (per_sample or coupled)   # a claimed coupling must show in some value of K
    return Property("kernel", f"dynamic, from {source}",
                    f"symbolic: K reads {', '.join(sorted(map(str, reads)))}; " + (confirmed if ok else
                                                                                  "NOT confirmed at the grid shapes"))


def _taps_at(form, taps, env, pt, q) -> dict:
    """The tap u of each window axis at which q is read from p: q = s·p + δ·u − P."""
    out = {}
    for t, a, p_, q_ in zip(taps, form.omega.axes, pt, q):
        s_, d, pad = (size_value(getattr(a, f), env) for f in ("stride", "dilation", "padding"))
        out[t] = (q_ - s_ * p_ + pad) // d
    return out


def _bound_vars(expr, defs) -> dict:
    """Summation variables and their ranges in ``expr`` and in the definitions it reads."""
    out = {}
    for e in [expr] + [d.body for d in definitions_read(expr, defs)]:
        for s in sp.preorder_traversal(e):
            if isinstance(s, sp.Sum):
                out.update({var: (lo, hi) for var, lo, hi in s.limits})
    return out


def _pool_positions(reads, bound, env, at) -> set:
    """Input positions a local-pool read covers at output position ``at`` (bound variables enumerated)."""
    out = set()
    for r in reads:
        pos = [i for i in r.indices[2:]]
        vars_ = sorted(set().union(*[i.free_symbols for i in pos]) & set(bound), key=str)
        ranges = [range(size_value(bound[v][0], env), size_value(bound[v][1], env) + 1) for v in vars_]
        for vals in itertools.product(*ranges):
            local = {**env, **at, **dict(zip(vars_, vals))}
            out.add(tuple(int(sp.sympify(i).xreplace(local)) for i in pos))
    return out


def input_atoms(v, inputs):
    if not isinstance(v, P.Poly):
        return set()
    out = set()

    def walk(key):
        for mono, _ in key:
            for a in mono:
                if a[0] == "T" and a[1] in inputs:
                    out.add(a)
                elif a[0] == "F":
                    for k in a[2]:
                        walk(k)
    walk(v.key())
    return out


def _shared(op, form, defs, facts) -> Property:
    if not isinstance(form.omega, Window):
        return _shared_global(op, form, defs)
    taps = facts.taps
    free = taps.expr.free_symbols & set(form.position)
    symbolic = not free
    maps = index_maps(form)
    interior = False   # free of p once the padding's index maps are the identity (inside the input)
    if free and maps:
        interior = not (interior_kernel(op, form, taps, maps).free_symbols & set(form.position))
    # confirm: K̂(p, u) is the same exact polynomial for every output position p
    ok, lhs = True, {s: hi for s, _, hi in op.lhs_ranges()}
    for config in op.grid:
        env = env_of(config)
        fn = Evaluator(op.shapes_at(env), defs).compile(taps.expr)
        rng = lambda hi: range(size_value(hi, env) + 1)  # noqa: E731
        for b, o, c in itertools.product(rng(lhs[form.batch]), rng(lhs[form.out_channel]), rng(form.channel_hi)):
            for u in itertools.product(*[range(size_value(a.kernel, env)) for a in form.omega.axes]):
                values = set()
                for pt in itertools.product(*[rng(lhs[p]) for p in form.position]):
                    if interior and not _inside(form, env, pt):
                        continue
                    local = {**env, form.batch: b, form.out_channel: o, form.channel: c}
                    local.update(zip(form.position, pt))
                    local.update(zip(taps.taps, u))
                    values.add(P.key_of(fn(local)))
                if len(values) > 1:
                    ok = False
    if interior:
        evidence = (f"symbolic: K̂ depends on {', '.join(map(str, sorted(free, key=str)))} only through the padding's "
                    f"index maps: with them the identity (inside the input) K̂ is free of the output position; "
                    f"confirmed at {len(op.grid)} shapes: K̂(p, u) is the same at every p whose window lies inside the input")
        if not ok:
            evidence += " — INCONSISTENT with the values at the grid shapes"
        return Property("space", "shared across space away from the border (position-specific where the window "
                                 "leaves the input)", evidence)
    value = "shared across space" if symbolic else "position-specific"
    evidence = (f"symbolic: K̂ is free of the output position; confirmed at {len(op.grid)} shapes: K̂(p, u) is the "
                f"same for every p") if symbolic else (f"symbolic: K̂ depends on {', '.join(map(str, sorted(free, key=str)))}; "
                                                     f"confirmed at {len(op.grid)} shapes: K̂(p, u) varies with p")
    if symbolic != ok:
        evidence += " — INCONSISTENT with the values at the grid shapes"
    return Property("space", value, evidence)


def _inside(form, env, pt) -> bool:
    """Every tap of the window at output position pt reads inside the input."""
    for a, p_ in zip(form.omega.axes, pt):
        k, s_, d, pad, length = (size_value(getattr(a, f), env) for f in ("kernel", "stride", "dilation", "padding", "length"))
        if s_ * p_ - pad < 0 or s_ * p_ + d * (k - 1) - pad > length - 1:
            return False
    return True


def _shared_global(op, form, defs) -> Property:
    """A global Ω has no window; K is shared across space when it depends on (p, q) only through
    q − p (a circulant or Toeplitz kernel), position-specific otherwise."""
    shifts = tuple(sp.Dummy(f"t{k}", integer=True) for k in range(len(form.neighbour)))
    moved = form.kernel_body.xreplace({q: p + t for q, p, t in zip(form.neighbour, form.position, shifts)})
    free = moved.free_symbols & set(form.position)
    symbolic = not free
    varies, lhs = False, {s_: hi for s_, _, hi in op.lhs_ranges()}
    for config in op.grid:   # confirm: K(p, q) is one exact value per shift q − p
        env = env_of(config)
        fn = Evaluator(op.shapes_at(env), defs).compile(form.kernel_body)
        rng = lambda hi: range(size_value(hi, env) + 1)  # noqa: E731
        lengths = [size_value(L, env) for L in form.omega.lengths()]
        for b, o, c in itertools.product(rng(lhs[form.batch]), rng(lhs[form.out_channel]), rng(form.channel_hi)):
            by_shift = {}
            for pt in itertools.product(*[rng(lhs[p_]) for p_ in form.position]):
                for q in itertools.product(*[range(n) for n in lengths]):
                    local = {**env, form.batch: b, form.out_channel: o, form.channel: c,
                             **dict(zip(form.position, pt)), **dict(zip(form.neighbour, q))}
                    by_shift.setdefault(tuple(qq - pp for qq, pp in zip(q, pt)), set()).add(P.key_of(fn(local)))
            varies = varies or any(len(v) > 1 for v in by_shift.values())
    value = "shared across space (K depends on q − p only)" if symbolic else "position-specific"
    evidence = (f"symbolic: with q = p + t, K is free of p; confirmed at {len(op.grid)} shapes: K(p, p + t) is the same "
                f"for every p") if symbolic else (
        f"symbolic: with q = p + t, K still reads {', '.join(map(str, sorted(free, key=str)))}; confirmed at "
        f"{len(op.grid)} shapes: K(p, p + t) varies with p")
    if symbolic == varies:
        evidence += " — INCONSISTENT with the values at the grid shapes"
    return Property("space", value, evidence)


def _channels(op, form, defs, samples, facts) -> Property:
    coupled, values = {}, {}
    for env, b, o, c, pt, q, v in samples:
        key = (tuple(sorted(env.items(), key=lambda kv: str(kv[0]))), o, c)
        coupled[key] = coupled.get(key, False) or not P.is_zero(v)
        values.setdefault((key[0], b, pt, q), {})[(o, c)] = P.key_of(v)
    shapes = {k[0] for k in coupled}
    full = all(coupled.values())
    per_o = {}
    for (shape, o, c), on in coupled.items():
        per_o.setdefault((shape, o), set())
        if on:
            per_o[(shape, o)].add(c)
    one_each = all(len(cs) == 1 for cs in per_o.values())
    taps = facts.taps if isinstance(form.omega, Window) else None
    grp = facts.channel_group
    separable = _separable(values)
    if full:
        value, sym = "full mixing", "no channel delta in K̂"
    elif grp is not None and grp[0] == 1:
        value, sym = f"depthwise (output channel o reads input channel {text(sp.floor(form.out_channel / grp[1]))})", \
            f"K̂ carries {text(sp.KroneckerDelta(form.channel, sp.floor(form.out_channel / grp[1])))}"
    elif grp is not None:
        value, sym = "grouped (contiguous blocks)", \
            f"K̂ carries {text(sp.KroneckerDelta(sp.floor(form.channel / grp[0]), sp.floor(form.out_channel / grp[1])))}"
    elif one_each:
        value, sym = "depthwise", "each output channel couples one input channel"
    else:
        value, sym = "structured", "a coupling pattern that is neither full, grouped nor depthwise"
    trivial = one_each or (grp is not None and grp[0] == 1)   # one input channel per output: rank one trivially
    per_o = None if separable or trivial or taps is None else _separable_per_output(op, form, taps, values)
    heads = None if separable or trivial or per_o is not None else _sum_of_separable(op, form, values)
    if separable:
        value += ", separable (spatial map ⊗ channel map)"
    elif per_o is not None:
        value += f", separable per output channel ({per_o[0]} ⊗ channel map)"
        sym += f"; K̂ = {per_o[1]}"
    elif heads is not None:
        value += f", a sum of {text(heads[0])} separable terms (spatial map of a block of {text(heads[1])} " \
                 "channels ⊗ channel map)"
        sym += f"; K = {heads[2]}"
    blocks = "full at every shape" if full else ("one input channel per output channel" if one_each else "block pattern")
    everyone = _shared_by_all(form, grp, values) if grp is not None else None
    shared = _shared_by_block(op, form, defs, taps, grp) if grp is not None and taps is not None and everyone is None \
        else None
    if everyone is not None:
        value += ", one kernel shared by all channels"
        sym += "; the rest of K̂ reads no channel"
        blocks += "; K(c, c, p, q) equal for every c at every sampled (p, q)" if everyone else \
            "; K(c, c, p, q) NOT equal across channels: INCONSISTENT"
    if shared is not None:
        value += f", one kernel shared by each block of {text(shared[0])} channels"
        sym += f"; the rest of K̂ reads the channel only as {text(shared[1])}"
        blocks += f"; K̂ equal within every block of {text(shared[0])} channels" if shared[2] else \
            "; K̂ NOT equal within a block: INCONSISTENT"
    return Property("channels", value, f"symbolic: {sym}; confirmed at {len(shapes)} shapes: coupling matrix {blocks}"
                    + ("; K = A(p,q)·B(o,c) at every sampled pair" if separable else "")
                    + ("; K(o,·,·) = A_o(p,q)·B_o(c) at every sampled pair" if per_o is not None else "")
                    + (f"; every sampled (r + 1)-minor of the (o, c) × (p, q) matrix vanishes, r = {text(heads[0])} "
                       "at each shape (rank ≤ r)" if heads is not None else ""))


def _shared_by_all(form, grp, values):
    """For a depthwise K̂ = δ(c, o)·rest whose rest reads no channel (average pooling, token mixing):
    whether K(c, c, p, q) is the same for every channel c at every sampled (b, p, q); else None."""
    if grp[0] != 1 or grp[1] != 1 or grp[2].free_symbols & {form.channel, form.out_channel}:
        return None
    return all(len({v for (o, c), v in vals.items() if o == c}) <= 1 for vals in values.values())


def _shared_by_block(op, form, defs, taps, grp):
    """(k, ⌊o/k⌋, confirmed) for a depthwise K̂ whose rest reads the channels only through ⌊o/k⌋ or
    ⌊c/k⌋ (one kernel per block of k channels, as involution's groups); else None."""
    o, c = form.out_channel, form.channel
    if grp[0] != 1 or grp[1] != 1:
        return None
    k = channel_block(grp[2], o, c)
    if k is None:
        return None
    # confirm: K̂(b, c, c, p, u) is the same exact value for every c of a block
    ok, lhs = True, {s_: hi for s_, _, hi in op.lhs_ranges()}
    for config in op.grid:
        env = env_of(config)
        fn = Evaluator(op.shapes_at(env), defs).compile(taps.expr)
        kv = size_value(k, env)
        rng = lambda hi: range(size_value(hi, env) + 1)  # noqa: E731
        for b in rng(lhs[form.batch]):
            for pt in itertools.product(*[rng(lhs[p_]) for p_ in form.position]):
                for u in itertools.product(*[range(size_value(a.kernel, env)) for a in form.omega.axes]):
                    seen = {}
                    for ch in rng(form.channel_hi):
                        local = {**env, form.batch: b, o: ch, c: ch, **dict(zip(form.position, pt)), **dict(zip(taps.taps, u))}
                        seen.setdefault(ch // kv, set()).add(P.key_of(fn(local)))
                    ok = ok and all(len(vals) == 1 for vals in seen.values())
    return k, sp.floor(o / k), ok


def _separable(values) -> bool:
    """K(o,c,p,q)·K(o',c',p',q') = K(o,c,p',q')·K(o',c',p,q) for all sampled pairs (rank one)."""
    for pos in _by_sample(values).values():
        chans = sorted(set().union(*[set(v) for v in pos.values()]))
        if not _rank_one(pos, chans):
            return False
    return True


def _rank_one(pos, chans) -> bool:
    """Every sampled 2×2 minor of the matrix (channel key) × (p, q) vanishes."""
    for k1, k2 in itertools.combinations(list(pos)[:12], 2):
        for a, b_ in itertools.combinations(chans[:6], 2):
            v = lambda k, ch: _from_key(pos[k].get(ch))  # noqa: E731
            if not P.is_zero(P.sub(P.mul(v(k1, a), v(k2, b_)), P.mul(v(k2, a), v(k1, b_)))):
                return False
    return True


def _separable_per_output(op, form, taps, values):
    """(what the spatial map is shared by, K̂ as factors) when K̂ = M(o, c)·S with S free of c (derived)
    and, for each output channel o, K(o, c, p, q) is rank one in c × (p, q) at every sample (confirmed)."""
    o, c = form.out_channel, form.channel
    split = channel_factor(taps.expr, c, o, op.size_symbols())
    if split is None:
        return None
    for pos in _by_sample(values).values():
        outs = sorted({oc[0] for v in pos.values() for oc in v})
        for oo in outs[:6]:
            if not _rank_one(pos, sorted({oc for v in pos.values() for oc in v if oc[0] == oo})):
                return None
    block = channel_block(split[1], o, c)
    shared = f"a spatial map shared by each block of {text(block)} output channels" if block is not None else \
        "a spatial map per output channel"
    names = op.display_names("text")
    return shared, f"({text(split[0], names)})·({text(split[1], names)})"


def _sum_of_separable(op, form, values):
    """(terms, block, K as factors) when K = Σ_{c'} P(o, c')·M(c', c)·S with S reading c' only as
    ⌊c'/k⌋ (derived: a sum of r = extent/k separable products, one per block), confirmed by the
    vanishing of sampled (r + 1)-minors of the (o, c) × (p, q) matrix at every grid shape; else None."""
    o, c = form.out_channel, form.channel
    found = head_sum(form.kernel_body, c, o, op.size_symbols())
    if found is None:
        return None
    k, terms, cp, mix_o, chan, spatial = found
    for (shape, b), pos in _by_sample(values).items():
        r = size_value(terms, dict(shape))
        chans = sorted(set().union(*[set(v) for v in pos.values()]))
        if len(chans) > r and len(pos) > r and not _rank_at_most(pos, chans, r):
            return None
    names = op.display_names("text")
    factored = f"Σ_{text(cp)} ({text(mix_o, names)})·({text(chan, names)})·({text(spatial, names)})"
    return terms, k, factored


def _rank_at_most(pos, chans, r) -> bool:
    """Every sampled (r + 1)-minor of the matrix (channel key) × (p, q) vanishes, exactly."""
    rows, cols = list(pos)[:r + 4], chans[:r + 4]
    for ks in itertools.combinations(rows, r + 1):
        for cs in itertools.combinations(cols, r + 1):
            m = [[_from_key(pos[kk].get(ch)) for ch in cs] for kk in ks]
            if not P.is_zero(P.cancel_quotients(_det(m), nonzero)):
                return False
    return True


def _det(m):
    """The determinant of a small square matrix of exact values (Laplace expansion)."""
    if len(m) == 1:
        return m[0][0]
    out = 0
    for j, a in enumerate(m[0]):
        minor = [row[:j] + row[j + 1:] for row in m[1:]]
        term = P.mul(a, _det(minor))
        out = P.add(out, term if j % 2 == 0 else P.neg(term))
    return out


def _by_sample(values):
    by_shape = {}
    for (shape, b, pt, q), vals in values.items():
        by_shape.setdefault((shape, b), {})[(pt, q)] = vals
    return by_shape


def _from_key(key):
    if key is None:
        return 0
    from fractions import Fraction
    terms = {m: Fraction(c) for m, c in key}
    return P._normal(terms)


def _locality(form, shapes, op=None) -> Property:
    om = form.omega
    if op is not None and divisor_offset(om) is not None:
        return _divisor_locality(op, form, divisor_offset(om))
    if isinstance(om, Global):
        return Property("Ω", f"global, |Ω| = {text(om.size_bound())}", "symbolic: Ω is every input position")
    if isinstance(om, Window):
        return Property("Ω", f"local window, |Ω| ≤ {text(om.size_bound())}",
                        f"symbolic: Ω is a window; confirmed at {shapes} shapes: supp K = Ω(p) (the support check)")
    return Property("Ω", f"index set, |Ω| ≤ {text(om.size_bound())}", "symbolic: Ω is an index set")


def _divisor_locality(op, form, a) -> Property:
    """Ω(p) = {q : (q + a) | (p + a)}: |Ω(p)| is the number of divisors of n = p + a, confirmed by counting Ω(p)
    at every grid shape and output position against sympy.divisor_count."""
    (p,), n = form.position, form.position[0] + a
    lhs = {s: hi for s, _, hi in op.lhs_ranges()}
    ok, count = True, 0
    for config in op.grid:
        env = env_of(config)
        for pt in range(size_value(lhs[p], env) + 1):
            count += 1
            ok = ok and len(form.omega.points((pt,), env)) == int(sp.divisor_count(pt + int(a)))
    return Property("Ω", f"divisors of {text(n)}, |Ω({text(p)})| = d({text(n)}) (the divisor count) ≤ "
                         f"{text(form.omega.size_bound())}",
                    f"symbolic: Ω is the index set {{q : (q + {text(a)}) | ({text(n)})}}; confirmed at {len(op.grid)} "
                    f"shapes: |Ω(p)| = sympy.divisor_count({text(n)}) at " + (f"all {count} output positions" if ok else
                                                                             "NOT every output position: INCONSISTENT"))
