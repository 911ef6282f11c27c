"""An operator file that imports a module that does not exist (line 5)."""

from evosym.derivations.linear import OPERATOR  # noqa: F401

import evosym_no_such_module  # noqa: E402,F401


def derive(d):
    pass
