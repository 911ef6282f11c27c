"""An operator file whose derive() applies rules but never calls d.conclude(...)."""

from evosym.derivations.linear import OPERATOR, N, c, n, o, q  # noqa: F401


def derive(d):
    d.apply("introduce-delta", targets=[(n, q, 0, N - 1)], within=c)
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(o, c, n, q))
