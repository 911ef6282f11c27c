"""``assert_equivalent``: a candidate implementation against the proven operator's generated code."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..codegen.torchexpr import py_name
from ..errors import EvosymError
from ..ir.tensors import in_domain
from .diagnose import diagnose
from .setup import as_dtype, mapped_weights, module_sizes, proven


@dataclass
class Report:
    """What was compared (returned when the candidate agrees)."""

    operator: str
    sizes: dict
    trials: list = field(default_factory=list)   # (runtime sizes, dtype, max |diff|)


def assert_equivalent(candidate, operator: str, *, sizes: dict | None = None, weights=None, seed: int = 0,
                      trials: int = 3, dtypes=(torch.float64, torch.float32), gradients: bool = False) -> Report:
    """Raise ``AssertionError`` unless ``candidate`` computes the proven ``operator``.

    - ``candidate``: an ``nn.Module`` or a function of the input tensor.
    - ``operator``: a catalogue name or the path of an operator file.
    - ``sizes``: the operator's module sizes by name (``G``, ``C_g``, …); read from the candidate when
      it is the traditional module (``nn.Conv2d`` …).
    - ``weights``: how the candidate's parameters map onto the operator's (see :func:`mapped_weights`).
    - ``trials`` random input shapes per dtype (odd and non-square first), seeded by ``seed``.
    - ``gradients``: also compare the gradients with respect to the input (float64).
    """
    p = proven(operator)
    op, plan = p.operator, p.plan
    msizes = module_sizes(p, candidate, sizes)
    report = Report(op.name, dict(msizes))
    rng = np.random.default_rng(seed)
    for trial in range(trials):
        env = _runtime_env(op, plan, msizes, rng, first=trial == 0)
        for dtype in dtypes:
            _compare(p, candidate, weights, env, dtype, seed * 1000 + trial, report, gradients and dtype == torch.float64)
    return report


def _runtime_env(op, plan, msizes, rng, first):
    """Sizes for one trial: module sizes fixed, batch and lengths random (odd, non-square first)."""
    by_name = {py_name(s): s for s, _ in op.sizes}
    env = {by_name[k]: v for k, v in msizes.items()}
    runtime = [by_name[name] for name, _ in plan.runtime_sizes]
    for _ in range(200):
        trial = dict(env)
        for k, s in enumerate(runtime):
            if k == 0:
                trial[s] = 2 if first else int(rng.integers(1, 4))
            else:
                trial[s] = (5 + 2 * k if first else int(rng.integers(3, 12)))
        try:
            if all(n >= 1 for n in op.shapes_at(trial)[op.output.name]):
                return trial
        except ValueError:
            pass
        env = {**env}
        for s in runtime[1:]:
            env[s] = env.get(s, 5) + 3
    raise EvosymError(f"no input size gives {op.name} a non-empty output with sizes {msizes}")


def _compare(p, candidate, weights, env, dtype, seed, report, gradients):
    op, plan = p.operator, p.plan
    names = {py_name(s): v for s, v in env.items()}
    shapes = op.shapes_at(env)
    gen = torch.Generator().manual_seed(seed)
    x = in_domain(op.tensor(op.value), torch.randn(shapes[op.value], generator=gen, dtype=torch.float64)).to(dtype)
    cand = as_dtype(candidate, dtype)
    w = {k: (v.detach().to(dtype) if v is not None else torch.zeros(shape_of(plan, k, names), dtype=dtype))
         for k, v in mapped_weights(p, cand, weights, dtype).items()}
    kwargs = {n: names[n] for n, _ in plan.module_sizes}

    def run_reference(t, alt=None):
        ws = alt if alt is not None else w
        return p.function(t, *[ws[ir] for ir, _, _, _ in plan.params], **kwargs)

    def run_candidate(t):
        return cand(t)
    config = ", ".join(f"{k}={v}" for k, v in sorted(names.items()))
    with torch.no_grad():
        y_r = run_reference(x)
        try:
            y_c = run_candidate(x)
        except Exception as exc:
            raise AssertionError(f"{op.name}: the candidate raised {type(exc).__name__}: {exc}\n  configuration: "
                                 f"{config}, {dtype}, seed {seed}") from None
        if not isinstance(y_c, torch.Tensor) or tuple(y_c.shape) != tuple(y_r.shape):
            raise AssertionError(f"{op.name}: the candidate returns {getattr(y_c, 'shape', type(y_c).__name__)}, the "
                                 f"operator {tuple(y_r.shape)}\n  configuration: {config}, {dtype}, seed {seed}")
        bound = run_reference(x.abs(), {k: v.abs() for k, v in w.items()}).abs() if plan.static else y_r.abs().max()
        eps = torch.finfo(dtype).eps
        n = int(eval(plan.channels_in, {}, names)) + 1  # noqa: S307 - generated from sizes
        for k in plan.window.get("kernel", []):
            n *= int(eval(k, {}, names))  # noqa: S307
        tol = (8 * n * eps * (bound + 1e-300)).expand_as(y_r)
        err = (y_c.to(torch.float64) - y_r.to(torch.float64)).abs()
        ok = bool((err <= tol).all()) and bool(torch.isfinite(y_c).all())
    if not ok:
        worst = int(torch.argmax(torch.nan_to_num(err / tol, nan=float("inf"))))
        idx = tuple(int(i) for i in np.unravel_index(worst, tuple(y_r.shape)))
        layout = [r[0] for r in plan.output_layout]
        window = list(zip(*[[int(eval(v, {}, names)) for v in plan.window[k]]  # noqa: S307
                            for k in ("kernel", "stride", "dilation", "padding")])) if plan.window else []
        with torch.enable_grad():
            why = diagnose(run_candidate, run_reference, x, y_c.detach(), y_r.detach(), tol, window, layout, w)
        lines = [f"{op.name}: the candidate differs from the proven operator",
                 f"  configuration: {config}, {str(dtype)[6:]}, seed {seed}",
                 f"  worst output index {list(idx)}: candidate {y_c.flatten()[worst].item():.17g}, operator "
                 f"{y_r.flatten()[worst].item():.17g} (|diff| {err.flatten()[worst].item():.3g} > tol "
                 f"{tol.flatten()[worst].item():.3g}); {int((~(err <= tol)).sum())} of {err.numel()} entries differ"]
        lines += [f"  diagnosis: {d}" for d in why] or ["  diagnosis: none of the property tests explains it"]
        raise AssertionError("\n".join(lines))
    if gradients:
        _compare_gradients(run_candidate, run_reference, x, op, config, seed)
    report.trials.append((config, str(dtype)[6:], float(err.max())))


def _compare_gradients(run_candidate, run_reference, x, op, config, seed):
    xc = x.detach().clone().requires_grad_(True)
    xr = x.detach().clone().requires_grad_(True)
    yc, yr = run_candidate(xc), run_reference(xr)
    g = torch.randn(yr.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=yr.dtype)
    gc, = torch.autograd.grad(yc, xc, g)
    gr, = torch.autograd.grad(yr, xr, g)
    if not torch.allclose(gc, gr, rtol=1e-9, atol=1e-9 * (1 + gr.abs().max().item())):
        worst = int(torch.argmax((gc - gr).abs()))
        raise AssertionError(f"{op.name}: gradients with respect to the input differ (forward agrees)\n  configuration: "
                             f"{config}, float64, seed {seed}\n  worst input index "
                             f"{list(np.unravel_index(worst, tuple(x.shape)))}: candidate {gc.flatten()[worst].item():.17g}, "
                             f"operator {gr.flatten()[worst].item():.17g}")


def shape_of(plan, ir, names):
    for name_ir, _, shape, _ in plan.params:
        if name_ir == ir:
            return tuple(int(eval(d, {}, names)) for d in shape)  # noqa: S307
    raise KeyError(ir)


__all__ = ["Report", "assert_equivalent"]
