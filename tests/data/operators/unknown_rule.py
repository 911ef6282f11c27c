"""An operator file that names a rule that does not exist (a typo of introduce-delta)."""

from evosym.derivations.linear import OPERATOR, n, q, c, N  # noqa: F401


def derive(d):
    d.apply("introduce-delt", targets=[(n, q, 0, N - 1)], within=c)
