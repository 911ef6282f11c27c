"""Running the self-test: every mutant, a kill rate per category."""

from __future__ import annotations

import time
from collections import defaultdict

from . import (checker_mutants, codegen_mutants, operator_mutants, proof_mutants, property_mutants,  # noqa: F401
               trust_conclusion_mutants, trust_fold_mutants, trust_mutants, trust_reading_mutants)
from .registry import CATEGORIES, MUTANTS, Outcome


def run(categories=None, progress=None):
    """[(mutant, outcome, seconds)] for the selected categories; a crash counts as a survivor."""
    rows = []
    for m in MUTANTS:
        if categories and m.category not in categories:
            continue
        start = time.perf_counter()
        try:
            outcome = m.run()
        except Exception as exc:  # a mutant whose harness breaks is reported, never counted as killed
            outcome = Outcome(False, "harness error", f"{type(exc).__name__}: {exc}")
        rows.append((m, outcome, time.perf_counter() - start))
        if progress:
            progress(m, outcome)
    return rows


def summary(rows, verbose=False) -> str:
    by = defaultdict(list)
    for m, o, t in rows:
        by[m.category].append((m, o, t))
    out = [f"{'category':<22}{'mutants':>8}{'killed':>8}{'kill rate':>11}"]
    for cat in CATEGORIES:
        if cat in by:
            n, k = len(by[cat]), sum(o.killed for _, o, _ in by[cat])
            out.append(f"{cat:<22}{n:>8}{k:>8}{100 * k / n:>10.0f}%")
    n, k = len(rows), sum(o.killed for _, o, _ in rows)
    out.append(f"{'total':<22}{n:>8}{k:>8}{100 * k / max(n, 1):>10.0f}%")
    for m, o, t in rows:
        if verbose or not o.killed:
            out.append(f"{'KILLED ' if o.killed else 'SURVIVED'} [{m.category}] {m.name}: {m.description} "
                       f"— by {o.by} ({t:.1f} s){': ' + o.detail if o.detail and (verbose or not o.killed) else ''}")
    return "\n".join(out)
