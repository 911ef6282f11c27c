"""A shaped definition that is itself a softmax, exp(ℓ)/Σ exp(ℓ) (Cordonnier's attention maps, which K̂ reads as
a tensor), is computed by one ``torch.softmax`` with the maximum subtracted, as a softmax inside K̂ already was.

Written as on paper, exp(ℓ) overflows float32 once a logit passes ~88: Cordonnier's logits −α(‖δ − Δ‖² − ‖Δ‖²)
reach 2α, so at the α ≈ 50 the paper uses the module returned inf/NaN. A look-alike whose denominator is not the
sum of its numerator over the whole axes is left as written.
"""

from __future__ import annotations

import importlib.util

import sympy as sp
import torch

from conftest import checked
from evosym.codegen.generate import committed_dir
from evosym.facts.kernel import kernel_facts
from evosym.facts.softmax import rewrite_softmax
from evosym.ir.tensors import Definition


def _module(name):
    spec = importlib.util.spec_from_file_location(f"softmax_defs_{name}", committed_dir() / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_attention_maps_read_one_softmax():
    facts = kernel_facts(checked("cordonnier_attention"))
    assert set(facts.softmaxes) == {"softmax_logit"}
    sm = facts.softmaxes["softmax_logit"]
    assert (sm.logits, sm.first, sm.count, sm.mask) == ("logit", 4, 2, None)
    attn = facts.lowering_definitions["attn"]
    assert isinstance(attn.body, sp.Indexed) and str(attn.body.base.label) == "softmax_logit"
    assert tuple(attn.body.indices) == tuple(attn.params)
    assert facts.definitions["attn"].body.has(sp.exp)   # the proof's own definition is untouched


def test_a_denominator_over_part_of_the_keys_is_not_a_softmax():
    defs = dict(kernel_facts(checked("cordonnier_attention")).definitions)
    z = defs["Z"]
    (n2, lo, hi), rest = z.body.limits[0], z.body.limits[1:]
    defs["Z"] = Definition("Z", z.params, sp.Sum(z.body.function, (n2, lo, hi - 1), *rest), z.description, shape=z.shape)
    body, found, _ = rewrite_softmax(defs["attn"].body, defs)
    assert not found and body == defs["attn"].body


def test_the_module_is_finite_where_exp_overflows():
    module = _module("cordonnier_attention")
    torch.manual_seed(0)
    layer = module.CordonnierAttentionEvolution(C=4, O=5, R=1)   # (a 1-D first parameter: α; constructs)
    x = torch.randn(2, 4, 9, 9)
    for alpha in (4.5, 50.0, 200.0):
        with torch.no_grad():
            layer.alpha.fill_(alpha)
        y = layer(x)
        y64 = layer.double()(x.double())
        layer.float()
        assert torch.isfinite(y).all(), alpha
        assert torch.allclose(y.double(), y64, rtol=1e-4, atol=1e-4), (alpha, float((y.double() - y64).abs().max()))
