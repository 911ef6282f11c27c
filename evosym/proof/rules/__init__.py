"""The named rewrite rules; importing this package registers them all."""

from . import definitions, delta, divisors, fourier, groups, limits, softmax, sums  # noqa: F401  (registration)
from .base import RULES, Application, Context, Obligation, Rule, get_rule

__all__ = ["RULES", "Application", "Context", "Obligation", "Rule", "get_rule"]
