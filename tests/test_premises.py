"""The premises every proof rests on (evosym/proof/premises.py) and the evaluator's matching guarantees.

Each test tries several ways to break one premise and requires that the proof is refused with a
message naming the premise, the symbol and the value:

1. bound variables, output indices and definition parameters are integers typed by their range;
2. the grid lies in the sizes' declared domains (and the domain is printed);
3. definitions and expressions are closed, and definition bodies are evaluated in a lexical scope;
4. a definition is not read outside its declared shape (except where its body vanishes);
6. rules oblige every shift, block and period they need to be an integer;
9. a sum whose range runs backwards (hi < lo − 1) is ill-formed, not empty;
12. every tensor and definition has its own name (rules read a declaration, and its premise, by name).
"""

from __future__ import annotations

import pytest
import sympy as sp

from evosym import Definition, Derivation, InRange, Operator, TensorDecl, Window, WindowAxis, index, size
from evosym.errors import IllFormedAccess
from evosym.printers import render
from evosym.proof.certificate import certificate, derivation, dumps, loads, verify
from evosym.proof.evaluate import Evaluator
from evosym.proof.premises import BINDERS, CLOSED, GRID, NAME, NAMES, SIZES

B, C, L, K = size("B"), size("C"), size("L"), size("K")
P = size("P", zero=True)
b, o, i, c, q, u, v, m = (index(s) for s in "b o i c q u v m".split())
GRID1 = ({B: 1, C: 2, L: 3, K: 2, P: 1}, {B: 2, C: 1, L: 4, K: 3, P: 0})


def _op(traditional, *, definitions=(), grid=GRID1, sizes=(B, C, L, K, P), lhs=(b, o, i), out_shape=(B, C, L),
        constraints=(), tensors=None):
    x = TensorDecl("x", (B, C, L), "input")
    W = TensorDecl("W", (C, K), "parameter")
    return Operator(name="toy", summary="", output=TensorDecl("y", out_shape, "output"), lhs_indices=lhs,
                    traditional=traditional, tensors=tensors or (x, W), batch=lhs[0], out_channel=lhs[1],
                    position=lhs[2:], definitions=tuple(definitions), sizes=tuple((s, "") for s in sizes),
                    grid=tuple(grid), constraints=tuple(constraints))


X, Wt = sp.IndexedBase("x"), sp.IndexedBase("W")


def _x_pad(params=(b, c, q), shape=None):
    pb, pc, pq = params
    return Definition("x_pad", params, InRange(pq, 0, L - 1) * X[pb, pc, pq], shape=shape)


def _check(d, *, omega=None, channel=c, neighbour=(q,), **kw):
    d.conclude(omega=omega or Window((WindowAxis(1, 1, 1, 0, L),)), channel=channel, neighbour=neighbour)
    return d.proof().check(reference=False, **kw)


def _refused(cp, premise: str, *words: str) -> str:
    """The proof fails, its premises check names ``premise``, and its message every word in ``words``."""
    assert not cp.ok
    [res] = [r for r in cp.checks if r.name == NAME]
    assert not res.ok, res.message
    assert premise in res.message, res.message
    for w in words:
        assert w in res.message, (w, res.message)
    assert "\nPROVED." not in render(cp, "text")
    return res.message


def _identity_derivation(op, target=i, var=q):
    """Σ_q δ(q, target)·x[b, o, q] and the kernel named: a complete derivation of y = x (or a shift of it)."""
    d = Derivation(op)
    d.apply("unfold-definition", name="x_pad")
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (target, var, 0, L - 1)])
    d.apply("name-kernel", name="Kn", channel=c, position=(var,), indices=(o, c, i, var))
    return d


# -- 1. binders ----------------------------------------------------------------------------------

def test_a_valid_toy_proof_proves():
    """The baseline the variants below break: y = x through the zero-padded input proves, all general."""
    cp = _check(_identity_derivation(_op(_x_pad()[b, o, i], definitions=[_x_pad()])))
    assert cp.ok, cp.failures()
    assert all(s.check.general for s in cp.steps)
    [res] = [r for r in cp.checks if r.name == NAME]
    assert res.ok and "grid shapes lie in the sizes' domains" in res.message


def test_binders_with_assumptions_their_range_does_not_imply_are_refused():
    xp = _x_pad()
    # (a) a positive fresh variable in introduce-delta: δ(m, −P) is folded to 0 at construction, and without the
    # premise both steps replay and compare equal on a grid without P = 0 (labelled general, false at P = 0)
    pos = sp.Symbol("m", integer=True, positive=True)
    op = _op(xp[b, o, -P], definitions=[xp], grid=({B: 1, C: 2, L: 3, K: 1, P: 1}, {B: 1, C: 1, L: 2, K: 1, P: 2}))
    d = Derivation(op)
    d.apply("unfold-definition", name="x_pad")
    d.apply("introduce-delta", targets=[(-P, pos, 0, L - 1)])
    assert d.expr == sp.Sum(0, (pos, 0, L - 1))        # SymPy folded the delta away
    cp = _check(d, neighbour=(pos,))
    _refused(cp, BINDERS, "summation variable m", "positive=True", "[0, L - 1]")
    assert not cp.steps[1].check.ok and "premise failed" in cp.steps[1].check.message
    assert cp.steps[0].check.general   # the step before it, whose expressions are sound, keeps its label

    # (b) a nonnegative variable whose range starts at −1
    nn = sp.Symbol("u", integer=True, nonnegative=True)
    cp = _check(Derivation(_op(sp.Sum(xp[b, o, i + nn], (nn, -1, 1)), definitions=[xp])))
    _refused(cp, BINDERS, "summation variable u", "nonnegative=True", "[-1, 1]")

    # (c) odd=True: never implied by a range
    odd = sp.Symbol("u", integer=True, odd=True)
    cp = _check(Derivation(_op(sp.Sum(Wt[o, odd] * xp[b, o, i], (odd, 0, K - 1)), definitions=[xp])))
    _refused(cp, BINDERS, "summation variable u", "odd=True")

    # (d) a positive bound variable in the traditional form, though its range starts at 0
    cpos = sp.Symbol("c", integer=True, positive=True)
    cp = _check(Derivation(_op(sp.Sum(xp[b, cpos, i], (cpos, 0, C - 1)), definitions=[xp])))
    _refused(cp, BINDERS, "summation variable c", "positive=True", "[0, C - 1]")

    # (e) a positive definition parameter (x_pad declares no shape)
    mp = sp.Symbol("q", integer=True, positive=True)
    xp_pos = _x_pad((b, c, mp))
    cp = _check(_identity_derivation(_op(xp_pos[b, o, i], definitions=[xp_pos])))
    _refused(cp, BINDERS, "parameter q of x_pad", "positive=True")

    # (f) an output index declared positive (its range starts at 0)
    ipos = sp.Symbol("i", integer=True, positive=True)
    cp = _check(Derivation(_op(xp[b, o, ipos], definitions=[xp], lhs=(b, o, ipos))))
    _refused(cp, BINDERS, "output index i", "positive=True")

    # (g) a fresh variable of reindex-sum that is not an integer at all
    real = sp.Symbol("w", real=True)
    d = Derivation(_op(sp.Sum(Wt[o, u] * xp[b, o, i], (u, 0, K - 1)), definitions=[xp]))
    d.apply("reindex-sum", var=u, new=real, expr_of_new=real + 1)
    _refused(_check(d), BINDERS, "summation variable w", "not declared integer")


def test_binder_assumptions_that_the_range_implies_are_allowed():
    """nonnegative over [0, …] and positive over [1, …] are what the range says: the premise holds."""
    nn = sp.Symbol("u", integer=True, nonnegative=True)
    pos = sp.Symbol("u", integer=True, positive=True)
    xp = _x_pad()
    for var, lo in ((nn, 0), (pos, 1)):
        op = _op(sp.Sum(Wt[o, var - lo] * xp[b, o, i], (var, lo, K - 1 + lo)), definitions=[xp])
        cp = _check(Derivation(op))
        [res] = [r for r in cp.checks if r.name == NAME]
        assert res.ok, res.message
    # a shaped definition may have nonnegative parameters (its reads are checked to lie in the shape)
    qn = sp.Symbol("q", integer=True, nonnegative=True)
    shaped = Definition("x_pad", (b, c, qn), X[b, c, qn], shape=(B, C, L))
    cp = _check(_identity_derivation(_op(shaped[b, o, i], definitions=[shaped])))
    assert cp.ok, cp.failures()


# -- 2. sizes and the grid -----------------------------------------------------------------------

def _grid_refused(grid, *words, sizes=(B, C, L, K, P), constraints=()):
    xp = _x_pad()
    op = _op(xp[b, o, i], definitions=[xp], grid=grid, sizes=sizes, constraints=constraints)
    cp = _check(_identity_derivation(op))
    msg = _refused(cp, GRID, *words)
    assert cp.shapes == () and all(not s.check.ok for s in cp.steps)   # nothing was evaluated
    return msg


def test_grid_values_must_lie_in_the_sizes_domains():
    # (a) a size declared positive at 0
    _grid_refused(({B: 1, C: 0, L: 3, K: 1, P: 0},), "size C the value 0", "positive=True", "C ≥ 1")
    # (b) a grid key that is a bound variable (it would leak into the evaluation)
    _grid_refused(({B: 1, C: 2, L: 3, K: 1, P: 0, q: 1},), "gives q = 1", "not a declared size")
    # (c) a negative padding (declared ≥ 0)
    _grid_refused(({B: 1, C: 2, L: 3, K: 1, P: -1},), "size P the value -1", "nonnegative=True", "P ≥ 0")
    # (d) a symbol that is not a size
    Z = size("Z")
    _grid_refused(({B: 1, C: 2, L: 3, K: 1, P: 0, Z: 2},), "gives Z = 2", "not a declared size")
    # (e) a value that is not an integer, and one that breaks a further assumption of its size (prime)
    _grid_refused(({B: 1, C: 2, L: 2.5, K: 1, P: 0},), "size L the value 2.5", "not an integer")
    E = sp.Symbol("E", integer=True, prime=True)
    _grid_refused(({B: 1, C: 2, L: 3, K: 1, P: 0, E: 4},), "size E the value 4", "prime=True",
                  sizes=(B, C, L, K, P, E))
    # (f) a shape that violates the operator's constraints
    _grid_refused(({B: 1, C: 2, L: 3, K: 1, P: 5},), "violates the constraint", constraints=(sp.Le(P, L - 1),))


def test_sizes_must_be_integer_symbols():
    Lr = sp.Symbol("L", positive=True)
    x = TensorDecl("x", (B, C, Lr), "input")
    xp = Definition("x_pad", (b, c, q), InRange(q, 0, Lr - 1) * X[b, c, q])
    op = _op(xp[b, o, i], definitions=[xp], sizes=(B, C, Lr), out_shape=(B, C, Lr), tensors=(x,),
             grid=({B: 1, C: 1, Lr: 2},))
    cp = _check(Derivation(op), omega=Window((WindowAxis(1, 1, 1, 0, Lr),)))
    _refused(cp, SIZES, "the size L is not an integer symbol", "positive=True")


@pytest.mark.parametrize("assumptions", [dict(zero=True), dict(nonzero=True), dict(nonnegative=True, nonpositive=True),
                                         dict(zero=True, even=True), dict(nonzero=True, even=True)])
def test_sizes_must_have_a_domain_the_proof_states(assumptions):
    """A size's assumptions act in every rule and bounded check, so they must be a domain the proof prints
    ("P ≥ 0 (even)"): P declared zero printed as "P ≥ 0" while SymPy proved −P ≥ 0 (an inclusion marked ✓ that is
    false for every P ≥ 1); nonzero printed as no restriction at all."""
    Q = sp.Symbol("Q", integer=True, **assumptions)
    xp = _x_pad()
    op = _op(xp[b, o, i], definitions=[xp], sizes=(B, C, L, K, P, Q), grid=tuple({**g, Q: 0} for g in GRID1))
    cp = _check(_identity_derivation(op))
    _refused(cp, SIZES, "the size Q is declared", "a domain the proof does not state")


def _with_size_q(assumptions):
    """The identity proof checked with one more size Q declared with ``assumptions``, valued in its domain."""
    Q = sp.Symbol("Q", integer=True, **assumptions)
    value = next(v for v in range(-7, 8) if all(getattr(sp.Integer(v), "is_" + a) == w
                                                for a, w in Q.assumptions0.items()))
    xp = _x_pad()
    op = _op(xp[b, o, i], definitions=[xp], sizes=(B, C, L, K, P, Q), grid=tuple({**g, Q: value} for g in GRID1))
    return _check(_identity_derivation(op))


@pytest.mark.parametrize("assumptions", [dict(positive=True, even=True), dict(even=True, positive=True), dict(odd=True),
                                         dict(negative=True, odd=True), dict(nonnegative=True, even=True),
                                         dict(prime=True, odd=True)])
def test_a_size_declared_even_or_odd_is_refused_with_the_reason(assumptions):
    """SymPy's assumptions conclude from parity what is false ((R/6).is_integer is True for an even R): a softmax
    limit whose peak R/6 is no key at R = 2 printed PROVED (an adversarial pass). Parity is refused, naming itself."""
    _refused(_with_size_q(assumptions), SIZES, "the size Q is declared", "does not reason with even= or odd=",
             "2·Q_half")


@pytest.mark.parametrize("assumptions", [dict(positive=True, composite=True), dict(prime=True), dict(negative=True),
                                         dict(nonpositive=True), dict(composite=True), dict()])
def test_sizes_with_a_stated_domain_are_allowed(assumptions):
    cp = _with_size_q(assumptions)
    assert cp.ok, cp.failures()


@pytest.mark.parametrize("value", ["1.9", "True", "2.0", "numpy.float64(2)", "'2'", "None"])
def test_an_operator_file_grid_value_that_is_not_an_integer_is_refused(tmp_path, capsys, value):
    """Encoded in the operator file's process, a grid value was int()-ed (1.9 became 1, True 1) before the premises
    could see it: the proof then checked a grid the file never declared, and printed it as declared."""
    from cli_helpers import one_line_error, run_cli
    path = tmp_path / "bad_grid.py"
    path.write_text(
        "import numpy\n"
        "from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size\n"
        "B, C, L = size('B'), size('C'), size('L')\n"
        "b, o, i, c, q = (index(s) for s in 'b o i c q'.split())\n"
        "x = TensorDecl('x', (B, C, L), 'input')\n"
        "xp = Definition('x_pad', (b, c, q), InRange(q, 0, L - 1) * x[b, c, q])\n"
        "OPERATOR = Operator(name='bad_grid', summary='y = x', output=TensorDecl('y', (B, C, L), 'output'),\n"
        "    lhs_indices=(b, o, i), traditional=xp[b, o, i], tensors=(x,), batch=b, out_channel=o, position=(i,),\n"
        f"    definitions=(xp,), sizes=((B, ''), (C, ''), (L, '')), grid=({{B: 1, C: 1, L: 2}}, {{B: {value}, C: 1, L: 2}}))\n"
        "def derive(d):\n"
        "    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))\n")
    rc, out, err = run_cli(capsys, "prove", str(path))
    line = one_line_error(rc, out, err)
    assert "grid shape 2 gives the size B the value" in line and "which is not an integer" in line, line


def test_every_proof_states_the_sizes_domain():
    xp = _x_pad()
    cp = _check(_identity_derivation(_op(xp[b, o, i], definitions=[xp])))
    assert "Sizes: B, C, L, K ≥ 1; P ≥ 0 (integers)" in render(cp, "text")
    assert r"$B, C, L, K \ge 1$; $P \ge 0$ (integers)" in render(cp, "markdown")
    assert r"$B, C, L, K \ge 1$; $P \ge 0$ (integers)" in render(cp, "latex")
    # further assumptions of a size are stated (and the grid is held to them)
    E = sp.Symbol("E", integer=True, positive=True, composite=True)
    op = _op(xp[b, o, i], definitions=[xp], sizes=(B, C, L, K, P, E),
             grid=tuple({**g, E: 4} for g in GRID1))
    cp = _check(_identity_derivation(op))
    assert cp.ok, cp.failures()
    assert "Sizes: B, C, L, K ≥ 1; P ≥ 0; E ≥ 1 (composite) (integers)" in render(cp, "text")


def test_prove_refuses_a_grid_outside_the_domain_from_the_command_line(tmp_path, capsys):
    from cli_helpers import run_cli
    path = tmp_path / "zero_size.py"
    path.write_text(
        "from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size\n"
        "B, C, L = size('B'), size('C'), size('L')\n"
        "b, o, i, c, q = (index(s) for s in 'b o i c q'.split())\n"
        "x = TensorDecl('x', (B, C, L), 'input')\n"
        "xp = Definition('x_pad', (b, c, q), InRange(q, 0, L - 1) * x[b, c, q])\n"
        "OPERATOR = Operator(name='zero_size', summary='y = x', output=TensorDecl('y', (B, C, L), 'output'),\n"
        "    lhs_indices=(b, o, i), traditional=xp[b, o, i], tensors=(x,), batch=b, out_channel=o, position=(i,),\n"
        "    definitions=(xp,), sizes=((B, ''), (C, ''), (L, '')), grid=({B: 1, C: 1, L: 2}, {B: 0, C: 1, L: 2}))\n"
        "def derive(d):\n"
        "    d.apply('unfold-definition', name='x_pad')\n"
        "    d.apply('introduce-delta', targets=[(o, c, 0, C - 1), (i, q, 0, L - 1)])\n"
        "    d.apply('name-kernel', name='K', channel=c, position=(q,), indices=(o, c, i, q))\n"
        "    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))\n")
    rc, out, err = run_cli(capsys, "prove", str(path))
    assert rc in (1, 2), (rc, out[-800:], err)
    assert "Traceback" not in out + err
    text = " ".join((out + err).split())   # the printer wraps long lines
    assert GRID in text and "size B the value 0" in text
    assert "\nPROVED." not in out


# -- 3. closed definitions -----------------------------------------------------------------------

def test_definitions_and_expressions_must_be_closed():
    z = index("z")
    # (a) a body that reads a symbol bound nowhere
    open_def = Definition("x_pad", (b, c, q), InRange(q, 0, L - 1) * X[b, c, q] * z)
    cp = _check(_identity_derivation(_op(open_def[b, o, i], definitions=[open_def])))
    _refused(cp, CLOSED, "the body of x_pad[b, c, q] reads z")

    # (b) a body that reads its caller's loop variable u: factor-out sees D[b, o, i] free of u and moves it out
    D = Definition("D", (b, c, q), X[b, c, q] * Wt[c, u])
    op = _op(sp.Sum(Wt[o, u] * D[b, o, i], (u, 0, K - 1)), definitions=[D])
    d = Derivation(op)
    d.apply("factor-out", factor=D[b, o, i], over=[u])
    assert d.steps[0].obligations[0].proved   # the rule is fooled: it reads only the free symbols of the read
    cp = _check(d)
    _refused(cp, CLOSED, "the body of D[b, c, q] reads u")
    assert not any(s.check.general for s in cp.steps)   # an operator's definition underlies every step

    # (c) name-kernel fooled the same way: the kernel reads a definition whose body mentions the neighbour q
    G = Definition("G", (o, c), Wt[c, q])   # q is bound by the aggregation, not a parameter of G
    xp = _x_pad()
    op = _op(xp[b, o, i] * G[o, o], definitions=[xp, G])
    d = _identity_derivation(op)
    assert all(ob.proved for s in d.steps for ob in s.obligations if "kernel" in ob.text)
    _refused(_check(d), CLOSED, "the body of G[o, c] reads q")

    # (d) a traditional form that mentions an unbound variable
    cp = _check(_identity_derivation(_op(xp[b, o, i] * Wt[o, z], definitions=[xp])))
    _refused(cp, CLOSED, "z is free but neither an output index nor a size", "traditional form")


@pytest.mark.parametrize("body, var", [
    (sp.Sum(Wt[c, 0], (c, 0, C - 1)), c),                          # the whole body
    (Wt[o, 0] + sp.Sum(Wt[0, 0] * o, (o, 0, 1)), o),                # one term
    (sp.Sum(sp.Sum(Wt[c, u], (u, 0, K - 1)), (o, 0, 0)), o),        # nested, under a sum of its own
])
def test_a_definition_whose_sum_binds_its_own_parameter_is_refused(body, var):
    """A body summing over its own parameter hides it (the read's argument substituted for it leaves a sum over a
    number: "Invalid limits" from deep inside the checker, or the parameter silently unused). An operator file is
    refused at load (tests/test_operator_declaration_errors.py); an operator built in process, or decoded from a
    hand-made certificate, by the premise, with the parameter named."""
    G = Definition("G", (o, c), body)
    xp = _x_pad()
    cp = _check(_identity_derivation(_op(xp[b, o, i] * G[o, o], definitions=[xp, G])))
    words = f"in the body of G, a sum binds {var}, which is its own parameter"
    _refused(cp, BINDERS, words)
    v = verify(loads(dumps(certificate(cp, derivation(cp.proof)))))
    assert not v.ok and any(words in r.message for r in v.checked.checks if r.name == NAME)


@pytest.mark.parametrize("where", ["traditional", "body", "limits", "bound"])
def test_a_sum_hiding_an_enclosing_sum_s_variable_is_refused(where):
    """Σ_u (… Σ_u …): the evaluator reads the inner u, a rule substituting the outer u rewrites both; it was refused
    only after a step had run (the replay's "binds u twice"), never in the traditional form or a definition's body.
    Sums side by side over one name stay allowed (the first proof below)."""
    inner = sp.Sum(Wt[0, u] ** 2, (u, 0, K - 1))
    factor = {"traditional": sp.Sum(Wt[0, u] * inner, (u, 0, K - 1)),
              "body": sp.IndexedBase("G")[0], "limits": sp.Sum(Wt[0, u] * Wt[0, v], (u, 0, K - 1), (v, 0, 0), (u, 0, 0)),
              "bound": sp.Sum(Wt[0, u] * sp.Sum(Wt[0, 0], (v, 0, sp.Sum(u, (u, 0, 1)))), (u, 0, K - 1))}[where]
    G = Definition("G", (o,), sp.Sum(Wt[0, u] * inner, (u, 0, K - 1)))
    xp = _x_pad()
    sibling = _check(_identity_derivation(_op(xp[b, o, i] * (sp.Sum(Wt[0, u], (u, 0, K - 1)) + inner),
                                              definitions=[xp])))
    assert not any(r.name == NAME and not r.ok for r in sibling.checks), render(sibling, "text")
    cp = _check(_identity_derivation(_op(xp[b, o, i] * factor, definitions=[xp] + [G] * (where == "body"))))
    words = "a sum over u inside a sum over u hides the outer u"
    _refused(cp, BINDERS, words)
    v_ = verify(loads(dumps(certificate(cp, derivation(cp.proof)))))
    assert not v_.ok and any(words in r.message for r in v_.checked.checks if r.name == NAME)


def test_definition_bodies_are_evaluated_in_a_lexical_scope():
    """The evaluator never lets a body see the reader's loop variables (with or without the size list)."""
    D = Definition("D", (q,), X[0, 0, u] * q)          # u: not a parameter, not a size
    V = Definition("V", (q,), u)
    for sizes in ((L,), None):
        ev = Evaluator({"x": (1, 1, 3)}, {"D": D, "V": V}, sizes=sizes)
        with pytest.raises(IllFormedAccess, match="index 2 of x mentions u, which no sum binds here"):
            ev.evaluate(sp.Sum(D[u], (u, 0, 2)), {L: 3})
        # as a value, u stays an unknown: not the reader's 0 + 1 + 2
        assert ev.evaluate(sp.Sum(V[1], (u, 0, 2)), {L: 3}) != 3
    # the sizes are visible, the parameters bound by the read
    E = Definition("E", (q,), X[0, 0, q] * L)
    ev = Evaluator({"x": (1, 1, 3)}, {"E": E}, sizes=(L,))
    assert ev.evaluate(sp.Sum(E[u], (u, 0, 2)), {L: 3}) == Evaluator({"x": (1, 1, 3)}).evaluate(
        sp.Sum(3 * X[0, 0, u], (u, 0, 2)), {})
    # a loop variable with the same name as a parameter does not leak either: the read binds it
    F = Definition("F", (u,), X[0, 0, u])
    ev = Evaluator({"x": (1, 1, 3)}, {"F": F}, sizes=(L,))
    assert ev.evaluate(sp.Sum(F[2 - u], (u, 0, 2)), {L: 3}) == ev.evaluate(sp.Sum(X[0, 0, u], (u, 0, 2)), {})


# -- 4. declared shapes --------------------------------------------------------------------------

def test_reads_outside_a_declared_shape_are_ill_formed():
    ev_shapes = {"x": (1, 1, 3)}
    D = Definition("D", (q,), 2 * X[0, 0, q], shape=(L,))
    # (a) one past the end
    with pytest.raises(IllFormedAccess, match=r"read of D\[3\]: index 0 = 3 is outside \[0, 3\)"):
        Evaluator(ev_shapes, {"D": D}, sizes=(L,)).evaluate(sp.Sum(D[u + 1], (u, 0, 2)), {L: 3})
    # (b) a shape declared smaller than where the definition is read
    small = Definition("D", (q,), 2 * X[0, 0, q], shape=(L - 1,))
    with pytest.raises(IllFormedAccess, match=r"outside \[0, 2\).*declared shape of the definition D is \(2,\)"):
        Evaluator(ev_shapes, {"D": small}, sizes=(L,)).evaluate(sp.Sum(small[u], (u, 0, 2)), {L: 3})
    # (c) the second index of two, below 0
    D2 = Definition("D2", (c, q), X[0, c, q], shape=(1, L))
    with pytest.raises(IllFormedAccess, match=r"index 1 = -1 is outside \[0, 3\)"):
        Evaluator(ev_shapes, {"D2": D2}, sizes=(L,)).evaluate(D2[0, -1], {L: 3})
    # (d) where the body vanishes (a zero-padded projection read in its padding) the read is 0 …
    Zp = Definition("Zp", (q,), InRange(q, 0, L - 1) * X[0, 0, q], shape=(L,))
    assert Evaluator(ev_shapes, {"Zp": Zp}, sizes=(L,)).evaluate(Zp[-1], {L: 3}) == 0
    # … but not when a parameter carries an assumption (its body may have been folded for indices inside only)
    qn = sp.Symbol("q", integer=True, nonnegative=True)
    Zn = Definition("Zn", (qn,), InRange(qn, 0, L - 1) * X[0, 0, qn], shape=(L,))
    with pytest.raises(IllFormedAccess, match="parameters carry assumptions"):
        Evaluator(ev_shapes, {"Zn": Zn}, sizes=(L,)).evaluate(Zn[-1], {L: 3})


def test_a_proof_reading_a_definition_outside_its_shape_fails():
    small = Definition("x_pad", (b, c, q), X[b, c, q], shape=(B, C, L - 1))   # declared one short
    cp = _check(_identity_derivation(_op(small[b, o, i], definitions=[small])))
    assert not cp.ok
    first = next(s for s in cp.steps if not s.check.ok)
    assert "outside [0," in first.check.counterexample.detail and "declared shape of the definition x_pad" in \
        first.check.counterexample.detail


# -- 6. integrality obligations --------------------------------------------------------------------

def _obligation(step, words):
    return next(o for o in step.obligations if all(w in str(o) for w in words))


def test_rules_oblige_shifts_blocks_and_periods_to_be_integers():
    xp = _x_pad()
    base = _op(sp.Sum(Wt[o, u] * xp[b, o, i], (u, 0, K - 1)), definitions=[xp],
               grid=({B: 1, C: 2, L: 3, K: 2, P: 0}, {B: 1, C: 1, L: 4, K: 4, P: 0}))
    # reindex-sum by a shift that is an integer only for even K, by one that never is, by an integer one, and by
    # polynomials with fractions that are integers at every K (by residues) or not (K(K + 1)/4 is not at K = 1)
    for k, proved in ((K / 2, False), ((K - 1) / 2, False), (sp.Rational(1, 2), False), (K - 1, True),
                      (K * (K - 1) / 2, True), (K * (K - 1) * (K - 2) / 6 - K, True), (K * (K + 1) / 4, False),
                      (K ** 2 / 2 + K / 3, False)):
        d = Derivation(base)
        d.apply("reindex-sum", var=u, new=v, expr_of_new=v + k)
        ob = _obligation(d.steps[0], ["integer-valued"])
        assert ob.proved is proved, str(ob)
        cp = _check(d)
        assert cp.steps[0].check.general is (proved and cp.steps[0].check.ok)
        if not proved:
            assert "integer-valued" in cp.steps[0].check.replay
    # split-channels-into-groups with a block that is not provably a positive integer
    Cg = C / 2
    op = _op(sp.Sum(Wt[c, 0] * X[b, c, i], (c, 0, Cg - 1)), sizes=(B, C, L, K, P))
    d = Derivation(op)
    d.apply("split-channels-into-groups", var=c, new=m, group=0, groups=2, block=Cg)
    assert not _obligation(d.steps[0], ["C/2", "positive integer"]).proved
    # congruence-to-remainder needs a positive integer period
    Lh = L / 2
    op = _op(sp.Sum(sp.KroneckerDelta(sp.Mod(i - m, Lh), 0) * X[b, o, m], (m, 0, Lh - 1)))
    d = Derivation(op)
    d.apply("congruence-to-remainder", var=m)
    assert not _obligation(d.steps[0], ["L/2", "positive integer"]).proved


# -- 9. reversed sums ----------------------------------------------------------------------------

def test_a_sum_running_backwards_is_ill_formed_not_empty():
    ev = Evaluator({"x": (1, 1, 5), "W": (1, 5)})
    # (a) literal bounds
    with pytest.raises(IllFormedAccess, match="the sum over u runs from 2 down to 0"):
        ev.evaluate(sp.Sum(X[0, 0, u], (u, 2, 0)), {})
    # hi = lo − 1 is the empty sum
    assert ev.evaluate(sp.Sum(X[0, 0, u], (u, 2, 1)), {}) == 0
    # (b) symbolic bounds at concrete sizes, named in the message
    with pytest.raises(IllFormedAccess, match=r"runs from 2 down to 0.*u from K - 1 to 0"):
        ev.evaluate(sp.Sum(X[0, 0, u], (u, K - 1, 0)), {K: 3})
    # (c) the delta shortcut does not skip the check
    with pytest.raises(IllFormedAccess, match="runs from 4 down to 1"):
        ev.evaluate(sp.Sum(sp.KroneckerDelta(u, 2) * X[0, 0, u], (u, 4, 1)), {})
    # (d) in a proof: the step from a traditional form summed backwards fails, and says why
    xp = _x_pad()
    d = Derivation(_op(sp.Sum(Wt[o, u] * xp[b, o, i], (u, K - 1, 0)), definitions=[xp],
                       grid=({B: 1, C: 1, L: 3, K: 3, P: 0},)))
    d.apply("reindex-sum", var=u, new=v, expr_of_new=v)
    cp = _check(d)
    assert not cp.ok and not cp.steps[0].check.ok
    assert "the sum over" in cp.steps[0].check.counterexample.detail
    assert "runs from 2 down to 0" in cp.steps[0].check.counterexample.detail


# -- 12. names -----------------------------------------------------------------------------------

def test_a_name_declared_twice_is_refused_whatever_the_order():
    """Two declarations of one name let a rule read the premise of one (an indicator input's) for the other (a
    parameter's, whose values nothing checks) in a statement that lists both: every pairing and order is refused."""
    x, W = TensorDecl("x", (B, C, L), "input"), TensorDecl("W", (C, K), "parameter")
    twins = (TensorDecl("V", (B, L), "parameter"), TensorDecl("V", (B, L), "input", domain="leading_indicator"))
    cases = {
        "parameter then input": (x, W, *twins),
        "input then parameter": (x, W, *reversed(twins)),
        "two parameters": (x, W, TensorDecl("W", (C, K), "parameter")),
        "a tensor named as the output": (x, W, TensorDecl("y", (B, C, L), "parameter")),
    }
    for what, tensors in cases.items():
        op = _op(_x_pad()[b, o, i], definitions=[_x_pad()], tensors=tensors)
        _refused(_check(_identity_derivation(op)), NAMES, "is declared 2 times")
    shadow = Definition("W", (c, u), InRange(u, 0, K - 1) * Wt[c, u])   # a definition named as a tensor
    op = _op(_x_pad()[b, o, i], definitions=[_x_pad(), shadow])
    msg = _refused(_check(_identity_derivation(op)), NAMES)
    assert "the name W" in msg


def test_a_step_that_defines_a_declared_name_is_refused():
    """name-kernel's kernel named as a declared tensor: the rule refuses it when applied; a recorded proof whose step
    defines it anyway (the producer is untrusted: here the proof of one operator presented for another that declares
    a tensor Kn) fails the premise too."""
    import dataclasses

    from evosym.errors import RuleError
    op = _op(_x_pad()[b, o, i], definitions=[_x_pad()])
    with pytest.raises(RuleError, match="the name 'W' is already used"):
        d = Derivation(op)
        d.apply("unfold-definition", name="x_pad")
        d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (i, q, 0, L - 1)])
        d.apply("name-kernel", name="W", channel=c, position=(q,), indices=(o, c, i, q))
    d = _identity_derivation(op)   # defines Kn
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))
    twin = _op(_x_pad()[b, o, i], definitions=[_x_pad()], tensors=(TensorDecl("x", (B, C, L), "input"),
                                                                  TensorDecl("W", (C, K), "parameter"),
                                                                  TensorDecl("Kn", (C, K), "parameter")))
    cp = dataclasses.replace(d.proof(), operator=twin).check(reference=False)
    _refused(cp, NAMES, "the name Kn is declared 2 times")
