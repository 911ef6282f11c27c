"""From an operator to generated source files: the entry point of ``evosym codegen``."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from .. import catalogue
from ..errors import EvosymError
from .plan import Plan, make_plan
from .render import render_torch

TARGETS = ("torch", "cuda", "cpu")
SUFFIX = {"torch": ".py", "cuda": ".cu", "cpu": ".cpp"}


def filename(operator_name: str, target: str) -> str:
    """The generated file's name: the operator's name (an identifier) with the target's suffix."""
    return operator_name + SUFFIX[target]


@dataclass(frozen=True)
class Generated:
    """One generated file: where it goes, its text, and the plan it came from."""

    filename: str
    source: str
    plan: Plan


def generate(name_or_path: str, target: str = "torch") -> Generated:
    """Prove and check the operator, plan its lowering, render the target's source."""
    if target not in TARGETS:
        raise EvosymError(f"unknown target {target!r}; targets: {', '.join(TARGETS)}")
    path = None if name_or_path in catalogue.catalogue_names() else shlex.quote(name_or_path)   # an operator file
    return generate_checked(catalogue.checked(name_or_path), target, path=path)


def generate_checked(cp, target: str = "torch", path: str | None = None) -> Generated:
    """The target's source for an already checked proof; ``path``: the operator file it came from, as the
    user gave it (the torch banner's "Regenerate:" line names it: the operator's name would be unknown)."""
    if target not in TARGETS:
        raise EvosymError(f"unknown target {target!r}; targets: {', '.join(TARGETS)}")
    plan = make_plan(cp)
    if target == "cuda":
        from .cuda import render_cuda
        return Generated(filename(plan.name, target), render_cuda(cp, plan), plan)
    if target == "cpu":
        from .cpu import render_cpu
        return Generated(filename(plan.name, target), render_cpu(cp, plan), plan)
    return Generated(filename(plan.name, target), render_torch(plan, cp.operator.torch_binding, regenerate=path), plan)


def committed_dir(target: str = "torch") -> Path:
    """``codegen/<target>`` of a source checkout: where the catalogue's generated code is committed."""
    return Path(__file__).resolve().parent.parent.parent / "codegen" / target
