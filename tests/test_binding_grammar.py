"""An operator file's torch_binding reaches generated code (from_torch) and the harness's eval: it is taken only as
plain data with expressions of a small grammar (evosym.ir.binding), and only through the confined child's hand-back
(evosym.isolation.handback), never by importing the file in the checking process."""

from __future__ import annotations

import json

import pytest

from evosym import catalogue
from evosym.codegen.torchexpr import py_name
from evosym.errors import OperatorFileError
from evosym.ir.binding import BindingError, check_expression, checked_binding
from evosym.isolation.handback import decode, encode

NAMES = {"m", "torch", "isinstance", "type", "len", "tuple", "int", "bool", "any", "G"}


def _names(op):
    return {py_name(s) for s, _ in op.sizes}, {t.name for t in op.tensors}


@pytest.mark.parametrize("name", [n for n in catalogue.catalogue_names() if catalogue.load(n).operator.torch_binding])
def test_every_catalogue_binding_is_in_the_grammar_and_survives_the_hand_back(name):
    op = catalogue.load(name).operator
    sizes, tensors = _names(op)
    plain = json.loads(json.dumps(encode(op)))   # what the worker writes and the parent reads
    d = decode(plain, name, {str(s): s for s, _ in op.sizes}, sizes, tensors)
    want = {k: ([list(p) for p in v] if k == "requires" else v) for k, v in op.torch_binding.items()}
    assert d["torch_binding"] == want
    assert list(d["torch_binding"]["sizes"]) == list(op.torch_binding["sizes"])   # the generated code's order
    assert d["bench"] == (dict(op.bench) if op.bench else None) and d["figure"] == (dict(op.figure) if op.figure else None)
    assert d["reference"] == (op.reference is not None) and d["torch_reference"] == (op.torch_reference is not None)


@pytest.mark.parametrize("text", [
    "__import__('os').system('id')",                 # a call of a builtin not taken
    "open('/tmp/x', 'w')",
    "eval('1')",
    "getattr(m, 'weight')",
    "m.register_forward_hook(print)",                # a method of the module
    "m.weight.copy_(m.bias)",                        # a method of a tensor (writes)
    "torch.save(m, '/tmp/x')",                       # a torch function not taken
    "torch.nn.modules.utils.os.system('id')",
    "m.__class__",                                   # dunder attributes
    "type(m).__init__.__globals__",
    "m.__dict__['weight']",
    "(lambda: 1)()",                                 # lambda, comprehensions, f-strings, walrus
    "[x for x in m.weight]",
    "any(x for x in m.weight)",
    "f'{m}'",
    "(y := m)",
    "max(m.weight, key=print)",                      # keyword and starred arguments
    "len(*m.weight)",
    "2 ** 10 ** 10",                                 # exponents of unbounded size
    "m.groups ** m.groups",
    "m.groups + 0 * ((2 ** 64) ** 64)",              # a power of a power
    "(m.groups ** 2) ** 64",
    "'x' * 2 ** 33",                                 # repetitions of text, tuples, lists
    "m.padding == 'x' * 65536",
    "(1,) * m.groups",
    "[0] * 100",
    "100000000",                                     # a whole number beyond 2**16
    "m.groups * 65536 * 65536 * -70000",
    "os.system",                                     # a name not taken
    "print",
    "m.weight; 1",                                   # not an expression
    "import os",
    "{1: 2}",                                        # a dict display
    "b'bytes'",                                      # a bytes constant
])
def test_expressions_outside_the_grammar_are_refused(text):
    with pytest.raises(BindingError, match="torch_binding's"):
        check_expression(text, NAMES, "sizes['G']")


@pytest.mark.parametrize("text", [
    "m.in_proj_weight[:m.embed_dim] if m._qkv_same_embed_dim else m.q_proj_weight",
    "torch.nn.modules.utils._pair(m.padding)[0]",
    "isinstance(G, int) and not isinstance(G, bool) and G >= 1",
    "m[3].out_channels == G * (2 * R + 1) ** 2".replace("R", "G"),
    "(m[1].weight if m[1].affine else 1) / torch.sqrt(m[1].running_var + m[1].eps)",
    "type(m[0]) is torch.nn.Conv2d and m[0].padding in ((0, 0), 'valid')",
])
def test_expressions_of_weight_loading_are_taken(text):
    assert check_expression(text, NAMES, "x") == text


GOOD = {"module": "torch.nn.Conv1d", "requires": [["m.groups == 1", "no groups"]], "sizes": {"C": "m.in_channels"},
        "tensors": {"W": "m.weight"}}


@pytest.mark.parametrize("change, match", [
    ({"module": "os.system"}, "module must name a torch class"),
    ({"module": "torch.nn.Conv1d; import os"}, "module must name a torch class"),
    ({"module": 3}, "module must name a torch class"),
    ({"call": "evil"}, "call must be one of"),
    ({"arguments": ["x=os.system('id')"]}, "NAME or NAME=None"),
    ({"arguments": ["m"]}, "NAME or NAME=None"),
    ({"arguments": ["class"]}, "NAME or NAME=None"),
    ({"requires": [["m.groups == 1", "text\x1b[2J"]]}, "control character"),
    ({"requires": [["open('x')", "text"]]}, "not taken"),
    ({"requires": [("m.groups == 1",)]}, "must be a pair"),
    ({"sizes": {"C": "m.in_channels", "Z": "1"}}, "does not have"),
    ({"sizes": {"C": "m.save()"}}, "not taken"),
    ({"tensors": {"W": "m.weight.data.fill_(0)"}}, "not taken"),
    ({"tensors": {"W; x": "m.weight"}}, "does not have"),
    ({"extra": 1}, "has no key"),
])
def test_bindings_outside_what_evosym_takes_are_refused(change, match):
    with pytest.raises(BindingError, match=match):
        checked_binding({**GOOD, **change}, {"C"}, {"W"})
    assert checked_binding(GOOD, {"C"}, {"W"})["sizes"] == {"C": "m.in_channels"}


def _data(**change):
    data = {"torch_binding": None, "bench": {"C": 4}, "figure": None, "reference": True, "torch_reference": False}
    return {**data, **change}


@pytest.mark.parametrize("data, match", [
    (_data(bench={"C": True}), "whole number"),
    (_data(bench={"C": -1}), "whole number"),
    (_data(bench={"C": "4"}), "whole number"),
    (_data(bench={"C": 1 << 40}), "whole number"),
    (_data(bench={"Z": 4}), "not a size"),
    (_data(bench=[["C", 4]]), "must map sizes"),
    (_data(reference="yes"), "another shape"),
    ({**_data(), "extra": 1}, "another shape"),
    ([], "another shape"),
    (_data(torch_binding={**GOOD, "sizes": [["C", "m.in_channels"], ["C", "1"]], "tensors": [["W", "m.weight"]]}),
     "must map names"),
    (_data(torch_binding={**GOOD, "sizes": {"C": "m.in_channels"}, "tensors": [["W", "m.weight"]]}), "must map names"),
    (_data(torch_binding={**GOOD, "sizes": [["C", "open('x')"]], "tensors": [["W", "m.weight"]]}), "not taken"),
])
def test_handed_back_data_of_another_shape_is_refused(data, match):
    import sympy as sp
    with pytest.raises(OperatorFileError, match=match):
        decode(data, "op.py", {"C": sp.Symbol("C")}, {"C"}, {"W"})
