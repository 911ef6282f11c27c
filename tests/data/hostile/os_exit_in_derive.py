"""HOSTILE: ends its process with status 0 in the middle of derive(), skipping every handler."""

import os

from _wrong import wrong_operator

OPERATOR = wrong_operator("os_exit_in_derive")


def derive(d):
    os._exit(0)
