"""Numeric cross-checks of generated code against the operator's independent torch reference.

For every shape (the operator's grid plus random variants of the runtime sizes, seeds printed)
and both lowerings of the generated module (the chosen fast path and the generic path):

- float64 and float32 forward, each entry within a rounding bound scaled by the number of
  accumulated terms: ``tol = 4·n·ε·Σ|terms|``, where Σ|terms| is the smaller of the reference's and the generic
  path's value on the absolute values of the inputs (exact for operators multilinear in input and parameters;
  otherwise the smaller largest |output|), so that neither a reference nor generated code can widen it; a
  reference's non-finite value on finite inputs fails;
- exact equality on small integer inputs, for operators linear in the input whose kernel has only
  integer constants (an average's 1/K makes outputs rational, compared within the bound instead) and
  whose reference does not round (an FFT reference is compared within the bound only);
- ``torch.autograd.gradcheck`` in float64, and gradients against the reference's autograd, at every grid
  point (the structural cases an operator declares: strides, groups, sharing select different
  backward kernels);
- every output finite, every shape as declared; NaN never passes a comparison.

The reference (``Operator.torch_reference``) is written directly from the traditional formula
(``F.conv2d`` …), never through the Evolution form.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import catalogue
from ..errors import EvosymError
from ..proof.codec import escaped
from ..runtime import backends as registry
from ..ir.operator import Operator, format_sizes
from ..ir.tensors import in_domain, indicator_names
from ..ir.symbols import size_value
from .plan import Plan, make_plan
from .render import render_torch
from .torchexpr import py_name


@dataclass
class ShapeResult:
    sizes: str
    seed: int
    ok: bool
    lines: list = field(default_factory=list)


@dataclass
class CheckReport:
    name: str
    device: str
    plan: Plan
    shapes: list = field(default_factory=list)
    paths: tuple = ("auto", "generic")
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.shapes) and all(s.ok for s in self.shapes)

    def text(self) -> str:
        what = (f"lowering {self.plan.path} (the default path and path=\"generic\" run the same code here)"
                if self.plan.path.startswith("generic") and not self.plan.has_kernels else
                f"lowering {self.plan.path} and generic")
        if "kernels" in self.paths:
            what += " and the generated kernels " + ("(CUDA kernels run on the GPU)" if self.device == "cuda" else
                                                     "(CPU kernels)")
        if EMULATED in self.paths:
            what += " and the CUDA kernels' source built for the host (emulated launch, path kernels-emulated)"
        out = [f"{'PASSED' if self.ok else 'FAILED'}  {self.name} on {self.device}: {len(self.shapes)} shapes, {what}"]
        out += [f"  note: {n}" for n in self.notes]
        for s in self.shapes:
            out.append(f"  {'✓' if s.ok else '✗'} seed {s.seed}: {s.sizes}")
            out += [f"      {line}" for line in s.lines]
        return "\n".join(out)


EMULATED = "kernels-emulated"   # a check path: path="kernels" with the CUDA source's host build


def _raised(exc: BaseException) -> str:
    """An exception in one line: its type and its message with control characters escaped (the message may come from
    an operator file's reference or from generated code run on a user's sizes)."""
    return f"{type(exc).__name__}: {escaped(str(exc))}"


def load_source(source: str, name: str, checked=None) -> types.ModuleType:
    """Import generated source as a module (no file needed). ``checked``: the checked proof it was generated
    from, whose kernel artifact is then registered in memory (the module has no manifest next to it)."""
    module = types.ModuleType(f"evosym_generated_{name}")
    if checked is not None:
        from .artifact import register_checked
        module.__evosym_key__ = register_checked(checked)   # None where there are no kernels (the kernel path says so)
    exec(compile(source, f"<generated {name}>", "exec"), module.__dict__)
    return module


def check_operator(name_or_path: str, *, device: str = "cpu", seed: int = 0, variants: int = 2,
                   source: str | None = None, reference=None, gradients: bool = True,
                   kernels=False, emulated: bool = False, checked=None, gradcheck: bool = True) -> CheckReport:
    """Check the generated code of an operator; ``source``/``reference`` override them (canaries).

    ``kernels``: also check the generated kernels (``path="kernels"``): the CUDA kernels on a CUDA
    device, the CPU kernels on the CPU. ``emulated`` (CPU only): also check the CUDA source built for
    the host with an emulated launch (path "kernels-emulated"), how CI checks the CUDA kernels.
    ``checked``: the operator's checked proof, when the caller has it (saves proving it again).
    ``gradcheck=False``: gradients are compared with the reference's autograd only (a sanitized run,
    where gradcheck's hundreds of calls at the same shapes would reach no other code).
    ``kernels`` may also be a collection of "device" and "emulated" (the CLI's --kernels/--emulated).
    """
    if not isinstance(kernels, bool):
        wanted = set(kernels or ())
        kernels, emulated = "device" in wanted, emulated or "emulated" in wanted
    if device == "cuda" and not torch.cuda.is_available():
        raise EvosymError("--device cuda: CUDA is not available on this machine (torch.cuda.is_available() is False)")
    if device not in registry.devices():
        raise EvosymError(f"unknown device {device!r}; use {' or '.join(registry.devices())}")
    if device == "cuda":   # TF32 would round float32 products to 10 mantissa bits: compare true float32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    cp = checked if checked is not None else catalogue.checked(name_or_path)
    op = cp.operator
    if op.torch_reference is None and op.reference is None and reference is None:
        raise EvosymError(f"{op.name} has no reference implementation to check generated code against")
    plan = make_plan(cp)
    source = source if source is not None else render_torch(plan, op.torch_binding)
    gen = load_source(source, op.name, cp)
    fn = getattr(gen, plan.func_name)
    ref = reference or op.torch_reference or _from_numpy(op.reference)
    report = CheckReport(op.name, device, plan)
    if emulated and device != "cpu":
        raise EvosymError("the emulated host build of the CUDA kernels runs on the CPU only (--device cpu)")
    if kernels or emulated:
        from .artifact import kernels_for
        try:
            k = kernels_for(name_or_path)
        except EvosymError as exc:   # e.g. a channels-last layout: no kernels to check, said plainly
            report.notes.append(f"generated kernels not checked: {escaped(str(exc))}")
        else:
            paths = ["auto", "generic"]
            for path, backend in (("kernels", None), (EMULATED, "emulated")):
                if (path == "kernels" and kernels) or (path == EMULATED and emulated):
                    try:
                        lib = k.library(torch.device(device), backend)[0]   # build errors are reported up front
                    except EvosymError as exc:   # e.g. a tiled window: no CPU kernels, said plainly
                        owner = registry.owner(registry.target_for(device))   # the device's own kernel backend
                        if path == EMULATED or k.text(owner.name):   # it has a source: a build error
                            raise
                        report.notes.append(f"{owner.label} kernels not checked: {escaped(str(exc))}")
                        continue
                    paths.append(path)
                    what = registry.target(lib.target).label.format(arch=lib.arch)
                    if lib.sanitized:   # a memory check too: the run stops at any access outside a tensor
                        what += " with AddressSanitizer and UBSan"
                    report.notes.append(f"{what}: " + ("loaded from the build cache" if lib.cached else
                                                       f"built in {lib.seconds:.2f} s"))
            report.paths = tuple(paths)
    linear = plan.static
    exact = plan.static and plan.integer_kernel and not op.reference_rounds   # an FFT reference rounds
    for k, (config, grid_point) in enumerate(_shapes(op, plan, seed, variants)):
        s = seed * 1000 + k
        # gradients on every grid point: the grid is where an operator declares its structural cases
        # (strides, groups, channel sharing), which select different backward kernels
        report.shapes.append(_check_shape(op, plan, fn, ref, config, s, device, linear, exact, gradients and grid_point,
                                          report.paths, gradcheck))
    if gradients and not gradcheck:
        report.notes.append("gradcheck not run: gradients compared with the reference's autograd only")
    return report


def _from_numpy(reference):
    """A numpy reference (a user's operator file) used on torch tensors: forward only, no autograd."""
    def ref(t, sizes):
        arrays = {k: v.detach().cpu().numpy() for k, v in t.items()}
        device = next(iter(t.values())).device
        return torch.from_numpy(np.asarray(reference(arrays, sizes), dtype=np.float64)).to(device)
    ref.numpy_only = True
    return ref


def _shapes(op: Operator, plan: Plan, seed: int, variants: int):
    """(sizes, is a grid point): the grid, plus random variants of the sizes read from the input (batch, lengths)."""
    rng = np.random.default_rng(seed)
    names = {n for n, _ in plan.runtime_sizes}
    runtime = [s for s, _ in op.sizes if str(s) in names]   # declared order: the shapes depend on the seed only
    out = []
    for config in op.grid:
        out.append((dict(config), True))
        for _ in range(variants):
            for _attempt in range(20):
                new = dict(config)
                for s in runtime:
                    new[s] = int(config[s]) + int(rng.integers(0, 4))
                if all(n >= 1 for n in op.shapes_at(new)[op.output.name]):
                    out.append((new, False))
                    break
    return out


def _tensors(op, env, dtype, device, gen, integer=False):
    shapes = op.shapes_at(env)
    out = {}
    for t in op.tensors:
        if integer:
            v = torch.randint(-3, 4, shapes[t.name], generator=gen).to(dtype)
        else:
            v = torch.randn(shapes[t.name], generator=gen, dtype=torch.float64).to(dtype)
        out[t.name] = in_domain(t, v).to(device)
    return out


def bind(fn, plan, op, t, env, path):
    """``fn`` with its arguments (tensors by name, module sizes at ``env``) bound: a zero-argument call."""
    args = [t[n] for n in plan.inputs] + [t[ir] for ir, _, _, _ in plan.params]
    wanted = dict(plan.module_sizes)
    kwargs = {name: int(env[sym]) if sym in env else size_value(sym, env)
              for sym, _ in op.sizes for name in [py_name(sym)] if name in wanted}
    return lambda: fn(*args, **kwargs, path=path)


def _call(fn, plan, op, t, env, path):
    if path == EMULATED:
        from ..runtime.aggregate import host_backend
        with host_backend("emulated"):
            return bind(fn, plan, op, t, env, "kernels")()
    return bind(fn, plan, op, t, env, path)()


def _terms(plan, env_sizes) -> int:
    """Number of accumulated products per output entry: input channels × window taps."""
    n = eval(plan.channels_in, {}, env_sizes)  # noqa: S307 - an expression we generated from sizes
    for k in plan.window.get("kernel", []):
        n *= eval(k, {}, env_sizes)  # noqa: S307
    return int(n) + 1


def _check_shape(op, plan, fn, ref, config, seed, device, linear, exact, gradients, paths=("auto", "generic"),
                 gradcheck=True) -> ShapeResult:
    env = {k: int(v) for k, v in config.items()}
    sizes = {str(k): v for k, v in env.items()}
    res = ShapeResult(format_sizes(env), seed, True)
    gen = torch.Generator().manual_seed(seed)
    want_shape = tuple(op.shapes_at(env)[op.output.name])
    n = _terms(plan, {py_name(k): v for k, v in env.items()})

    def fail(msg):
        res.ok = False
        res.lines.append("✗ " + msg)

    for dtype, eps in ((torch.float64, 2.0 ** -52), (torch.float32, 2.0 ** -23)):
        t = _tensors(op, env, dtype, device, gen)
        t64 = {k: v.to(torch.float64) for k, v in t.items()}
        try:
            expected = ref(t64, sizes)
            theirs = ref({k: v.abs() for k, v in t64.items()}, sizes).abs() if linear else expected.abs().max()
        except Exception as exc:  # a broken reference fails the check; it never crashes it
            fail(f"the reference raised {_raised(exc)}")
            return res
        if tuple(expected.shape) != want_shape:
            fail(f"the reference returns shape {tuple(expected.shape)}, the operator declares {want_shape}")
            return res
        if not bool(torch.isfinite(expected).all()):
            fail("the reference returns non-finite values on finite inputs")
            return res
        try:   # Σ|terms| (or the output's scale) from our own generic path too: a reference cannot widen the tolerance
            ours = _call(fn, plan, op, {k: v.abs() for k, v in t64.items()} if linear else t64, env, "generic")
            ours = ours.to(torch.float64).abs() if linear else ours.to(torch.float64).abs().max()
        except Exception as exc:
            fail(f"float64 generic: raised {_raised(exc)}")
            return res
        if tuple(theirs.shape) != tuple(ours.shape):
            fail(f"the reference returns shape {tuple(theirs.shape)} on |inputs|, the operator declares {want_shape}")
            return res
        bound = torch.minimum(theirs.to(expected.device), ours.to(expected.device)).expand_as(expected)
        tol = 4 * n * eps * (bound + 1e-300)
        for path in paths:
            try:
                got = _call(fn, plan, op, t, env, path)
            except Exception as exc:  # a generated module that crashes is a failed check, with the reason
                fail(f"{dtype} {path}: raised {_raised(exc)}")
                continue
            if tuple(got.shape) != want_shape:
                fail(f"{dtype} {path}: shape {tuple(got.shape)}, declared {want_shape}")
                continue
            if not torch.isfinite(got).all():
                fail(f"{dtype} {path}: non-finite output")
                continue
            err = (got.to(torch.float64) - expected).abs()
            worst = int(torch.argmax(err / tol))
            if not bool((err <= tol).all()):
                idx = np.unravel_index(worst, want_shape)
                fail(f"{dtype} {path}: y{list(map(int, idx))} = {got.flatten()[worst].item():.17g}, reference "
                     f"{expected.flatten()[worst].item():.17g}, |diff| {err.flatten()[worst].item():.3g} > tol "
                     f"{tol.flatten()[worst].item():.3g}")
            else:
                res.lines.append(f"✓ {str(dtype)[6:]} {path}: max |diff| {err.max().item():.2e}, "
                                 f"within 4·{n}·ε·Σ|terms| everywhere")
    if exact:
        t = _tensors(op, env, torch.float64, device, gen, integer=True)
        try:
            expected = ref(t, sizes)
        except Exception as exc:
            fail(f"the reference raised {_raised(exc)}")
            return res
        for path in paths:
            try:
                got = _call(fn, plan, op, t, env, path)
                same = tuple(got.shape) == want_shape and bool(torch.equal(got, expected))
            except Exception as exc:
                fail(f"integer inputs {path}: raised {_raised(exc)}")
                continue
            if same:
                res.lines.append(f"✓ integer inputs {path}: exactly equal")
            else:
                fail(f"integer inputs {path}: not exactly equal to the reference")
    if gradients:
        _gradients(op, plan, fn, ref, env, sizes, gen, device, res, fail, paths, gradcheck)
    return res


def _gradients(op, plan, fn, ref, env, sizes, gen, device, res, fail, paths, gradcheck=True):
    fixed = indicator_names(op.tensors)   # 0/1 entries: no derivative to take
    t = {k: v if k in fixed else v.requires_grad_(True) for k, v in _tensors(op, env, torch.float64, device, gen).items()}
    names = [k for k in list(plan.inputs) + [ir for ir, _, _, _ in plan.params] if k not in fixed]
    for path in paths:
        def f(*args):
            return _call(fn, plan, op, {**{k: t[k] for k in fixed}, **dict(zip(names, args))}, env, path)
        if gradcheck:
            try:
                ok = torch.autograd.gradcheck(f, tuple(t[k] for k in names), eps=1e-6, atol=1e-7, rtol=1e-5,
                                              fast_mode=False)
            except Exception as exc:
                ok = False
                fail(f"gradcheck {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            if ok:
                res.lines.append(f"✓ gradcheck {path} (float64, w.r.t. {', '.join(names)})")
        grad_out = torch.randn(tuple(op.shapes_at(env)[op.output.name]), generator=gen, dtype=torch.float64).to(device)
        if getattr(ref, "numpy_only", False):
            res.lines.append(f"- gradients {path} not compared: the reference is numpy (forward only)")
            continue
        try:
            mine = torch.autograd.grad(_call(fn, plan, op, t, env, path), [t[k] for k in names], grad_out,
                                       allow_unused=True)
            theirs = torch.autograd.grad(ref(t, sizes), [t[k] for k in names], grad_out, allow_unused=True)
        except Exception as exc:
            fail(f"gradients {path}: {_raised(exc)}")
            continue
        # a tensor one side does not read has gradient zero there (a declared parameter nothing reads: zero on both)
        mine, theirs = ([torch.zeros_like(t[k]) if g is None else g for k, g in zip(names, gs)] for gs in (mine, theirs))
        # the scale of the smaller side: neither a reference nor generated code can widen the tolerance (and an
        # infinite gradient would make any difference pass)
        bad = [k for k, a, b in zip(names, mine, theirs)
               if not (bool(torch.isfinite(a).all()) and bool(torch.isfinite(b).all())
                       and torch.allclose(a, b, rtol=1e-9, atol=1e-9 * (1 + min(a.abs().max().item(),
                                                                                 b.abs().max().item()))))]
        if bad:
            fail(f"gradients {path}: differ from the reference's for {', '.join(bad)}")
        else:
            res.lines.append(f"✓ gradients {path} equal the reference's autograd")
