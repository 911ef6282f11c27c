"""Kernel facts are derived once per proof and frozen; the lowering is one variant of a closed set,
chosen from them by one function; the property analysis renders the same text as before the facts."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import checked
from evosym import catalogue
from evosym.analysis.properties import analyse
from evosym.codegen import lowering as L
from evosym.codegen.plan import make_plan
from evosym.facts import kernel as K
from evosym.facts.kernel import KernelFacts, kernel_facts


def fresh(name):
    """A copy of the catalogue's checked proof without its memoised facts (the same proof, checked once)."""
    return dataclasses.replace(checked(name))


def _counting(monkeypatch):
    calls = []
    real = K.tap_kernel

    def counted(*args, **kw):
        calls.append(args[0].name)
        return real(*args, **kw)
    monkeypatch.setattr(K, "tap_kernel", counted)
    return calls


def test_facts_are_frozen_and_memoised_on_the_proof():
    cp = fresh("conv2d")
    facts = kernel_facts(cp)
    assert kernel_facts(cp) is facts
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.form = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.whole.static = False
    assert kernel_facts(fresh("conv2d")) is not facts   # per proof object, not per name or id


def test_the_tap_kernel_is_derived_once_per_operator(monkeypatch):
    """Code generation, the properties and the lowering choice all read the one verified K̂."""
    calls = _counting(monkeypatch)
    cp = fresh("local_attention")
    make_plan(cp)
    analyse(cp)
    make_plan(cp, force_generic=True)
    L.choose(kernel_facts(cp), padding_ok=True)
    assert calls == ["local_attention"]


def test_a_mutated_kernel_is_not_memoised_and_not_reverified(monkeypatch):
    calls = _counting(monkeypatch)
    cp = fresh("conv1d")
    op = cp.operator
    mutated = make_plan(cp, mutate_kernel=lambda k: k.xreplace({op.batch: 0}))
    assert mutated.tap_shapes == 0 and kernel_facts(cp).taps.checked_shapes == len(op.grid)
    assert calls == ["conv1d"]


@pytest.mark.parametrize("name, variant, path", [
    ("conv2d", L.NativeConv, "native-conv"),
    ("conv2d_reflect", L.NativeConv, "native-conv"),
    ("dynamic_dwconv", L.NativeConv, "native-conv-per-sample"),
    ("squeeze_excitation", L.NativeConv, "native-conv-per-sample"),
    ("linear", L.NativeLinear, "native-linear"),
    ("involution", L.Generic, "generic-window"),
    ("local_attention", L.Premix, "premix-window"),
    ("acmix_attention", L.Premix, "premix-window"),   # O = N·d output channels from C input channels
    ("mhsa", L.Sdpa, "sdpa"),
    ("mhsa_causal", L.Sdpa, "sdpa"),
    ("token_mixing", L.NativeMatmul, "native-matmul"),
    ("gcn", L.NativeMatmul, "native-matmul"),
    ("cordonnier_attention", L.TermSum, "term-sum"),
    ("dirichlet_conv", L.DivisorSlices, "divisor-slices"),
])
def test_the_variant_of_representative_operators(name, variant, path):
    plan = make_plan(checked(name))
    assert type(plan.lowering) is variant
    assert plan.path == plan.lowering.path == path
    assert plan.reason == plan.lowering.reason


def test_branches_that_share_a_channel_delta_are_one_depthwise_kernel():
    """HyperZ·Z·W's two branches each carry δ(c, o): K̂ is δ(c, o)·(local + global), built per channel (not over
    (o, c)); the factored form is the verified K̂ (its tap form is re-checked against K)."""
    for name in ("hyperzzw", "hyperzzw_code"):
        facts = kernel_facts(checked(name))
        group = facts.group(facts.taps.expr)
        assert group is not None and group[:2] == (1, 1), (name, facts.taps.expr)
        assert facts.taps.checked_shapes == len(facts.operator.grid)
        assert make_plan(checked(name)).kernel_letters.startswith("bg"), name   # per channel group, not (b, o, c)


def test_variant_details():
    reflect = make_plan(checked("conv2d_reflect"))
    assert reflect.lowering.pad_mode == "reflect" == reflect.pad_mode
    assert make_plan(checked("squeeze_excitation")).lowering.scale
    assert make_plan(checked("conv2d")).lowering.groups is not None
    assert make_plan(checked("local_attention")).attention is not None   # the kernels fuse the attention
    mhsa = make_plan(checked("mhsa")).lowering
    assert type(mhsa.inner) is L.Postmix and type(mhsa.inner.inner) is L.Premix and mhsa.inner.inner.global_omega
    assert type(make_plan(checked("dirichlet_conv")).lowering.inner) is L.Generic
    assert make_plan(checked("token_mixing")).lowering.mix is None
    assert make_plan(checked("gcn")).lowering.mix is not None


def test_force_generic_chooses_the_generic_variant():
    for name, path in (("conv2d", "generic-window"), ("dirichlet_conv", "generic-global"), ("mhsa", "generic-global")):
        plan = make_plan(checked(name), force_generic=True)
        assert type(plan.lowering) is L.Generic and plan.path == path, name


def _used(variant):
    inner = getattr(variant, "inner", None)
    return {type(variant)} | (_used(inner) if inner is not None else set())


def test_every_operator_maps_to_one_variant_of_the_closed_set():
    """choose() gives each catalogue operator exactly one variant, and the catalogue uses every variant."""
    used = set()
    for name in catalogue.catalogue_names():
        variant = make_plan(checked(name)).lowering
        assert sum(isinstance(variant, v) for v in L.VARIANTS) == 1, name
        assert variant.reason and " → " in variant.reason, name
        used |= _used(variant)
    assert used == set(L.VARIANTS)


def test_facts_refuse_a_proof_without_an_evolution_form():
    cp = dataclasses.replace(checked("conv1d"), evolution=None)
    with pytest.raises(Exception, match="no Evolution form"):
        kernel_facts(cp)
    assert isinstance(kernel_facts(checked("conv1d")), KernelFacts)


@pytest.mark.parametrize("name", ["conv1d", "token_mixing", "dirichlet_conv"])
def test_the_causal_property_reports_the_reach_of_the_facts(name):
    from evosym.printers.expr import text
    reach, why = kernel_facts(checked(name)).reach
    causal = next(p for p in analyse(checked(name)).items if p.name == "causal")
    assert f"symbolic: {why}, reach E(p) = {text(reach)}; " in causal.how
    assert kernel_facts(checked("conv2d")).reach is None   # two position axes: no time order


@pytest.mark.parametrize("name", ["conv2d", "conv2d_reflect", "local_attention", "token_mixing"])
def test_properties_render_as_before_the_facts(name):
    assert [(p.name, p.value, p.how) for p in analyse(fresh(name)).items] == BEFORE[name]


BEFORE = {   # analyse(cp) before the kernel facts existed: what evosym table / info printed
    'conv2d': [
        ('kernel', 'static',
         'symbolic: K reads no input; confirmed at 6 shapes: no value of K contains an input entry'),
        ('space', 'shared across space',
         'symbolic: K̂ is free of the output position; confirmed at 6 shapes: K̂(p, u) is the same for every p'),
        ('channels', 'grouped (contiguous blocks)',
         'symbolic: K̂ carries δ(⌊c/C_g⌋, ⌊o/O_g⌋); confirmed at 6 shapes: coupling matrix block pattern'),
        ('Ω', 'local window, |Ω| ≤ K_h·K_w',
         'symbolic: Ω is a window; confirmed at 6 shapes: supp K = Ω(p) (the support check)'),
        ('border', 'zero padding (window clipped to the input)',
         'symbolic: K reads the input at the tap position itself, Ω is clipped to the input; confirmed at 6 '
         'shapes by the support check'),
        ('causal', 'n/a (2-D positions)',
         'definition: Ω(p) ⊆ {q ≤ p} along the one position axis (index to index, both from 0); positions on 2'
         ' axes have no time order, so causality is not defined for this operator'),
    ],
    'conv2d_reflect': [
        ('kernel', 'static',
         'symbolic: K reads no input; confirmed at 3 shapes: no value of K contains an input entry'),
        ('space', 'shared across space away from the border (position-specific where the window leaves the input)',
         "symbolic: K̂ depends on i, j only through the padding's index maps: with them the identity (inside "
         'the input) K̂ is free of the output position; confirmed at 3 shapes: K̂(p, u) is the same at every p'
         ' whose window lies inside the input'),
        ('channels', 'grouped (contiguous blocks)',
         'symbolic: K̂ carries δ(⌊c/C_g⌋, ⌊o/O_g⌋); confirmed at 3 shapes: coupling matrix block pattern'),
        ('Ω', 'local window, |Ω| ≤ K_h·K_w',
         'symbolic: Ω is a window; confirmed at 3 shapes: supp K = Ω(p) (the support check)'),
        ('border', 'reflect padding (a tap outside reads its mirror image, the edge not repeated)',
         'symbolic: K reads the input at axis 0: H_in - Abs(-H_in + Abs(-P_h + i·s_h + u) + 1) - 1; axis 1: '
         'W_in - Abs(-W_in + Abs(-P_w + j·s_w + v) + 1) - 1; confirmed at 3 shapes: equal to the reflect '
         'padding map at every position in (−L, 2L − 1)'),
        ('causal', 'n/a (2-D positions)',
         'definition: Ω(p) ⊆ {q ≤ p} along the one position axis (index to index, both from 0); positions on 2'
         ' axes have no time order, so causality is not defined for this operator'),
    ],
    'local_attention': [
        ('kernel', 'dynamic, from pairs (p, q) and a local pool at p',
         'symbolic: K reads x[b, c_2, -R + i + u_1_tap, -R + j + u_2_tap], x[b, c_2, -R + i + u_2, -R + j + '
         "v_2], x[b, c_2, i, j], x[b, c_2, i, j]; confirmed at 3 shapes: the input entries in K's values are "
         'at p, q and the pooled positions of p only, of sample b only'),
        ('space', 'position-specific',
         'symbolic: K̂ depends on i, j; confirmed at 3 shapes: K̂(p, u) varies with p'),
        ('channels', 'full mixing, separable per output channel (a spatial map shared by each block of d output channels ⊗'
                    ' channel map)',
         'symbolic: no channel delta in K̂; K̂ = (W_v[o, c_2])·(A[b, ⌊o/d⌋, i, j, u_1_tap, u_2_tap]); '
         'confirmed at 3 shapes: coupling matrix full at every shape; K(o,·,·) = A_o(p,q)·B_o(c) at every '
         'sampled pair'),
        ('Ω', 'local window, |Ω| ≤ (2·R + 1)^2',
         'symbolic: Ω is a window; confirmed at 3 shapes: supp K = Ω(p) (the support check)'),
        ('border', 'zero padding (window clipped to the input)',
         'symbolic: K reads the input at the tap position itself, Ω is clipped to the input; confirmed at 3 '
         'shapes by the support check'),
        ('causal', 'n/a (2-D positions)',
         'definition: Ω(p) ⊆ {q ≤ p} along the one position axis (index to index, both from 0); positions on 2'
         ' axes have no time order, so causality is not defined for this operator'),
    ],
    'token_mixing': [
        ('kernel', 'static',
         'symbolic: K reads no input; confirmed at 3 shapes: no value of K contains an input entry'),
        ('space', 'position-specific',
         'symbolic: with q = p + t, K still reads n; confirmed at 3 shapes: K(p, p + t) varies with p'),
        ('channels', 'depthwise (output channel o reads input channel o), separable (spatial map ⊗ channel map), one '
                    'kernel shared by all channels',
         'symbolic: K̂ carries δ(c, o); the rest of K̂ reads no channel; confirmed at 3 shapes: coupling '
         'matrix one input channel per output channel; K(c, c, p, q) equal for every c at every sampled (p, '
         'q); K = A(p,q)·B(o,c) at every sampled pair'),
        ('Ω', 'global, |Ω| = N',
         'symbolic: Ω is every input position'),
        ('border', 'none (global)',
         'symbolic: Ω is global'),
        ('causal', 'only when N - 1 ≤ 0',
         'definition: Ω(p) ⊆ {q ≤ p} along the one position axis (index to index, both from 0); symbolic: Ω(p)'
         ' is every position, up to L − 1, reach E(p) = N - n - 1; confirmed at 3 shapes: max Ω(p) − p never '
         'exceeds the reach; causal at 1 of 3'),
    ],
}
