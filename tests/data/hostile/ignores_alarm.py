"""HOSTILE: ignores SIGALRM, SIGTERM and SIGINT, then never returns from derive()."""

import signal

from _wrong import wrong_operator

OPERATOR = wrong_operator("ignores_alarm")


def derive(d):
    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        pass
