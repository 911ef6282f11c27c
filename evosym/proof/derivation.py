"""Writing a derivation: name rules and their arguments; each rule computes the next expression.

    d = Derivation(OPERATOR)
    d.apply("unfold-definition", name="x_pad")
    ...
    d.conclude(omega=Window(...), channel=c, neighbour=(m, n))
    proof = d.proof()
"""

from __future__ import annotations

import sympy as sp

from ..errors import RuleError
from ..ir.neighbourhood import Neighbourhood
from ..ir.operator import Operator
from .proof import Proof, rule_context
from .rules import get_rule
from .step import Step


class Derivation:
    """Accumulates steps from the operator's traditional form; :meth:`proof` freezes them."""

    def __init__(self, operator: Operator):
        self.operator = operator
        self.expr = operator.traditional
        self.steps: list[Step] = []
        self.definitions = {d.name: d for d in operator.definitions}
        self._conclusion = None

    def apply(self, rule: str, **args) -> "Derivation":
        r = get_rule(rule)
        ctx = rule_context(self.operator, self.definitions)
        try:
            app = r.apply(self.expr, ctx, **args)
        except TypeError as exc:
            raise RuleError(f"{rule}: bad arguments ({exc})") from None
        step = Step(rule=rule, statement=r.statement(), args=tuple(args.items()), before=self.expr,
                    after=app.after, obligations=app.obligations, defines=app.defines)
        self.steps.append(step)
        for d in app.defines:
            self.definitions[d.name] = d
        self.expr = app.after
        return self

    def conclude(self, *, omega: Neighbourhood, channel: sp.Symbol, neighbour) -> "Derivation":
        """Declare the neighbourhood Ω and the aggregation variables of the final Evolution form."""
        self._conclusion = (omega, channel, tuple(neighbour))
        return self

    def proof(self) -> Proof:
        if self._conclusion is None:
            raise RuleError(f"derivation of {self.operator.name} never calls conclude(omega=…, channel=…, neighbour=…)")
        omega, channel, neighbour = self._conclusion
        return Proof(self.operator, tuple(self.steps), omega, channel, neighbour)
