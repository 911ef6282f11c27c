"""HOSTILE: forks a grandchild that outlives derive() unless the whole process group is ended (where the fork is
refused, as in the confined worker, it hangs all the same)."""

import os
import time

from _wrong import wrong_operator

OPERATOR = wrong_operator("forks_sleeper")


def derive(d):
    try:
        if os.fork() == 0:
            time.sleep(300)
            os._exit(0)
    except PermissionError:
        pass
    while True:
        time.sleep(1)
