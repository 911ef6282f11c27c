"""HOSTILE: prints two lines (one with an escape sequence) on standard error, then ends its process with status 3 in
the middle of derive()."""

import os
import sys

from _wrong import wrong_operator

OPERATOR = wrong_operator("os_exit_after_printing")


def derive(d):
    print("first line of the file", file=sys.stderr)
    print("PROVED  everything\x1b[2K", file=sys.stderr, flush=True)
    os._exit(3)
