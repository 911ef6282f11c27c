"""HOSTILE: forks a grandchild that outlives derive() unless the whole process group is ended, then hangs."""

import os
import time

from _wrong import wrong_operator

OPERATOR = wrong_operator("forks_sleeper")


def derive(d):
    if os.fork() == 0:
        time.sleep(300)
        os._exit(0)
    while True:
        time.sleep(1)
