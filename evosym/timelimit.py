"""A wall-clock limit on a block of our own code (the checker's process runs no user code, so a signal is enough).

User code is limited differently: it runs in a child process that the parent kills
(:mod:`evosym.isolation`), because code can ignore a signal.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from .errors import TimeLimitExceeded


DEFAULT = 600.0   # seconds: the default limit per operator (``--time-limit``), and that of commands without one


@contextmanager
def time_limit(seconds: float | None, what: str):
    """Raise :class:`TimeLimitExceeded` if the block runs longer than ``seconds`` (main thread, POSIX; elsewhere the
    block runs unlimited: a signal reaches only the main thread)."""
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise TimeLimitExceeded(f"{what} did not finish within {seconds:g} s (raise the limit with --time-limit)")
    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
