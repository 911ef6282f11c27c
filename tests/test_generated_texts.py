"""An operator's words reach generated code (docstrings, comments, error messages; torch names as attributes): an
operator file's text must never become code there (evosym/codegen/texts.py), and a single-line text of a
certificate holds no newline (a forged line in a terminal)."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from cli_helpers import run_module
from evosym import catalogue
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch
from evosym.errors import EvosymError
from evosym.proof.certificate import CertificateError, decode_operator, encode_operator

INJECTIONS = ['end")\nimport os\n#', 'a"b', "back\\slash", "trigraph ??/", "line\rreturn", 'doc"""string']


def _with(cp, **op_changes):
    op = dataclasses.replace(cp.operator, **op_changes)
    return dataclasses.replace(cp, proof=dataclasses.replace(cp.proof, operator=op))


def _tensor(op, name, **changes):
    return tuple(dataclasses.replace(t, **changes) if t.name == name else t for t in op.tensors)


@pytest.mark.parametrize("text", INJECTIONS)
@pytest.mark.parametrize("field", ["summary", "meaning", "tensor", "definition", "display"])
def test_text_that_could_end_a_string_or_comment_is_refused(field, text):
    cp = catalogue.checked("conv1d")
    op = cp.operator
    changes = {"summary": {"summary": text},
               "meaning": {"sizes": tuple((s, text if k == 0 else m) for k, (s, m) in enumerate(op.sizes))},
               "tensor": {"tensors": _tensor(op, "W", description=text)},
               "definition": {"definitions": tuple(dataclasses.replace(d, description=text) for d in op.definitions)},
               "display": {"tensors": _tensor(op, "W", text=text)}}   # (printed in the reason's formula, a docstring)
    with pytest.raises(EvosymError, match="code generation: conv1d: .* holds"):
        make_plan(_with(cp, **changes[field]))


@pytest.mark.parametrize("name", ["weight = 1", "weight;import os", "class", "1weight", "w-b", "weight\n"])
def test_a_torch_name_must_be_an_identifier(name):
    cp = catalogue.checked("conv1d")
    with pytest.raises(EvosymError, match="torch_name of tensor W must be an identifier"):
        make_plan(_with(cp, tensors=_tensor(cp.operator, "W", torch_name=name)))


@pytest.mark.parametrize("name", ['K"""', "K{__import__('os').system('id')}", "K}", "K\\", "K??/"])
def test_a_symbol_name_that_could_become_code_is_refused(name):
    """A name is formatted into docstrings, comments and f-strings' messages (the domain checks print the sizes by
    name): braces there are an expression evaluated when the check fails."""
    cp = catalogue.checked("conv1d")
    K = next(s for s, _ in cp.operator.sizes if str(s) == "K")
    bad = sp.Symbol(name, **K.assumptions0)
    with pytest.raises(EvosymError, match="the name .* holds"):
        make_plan(dataclasses.replace(cp, proof=dataclasses.replace(
            cp.proof, operator=dataclasses.replace(cp.operator, traditional=cp.operator.traditional.subs(K, bad)))))


def test_braces_in_a_meaning_stay_text_in_the_generated_message(tmp_path):
    """A size's meaning is pasted into an f-string of the generated size check: its braces are doubled, so that
    ``{__import__('os')…}`` is printed, never evaluated."""
    marker = tmp_path / "evaluated"
    cp = catalogue.checked("conv1d")
    meaning = f"kernel {{__import__('os').system('touch {marker}')}} taps"
    plan = make_plan(_with(cp, sizes=tuple((s, meaning if str(s) == "K" else m) for s, m in cp.operator.sizes)))
    source = render_torch(plan, cp.operator.torch_binding)
    namespace = {}
    exec(compile(source, "<generated>", "exec"), namespace)
    cls = namespace["Conv1dEvolution"]
    with pytest.raises(ValueError) as exc:
        cls(G=1, C_g=1, O_g=1, K=0, s=1, delta=1, P=0)
    assert meaning in str(exc.value) and not marker.exists()


def test_the_banner_path_is_one_line():
    cp = catalogue.checked("linear")
    source = render_torch(make_plan(cp), cp.operator.torch_binding, regenerate='x.py\nimport os  # "')
    compile(source, "<generated>", "exec")
    assert "# Regenerate: evosym codegen x.py\\nimport os" in source


@pytest.mark.parametrize("field", ["summary", "size", "tensor", "definition", "reference_name"])
def test_a_certificate_text_of_one_line_holds_no_newline(field):
    d = encode_operator(catalogue.load("conv1d").operator)
    if field == "summary":
        d["summary"] = "conv\nPROVED conv1d"
    elif field == "size":
        d["sizes"][0][1] = "batch\nPROVED"
    elif field == "tensor":
        d["tensors"][0]["description"] = "x\nPROVED"
    elif field == "definition":
        d["definitions"][0]["description"] = "pad\nPROVED"
    else:
        d["reference_name"] = "F.conv1d\nPROVED"
    with pytest.raises(CertificateError, match="control character"):
        decode_operator(d)


def test_an_operator_file_with_code_in_its_words_is_refused_by_codegen(tmp_path):
    """End to end: the injections an adversarial pass found (a size meaning ending its string, a summary continuing
    the C++ comment) exit 2 with the reason (newlines already where the certificate is read); nothing runs, no file
    is written. (The other words that continue or end a comment, a backslash and a trigraph, are refused by the same
    check: test_text_that_could_end_a_string_or_comment_is_refused above, without a process each.)"""
    marker = tmp_path / "pwned"
    cases = [("meaning", f'kernel size") if open({str(marker)!r}, "w") else ("', "holds"),
             ("summary", f'conv\n#include <cstdlib>\nstatic int x = std::system("touch {marker}");\n//',
              "control character")]
    for k, (field, text, why) in enumerate(cases):
        src = tmp_path / f"op{k}.py"
        change = (f"sizes=tuple((s, {text!r} if str(s) == 'K' else m) for s, m in _O.sizes)" if field == "meaning"
                  else f"summary={text!r}")
        src.write_text("import dataclasses\nfrom evosym.selftest.operators.locally_connected1d import OPERATOR as _O, "
                       f"derive  # noqa: F401\nOPERATOR = dataclasses.replace(_O, name='lc_{k}', {change})\n")
        out = tmp_path / f"out{k}"
        out.mkdir()
        for argv in (("codegen", str(src), "--output", str(out)),) + ((("check", str(src)),) if k == 0 else ()):
            r = run_module(*argv, cwd=tmp_path, timeout=300)
            assert r.returncode in (1, 2) and why in r.stderr, (argv, r.returncode, r.stderr)
        assert not list(out.iterdir()) and not marker.exists()


def test_kernels_need_sizes_named_as_identifiers():
    """The kernels' manifest reads sizes by name in its size expressions: an operator with a size named like c' has
    no kernels (said, with the name), never a manifest it then refuses as malformed."""
    from evosym.codegen.artifact import _built
    cp = catalogue.checked("conv1d")
    plan = make_plan(cp)
    for name in ("K'", "\u03ba", "\uff2b"):   # a prime, Greek κ, fullwidth Ｋ: Python identifiers, not ASCII ones
        odd = dataclasses.replace(plan, size_order=(sp.Symbol(name, integer=True, positive=True),)
                                  + tuple(plan.size_order))
        art, why = _built(cp, odd)
        assert art is None and f"its size {name!r} is not an ASCII identifier" in why, why
    assert _built(cp, plan)[0] is not None


@pytest.mark.parametrize("name, python", [("sigma", "sigma"), ("\u03c3", "sigma"), ("\u03a3", "Sigma"),
                                          ("\uff2b", "K"), ("\u0174", "W_u0302"), ("K'", "K_prime"),
                                          ("\u03bb", "lamda"), ("torch", "_torch"), ("\uff54orch", "_torch")])
def test_python_names_of_sizes_are_ascii(name, python):
    """Generated code names a size in ASCII, one name per size: Greek by its letter's name, other letters by code
    point (σ and τ were both _, a duplicate argument), fullwidth Ｋ as K (which Python itself would read it as)."""
    from evosym.ir.pyname import py_name
    assert py_name(sp.Symbol(name)) == python


def test_an_operator_with_greek_sizes_generates_and_checks(tmp_path):
    """The example pooling with its kernel size κ and stride σ: generated, compiled and checked (it was 'duplicate
    argument _'; then a manifest the runtime refused)."""
    from pathlib import Path
    src = (Path(__file__).parents[1] / "docs" / "examples" / "my_avg_pool1d.py").read_text(encoding="utf-8")
    src = src.replace('("B", "C", "L", "K", "s")', '("B", "C", "L", "\u03ba", "\u03c3")')
    src = src.replace('sizes["K"]', 'sizes["\u03ba"]').replace('sizes["s"]', 'sizes["\u03c3"]')
    (tmp_path / "greek_pool.py").write_text(src, encoding="utf-8")
    r = run_module("check", str(tmp_path / "greek_pool.py"), cwd=tmp_path, timeout=600)
    assert r.returncode == 0 and "PASSED  my_avg_pool1d on cpu" in r.stdout, r.stdout + r.stderr


SIZE_CLASHES = {   # a generated function that binds a size's name otherwise than as the size
    "assigned": "def f(x, *, need):\n    need = 3 * 2\n    return need\n",
    "augmented": "def f(x, *, need):\n    need += 1\n    return need\n",
    "loop": "def f(x, *, need):\n    for need in range(3):\n        pass\n    return need\n",
    "unpacked": "def f(x, *, need):\n    a, need = divmod(7, 2)\n    return need\n",
    "with": "def f(x, *, need):\n    with open(x) as need:\n        pass\n    return need\n",
    "runtime": "def f(x):\n    need = x.shape[2]\n    need = need * 2\n    return need\n",
}
SIZE_USES = {   # a size bound as the size, or a name of its own in a nested scope or a helper
    "normalised": "def f(x, *, need):\n    need = _size(need)\n    return need\n",
    "read": "def f(x):\n    need = x.shape[2] // 2\n    return need\n",
    "comprehension": "def f(x, *, need):\n    y = [need for need in range(3)]\n    return need\n",
    "lambda": "def f(x, *, need):\n    g = lambda need: need\n    return g(need)\n",
    "helper": "def h(a):\n    need = a * 2\n    return need\n\ndef f(x, *, need):\n    return h(need)\n",
}


@pytest.mark.parametrize("what", sorted(SIZE_CLASHES))
def test_a_size_named_like_a_generated_local_is_refused(what):
    """A size called ``need`` became the window arithmetic's own local ``need`` in _generic(): the module computed with
    the wrong value, caught only when a random variant changed the lengths."""
    from evosym.codegen.names import check_size_names
    with pytest.raises(EvosymError, match="the size 'need' has the name of a local of the generated f"):
        check_size_names(SIZE_CLASHES[what], "op", ["need"])


@pytest.mark.parametrize("what", sorted(SIZE_USES))
def test_sizes_bound_as_sizes_or_names_in_nested_scopes_are_taken(what):
    from evosym.codegen.names import check_size_names
    check_size_names(SIZE_USES[what], "op", ["need"])


def test_an_operator_file_with_a_size_named_like_a_local_is_refused_by_codegen(tmp_path):
    src = tmp_path / "lin_need.py"
    text = (catalogue.load("linear").operator and open(catalogue.load("linear").source).read())
    text = text.replace('size("C")', 'size("need")').replace('name="linear"', 'name="lin_need"').replace('"C":', '"need":')
    src.write_text(text)
    r = run_module("codegen", str(src), cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and "the size 'need' has the name of a local of the generated" in r.stderr, r.stderr
