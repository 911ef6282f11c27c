"""Writing a derivation: name rules and their arguments; each rule computes the next expression.

    d = Derivation(OPERATOR)
    d.apply("unfold-definition", name="x_pad")
    ...
    d.conclude(omega=Window(...), channel=c, neighbour=(m, n))
    proof = d.proof()
"""

from __future__ import annotations

import sympy as sp

from ..errors import EvosymError, RuleError, TimeLimitExceeded
from ..ir.neighbourhood import Neighbourhood
from ..ir.operator import Operator
from .proof import Proof, rule_context
from .rules import get_rule
from .step import Step


def _check_arguments(rule: str, docs: dict, args: dict) -> None:
    """A ``RuleError`` naming the argument where one the rule declares a Symbol (an index variable), or a list or tuple
    of them, is something else (reindex-sum's new=3, exchange-sums' outer=[]: an IndexError once)."""
    for name, value in args.items():
        kind = docs.get(name, ("",))[0]
        if value is None and kind.endswith(", optional"):
            continue
        kind = kind.removesuffix(", optional")
        if kind == "Symbol" and not isinstance(value, sp.Symbol):
            raise RuleError(f"{rule}: {name} must be a Symbol (an index variable), not {value!r}")
        if kind in ("list of Symbols", "tuple of Symbols") and not (
                isinstance(value, (list, tuple)) and value and all(isinstance(v, sp.Symbol) for v in value)):
            raise RuleError(f"{rule}: {name} must be a non-empty {kind.split()[0]} of Symbols (index variables), not "
                            f"{value!r}")


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
        _check_arguments(rule, r.argument_docs, args)
        try:
            app = r.apply(self.expr, ctx, **args)
        except (EvosymError, TimeLimitExceeded):
            raise
        except TypeError as exc:
            raise RuleError(f"{rule}: bad arguments ({exc})") from None
        except Exception as exc:   # (arguments of the right kinds that still do not fit: the replay says the same)
            raise RuleError(f"{rule}: its arguments do not fit the rule ({type(exc).__name__}: {exc}); "
                            f"`evosym rules` describes them") from None
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
