"""HOSTILE: calls sys.exit(0) inside derive()."""

import sys

from _wrong import wrong_operator

OPERATOR = wrong_operator("system_exit_in_derive")


def derive(d):
    sys.exit(0)
