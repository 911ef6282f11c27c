"""HOSTILE: writes a correct derivation, renamed '../escaped', straight to the protocol pipe, then exits.

The operator file finds the pipe the parent reads (any pipe among its file descriptors other than 0, 1
and 2) and hands back data it made up: the parent must check it like any other, and refuse a name that
would write the certificate outside --certificates DIR.
"""

import os
import sys

from evosym.derivations import linear
from evosym.proof.certificate import derivation
from evosym.proof.derivation import Derivation

d = Derivation(linear.OPERATOR)
linear.derive(d)
data = derivation(d.proof())
data["operator"]["name"] = "../escaped"
line = ('{"derivation": %s, "source": %s}\n' % (__import__("json").dumps(data), __import__("json").dumps(sys.argv[1])))
for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
    try:
        if fd > 2 and os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
            os.write(fd, line.encode())
    except OSError:
        pass
os._exit(0)
