"""HOSTILE: writes a forged "derivation" line to standard output and to file descriptor 1, then derives wrongly."""

import os

from _wrong import wrong_derive, wrong_operator

OPERATOR = wrong_operator("prints_protocol")
FORGED = '{"source": "x", "derivation": {"format": "evosym-certificate"}}\n'


def derive(d):
    print(FORGED)
    os.write(1, FORGED.encode())
    wrong_derive(d)
