"""The tensors' names (inputs and parameters) against the names a generated module uses itself.

An input or a parameter is an argument of the generated functions, passed on by name; a generated local, a module-level helper, an
import, a builtin or another argument with the same name would shadow it or be shadowed by it, and the module
would compute something else (an input named ``xc`` read after ``xc = x``) or not compile. This finds such a clash
in the rendered source, so that code generation refuses the operator with the name to change, never emits it.
"""

from __future__ import annotations

import ast
import builtins
import keyword

from ..errors import EvosymError


def check_input_names(source: str, name: str, inputs: list[str]) -> None:
    """An ``EvosymError`` when one of ``inputs`` (the operator's input tensors and its parameters' torch names)
    clashes with a name of the rendered module ``source`` (operator ``name``), or the module does not compile (two arguments with one name: an input, parameter or size)."""
    try:
        compile(source, f"<generated {name}>", "exec", dont_inherit=True)   # (duplicate arguments: the symbol table)
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise EvosymError(f"code generation: {name}: the generated module does not compile ({exc.msg}, line "
                          f"{exc.lineno}): an input, a parameter's torch name or a size has the name of another argument "
                          f"(or of self, path, a Python keyword); rename it") from None
    module_level = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            module_level.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            module_level.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            module_level.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    bound = {}   # name -> the function that assigns it (or binds it in a lambda, a comprehension, a loop)
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        for n in ast.walk(fn):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                bound.setdefault(n.id, fn.name)
            elif isinstance(n, ast.Lambda):
                for a in n.args.args + n.args.kwonlyargs:
                    bound.setdefault(a.arg, fn.name)
    for inp in inputs:
        where = (f"a module-level name of the generated code" if inp in module_level else
                 f"a local of the generated {bound[inp]}()" if inp in bound else
                 "a Python builtin the generated code may call" if hasattr(builtins, inp) else
                 "a Python keyword" if keyword.iskeyword(inp) else None)
        if where is not None:
            raise EvosymError(f"code generation: {name}: the tensor {inp!r} has the name of {where}: it would be "
                              f"shadowed and the module would compute something else; rename the tensor (or its "
                              f"torch_name)")



def check_size_names(source: str, name: str, sizes: list[str]) -> None:
    """An ``EvosymError`` when a generated function binds a size of the operator other than as the size: a size is an
    argument of the generated functions or read from an input's shape (``N = _size(N)``, ``L = x.shape[2]``), and any
    other assignment to that name in the same function would replace its value (a size named ``need`` became the
    window arithmetic's own local ``need``, and the module computed with it). Nested scopes (lambdas, comprehensions,
    helpers that take no size) bind names of their own and are not looked at."""
    wanted = set(sizes)
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef):
            continue
        params = {a.arg for a in fn.args.args + fn.args.kwonlyargs + fn.args.posonlyargs} & wanted
        stores = [(node, value) for node, value in _stores(fn.body) if node.id in wanted]
        sizes_here = params | {n.id for n, v in stores if _as_size(n.id, v)}
        for node, value in stores:
            if node.id in sizes_here and not _as_size(node.id, value):
                raise EvosymError(f"code generation: {name}: the size {node.id!r} has the name of a local of the "
                                  f"generated {fn.name}() (line {node.lineno}): it would replace the size's value and "
                                  "the module would compute with another; rename the size")


def _stores(body):
    """(Name stored, the value assigned or None) in a function's own scope (not in nested functions, lambdas or
    comprehensions)."""
    out = []
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
                             ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = (zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple)
                         and isinstance(node.value, ast.Tuple) and len(target.elts) == len(node.value.elts)
                         else [(target, node.value)])
                for t, v in pairs:   # a name unpacked from anything else is bound to an unknown value
                    out += [(t, v)] if isinstance(t, ast.Name) else [(n, None) for n in ast.walk(t)
                                                                      if isinstance(n, ast.Name)]
            stack.append(node.value)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.append((node, None))
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


def _as_size(name: str, value) -> bool:
    """Whether ``name = value`` binds the size itself: normalised from the argument, or read from an input's shape."""
    if value is None:
        return False
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("_size", "_padding_string"):
        return any(isinstance(a, ast.Name) and a.id == name for a in value.args)
    return any(isinstance(n, ast.Attribute) and n.attr == "shape" for n in ast.walk(value))
