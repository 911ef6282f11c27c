"""Mistakes in how an operator file declares its operator are refused before any proof runs.

A grid shape that omits a size, a tensor length that is not an integer expression of the sizes (L/2, 1.0*L, a
symbol that is not a size), ``lhs_indices`` with one entry too few or too many, a ``position`` index that is not an
output index, and a size listed twice in ``sizes=``: each used to end deep inside the proof search as "the proof
search failed (…); this is evosym's fault, not the file's" (a mislabelled internal error), and the last was accepted
silently. Each is now one ``evosym: error:`` line (exit 2) naming the mistake and how to fix it, from
:func:`evosym.ir.operator.declaration_problems`, which :mod:`evosym.catalogue` applies to every operator it loads.
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from evosym import Definition, Derivation, Operator, TensorDecl, Window, WindowAxis, catalogue, index, size
from evosym.ir.operator import declaration_problems
from evosym.proof.premises import GRID, NAME
from cli_helpers import one_line_error, run_cli

B, C, L, K = size("B"), size("C"), size("L"), size("K")
b, o, i, u = (index(s) for s in "b o i u".split())
GRID1 = ({B: 1, C: 2, L: 5, K: 2}, {B: 2, C: 1, L: 7, K: 3})

# an operator file that proves (y = x / K, left to the proof search); each test replaces one piece of it
FILE = '''\
from evosym import Operator, TensorDecl, index, size
B, C, L, K = (size(n) for n in ("B", "C", "L", "K"))
b, o, i, u = (index(n) for n in ("b", "o", "i", "u"))
Z = size("Z")
x = TensorDecl("x", (B, C, L), "input", "input signal")
y = TensorDecl("y", (B, C, L), "output", "out")
OPERATOR = Operator(
    name="declared", summary="test", output=y, lhs_indices=(b, o, i),
    traditional=x[b, o, i] / K,
    tensors=(x,), batch=b, out_channel=o, position=(i,),
    sizes=((B, "batch size"), (C, "channels"), (L, "input length"), (K, "k")),
    grid=({B: 1, C: 2, L: 5, K: 2}, {B: 2, C: 1, L: 7, K: 3}),
)
'''


def _op(*, x_shape=(B, C, L), lhs=(b, o, i), position=(i,), sizes=(B, C, L, K), grid=GRID1) -> Operator:
    """The operator of FILE built directly, with one piece replaced."""
    x = TensorDecl("x", x_shape, "input")
    return Operator(name="declared", summary="", output=TensorDecl("y", (B, C, L), "output"), lhs_indices=lhs,
                    traditional=sp.IndexedBase("x")[b, o, i] / K, tensors=(x,), batch=b, out_channel=o,
                    position=position, sizes=tuple((s, "") for s in sizes), grid=grid)


def _refused(capsys, tmp_path, old: str, new: str, *words: str, command: str = "prove") -> str:
    """FILE with ``old`` replaced by ``new`` is refused by ``evosym COMMAND`` as one line naming every word, before
    any proof runs (never as the proof search's internal error)."""
    assert FILE.count(old) == 1, old
    path = tmp_path / "declared.py"
    path.write_text(FILE.replace(old, new), encoding="utf-8")
    argv = ("prove", str(path)) if command == "prove" else ("codegen", str(path), "--output", str(tmp_path))
    line = one_line_error(*run_cli(capsys, *argv))
    assert "declared.py" in line and "evosym's fault" not in line and "proof search failed" not in line, line
    for w in words:
        assert w in line, (w, line)
    return line


def test_the_file_unchanged_proves(capsys, tmp_path):
    """The baseline the variants below break."""
    path = tmp_path / "declared.py"
    path.write_text(FILE, encoding="utf-8")
    rc, out, err = run_cli(capsys, "prove", str(path), "--summary")
    assert rc == 0 and out.startswith("PROVED  declared"), (rc, out, err)
    assert declaration_problems(_op()) == []


# -- 1. the grid gives a value to each size and to nothing else ------------------------------------------

def test_a_grid_shape_that_omits_a_size_is_refused(capsys, tmp_path):
    _refused(capsys, tmp_path, "{B: 1, C: 2, L: 5, K: 2}", "{C: 2, L: 5, K: 2}",
             "grid shape 1 gives no value to the size B", "every grid shape gives a value to each size (B, C, L, K)")
    [why] = declaration_problems(_op(grid=(GRID1[0], {B: 2, C: 1, L: 7})))
    assert why.startswith("grid shape 2 gives no value to the size K"), why


def test_a_grid_shape_that_omits_a_size_fails_the_premises_too():
    """A proof checked without loading a file (a certificate, the library) is not refused on loading: its premises
    name the missing size, and nothing is evaluated (an evaluation would fail on a shape that is not an integer)."""
    c, q = index("c"), index("q")
    d = Derivation(_op(grid=({C: 2, L: 5, K: 2},)))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))
    cp = d.proof().check(reference=False)
    assert not cp.ok and cp.shapes == ()
    [res] = [r for r in cp.checks if r.name == NAME]
    assert not res.ok and GRID in res.message and "grid shape 1 gives no value to the size B" in res.message, res.message


def test_a_grid_shape_with_a_name_that_is_not_a_size_is_refused(capsys, tmp_path):
    _refused(capsys, tmp_path, "{B: 1, C: 2, L: 5, K: 2}", "{B: 1, C: 2, L: 5, K: 2, u: 1}",
             "grid shape 1 gives a value to u, which is not a size", "add a size to sizes= first")


# -- 2. every length is an integer expression of the sizes -----------------------------------------------

@pytest.mark.parametrize("length, words", [
    ("L/2", ("has the length L/2", "not an integer at every value of the sizes", "floor(L/2)")),
    ("1.0*L", ("has the length 1.0*L", "a float", "write it with integers")),
    ("2.0", ("has the length 2.0", "a float")),
    ("Z", ("has the length Z", "Z is not a size", "sizes=")),
    ("L - Z", ("has the length L - Z", "Z is not a size")),
])
def test_a_length_that_is_not_an_integer_expression_of_the_sizes_is_refused(capsys, tmp_path, length, words):
    _refused(capsys, tmp_path, 'TensorDecl("x", (B, C, L)', f'TensorDecl("x", (B, C, {length})',
             "axis 3 of the tensor x", *words)


def test_integer_expressions_of_the_sizes_are_lengths():
    for length in (L - K + 1, 2 * L, sp.floor(L / 2), sp.Integer(1), 3, L * K):
        assert declaration_problems(_op(x_shape=(B, C, length))) == [], length


# -- 3. and 4. the output indices ------------------------------------------------------------------------

@pytest.mark.parametrize("lhs, words", [
    ("(b, o)", ("lhs_indices=(b, o) has 2 entries but the output y has 3 axes (B, C, L)",
                "give one output index per axis")),
    ("(b, o, i, u)", ("lhs_indices=(b, o, i, u) has 4 entries but the output y has 3 axes",)),
])
def test_lhs_indices_with_another_number_of_entries_than_the_output_axes_are_refused(capsys, tmp_path, lhs, words):
    _refused(capsys, tmp_path, "lhs_indices=(b, o, i)", f"lhs_indices={lhs}", *words)


def test_a_position_that_is_not_an_output_index_is_refused(capsys, tmp_path):
    line = _refused(capsys, tmp_path, "position=(i,)", "position=(u,)",
                    "position=(u,) names u, which is not an output index (lhs_indices=(b, o, i))")
    assert "is not in list" not in line
    assert any("out_channel=u is not an output index" in w
               for w in declaration_problems(dataclasses.replace(_op(), out_channel=u)))


# -- 5. each size listed once ----------------------------------------------------------------------------

def test_a_size_listed_twice_is_refused(capsys, tmp_path):
    _refused(capsys, tmp_path, '(K, "k")),', '(K, "k"), (K, "k again")),',
             "the size K is listed 2 times in sizes=", "list each size once")
    # two symbols named K (one declared with zero=True): the first problem named is the name listed twice
    why = declaration_problems(_op(sizes=(B, C, L, K, size("K", zero=True))))[0]
    assert "the size K is listed 2 times in sizes= (as symbols with different assumptions)" in why, why


# -- 6. sums bind variables of their own --------------------------------------------------------------------

@pytest.mark.parametrize("traditional, words", [
    ("sp.Sum(x[b, o, i], (i, 0, L - 1)) / K",   # an output index: "P − u is not an integer" from the search before
     ("the traditional form sums over i, which is an output index (lhs_indices=(b, o, i))",)),
    ("sp.Sum(x[b, o, i], (o, 0, C - 1)) / K", ("the traditional form sums over o, which is an output index",)),
    ("sp.Sum(x[b, o, i] / K, (K, 1, 2))", ("the traditional form sums over K, which is a size",)),
    ("sp.Sum(x[b, o, i] / K, (u, 0, 0), (L, 1, 1))", ("the traditional form sums over L, which is a size",)),
])
def test_a_sum_over_an_output_index_or_a_size_is_refused(capsys, tmp_path, traditional, words):
    _refused(capsys, tmp_path, "traditional=x[b, o, i] / K,", f"traditional=__import__('sympy').{traditional[3:]},",
             *words, "give the sum a variable of its own")


@pytest.mark.parametrize("body, words", [
    # the definition's own index rebound: "unfold-definition: … Invalid limits given" from inside the search before
    ("sp.Sum(x[b, o, m], (m, 0, L - 1))", ("the body of t[b, o, m] sums over m, which is its own parameter",)),
    ("sp.Sum(sp.Sum(x[b, o, m], (u, 0, 0)), (b, 0, 0))", ("the body of t[b, o, m] sums over b, which is its own parameter",)),
    ("sp.Sum(x[b, o, m], (K, 0, 1))", ("the body of t[b, o, m] sums over K, which is a size",)),
])
def test_a_definition_summing_over_its_own_index_or_a_size_is_refused(capsys, tmp_path, body, words):
    new = ("traditional=t[b, o, i] / K, definitions=(t,),")
    header = ("import sympy as sp\nfrom evosym import Definition\nm = index('m')\n"
              f"t = Definition('t', (b, o, m), {body}, 'a definition')\n")
    assert FILE.count("OPERATOR = Operator(") == 1
    path = tmp_path / "declared.py"
    path.write_text(FILE.replace("OPERATOR = Operator(", header + "OPERATOR = Operator(")
                    .replace("traditional=x[b, o, i] / K,", new), encoding="utf-8")
    line = one_line_error(*run_cli(capsys, "prove", str(path)))
    assert "declared.py" in line and "Invalid limits" not in line and "proof search" not in line, line
    for w in (*words, "give the sum a variable of its own"):
        assert w in line, (w, line)


@pytest.mark.parametrize("traditional, words", [
    ("x[b, o, i] * __import__('sympy').Symbol('w') / K", ("the traditional form reads w, which is neither an output index "
                                                          "(lhs_indices=(b, o, i)) nor a size",)),
    ("x[b, o, i] / K + x[b, o, u] * Z", ("the traditional form reads Z, u, which are neither an output index",)),
])
def test_a_variable_that_is_neither_an_output_index_nor_a_size_is_refused(capsys, tmp_path, traditional, words):
    """(a free w: "FAILED … proof failed: declared" with the reason in the full report only, or deep in the search)"""
    _refused(capsys, tmp_path, "traditional=x[b, o, i] / K,", f"traditional={traditional},", *words,
             "declare it in sizes=, or sum over it")


@pytest.mark.parametrize("params, body, words", [
    # a number for a parameter: "−m is not an integer" from inside the search before
    ("(b, o, 2)", "x[b, o, m]", ("the definition t[b, o, 2] has 2 as a parameter",
                                 "its parameters are index variables")),
    ("(b, o, m)", "x[b, o, m + u]", ("the body of t[b, o, m] reads u, which is neither its own parameter nor a size",)),
])
def test_a_definition_that_is_no_function_of_its_parameters_is_refused(capsys, tmp_path, params, body, words):
    header = (f"import sympy as sp\nfrom evosym import Definition\nm = index('m')\nt = Definition('t', {params}, {body}, "
              "'a definition')\n")
    path = tmp_path / "declared.py"
    path.write_text(FILE.replace("OPERATOR = Operator(", header + "OPERATOR = Operator(")
                    .replace("traditional=x[b, o, i] / K,", "traditional=t[b, o, i] / K, definitions=(t,),"),
                    encoding="utf-8")
    line = one_line_error(*run_cli(capsys, "prove", str(path)))
    assert "declared.py" in line and "proof search" not in line, line
    for w in words:
        assert w in line, (w, line)


@pytest.mark.parametrize("traditional, words", [
    ("0", "traditional= is the number 0"), ("1.5", "traditional= is the number 1.5"), ("'x'", "traditional= is a str"),
    ("None", "traditional= is None"), ("(x[b, o, i],)", "traditional= is a tuple"),
    ("K + 1", "traditional= is an expression that reads no tensor (K + 1)"),
])
def test_a_traditional_form_that_is_no_expression_of_reads_is_refused(capsys, tmp_path, traditional, words):
    """(an int: "the proof search failed (AttributeError …); this is evosym's fault" before; an adversarial pass)"""
    _refused(capsys, tmp_path, "traditional=x[b, o, i] / K,", f"traditional={traditional},", words,
             "not the right-hand side y[…] = … as a SymPy expression of the tensors' reads")


def test_sums_with_variables_of_their_own_are_fine():
    """The rule is about what a sum binds, not about the names: a definition summing over another variable, and a
    traditional form summing over one that is neither an output index nor a size, are declared well."""
    m = index("m")
    t = Definition("t", (b, o, m), sp.Sum(sp.IndexedBase("x")[b, o, u], (u, 0, L - 1)), "")
    op = dataclasses.replace(_op(), traditional=sp.Sum(t[b, o, u], (u, 0, K - 1)), definitions=(t,))
    assert declaration_problems(op) == []


# -- everywhere a file is loaded, and never a catalogue operator -----------------------------------------

def test_codegen_refuses_the_same_way(capsys, tmp_path):
    _refused(capsys, tmp_path, "{B: 1, C: 2, L: 5, K: 2}", "{C: 2, L: 5, K: 2}",
             "grid shape 1 gives no value to the size B", command="codegen")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["declared.py"]   # nothing written


def test_no_catalogue_operator_breaks_a_declaration_rule():
    for m in catalogue.load_all():
        assert declaration_problems(m.operator) == [], m.name
