"""HOSTILE: raises a BaseException that is not an Exception (KeyboardInterrupt) inside derive()."""

from _wrong import wrong_operator

OPERATOR = wrong_operator("base_exception")


def derive(d):
    raise KeyboardInterrupt("from the operator file")
