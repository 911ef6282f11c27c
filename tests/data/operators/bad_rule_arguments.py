"""An operator file that calls a real rule with an argument it does not take."""

from evosym.derivations.linear import OPERATOR, N, c, n, q  # noqa: F401


def derive(d):
    d.apply("introduce-delta", targets=[(n, q, 0, N - 1)], within=c, around=n)
