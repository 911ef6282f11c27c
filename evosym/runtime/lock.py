"""An exclusive file lock (``fcntl.flock``) per kernel-cache key.

Why: without it, N processes that first use the same kernel on an empty cache all compile it (and a
CUDA build takes minutes). With it, the first one compiles while the others wait, then find the
entry valid and load it. The kernel drops a ``flock`` when its holder exits, however it exits
(SIGKILL included), so a crashed build never leaves the cache locked. The lock only saves work:
publication is atomic anyway, so where a file system cannot lock (some network mounts) the build
goes on unlocked rather than failing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
import warnings
from pathlib import Path

from .cache import KernelCacheWarning
from .errors import EvosymError

# the longest wait for another process's build (a large CUDA source on a busy machine takes minutes)
TIMEOUT = 1800.0


NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
WAIT_SAID = 5.0   # seconds of waiting after which the wait is said (once)


def _open(path: Path, again: bool = True) -> int:
    """A descriptor of the lock file, created with the umask's permissions; read-only where another
    user created it (``flock`` works on a read-only descriptor). A symbolic link there is removed, never followed
    (it created an empty file outside the cache: an adversarial pass), and so is an empty folder."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | NOFOLLOW, 0o666)
    except PermissionError:
        try:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC | NOFOLLOW)
        except OSError as exc:
            raise EvosymError(f"cannot open the kernel-cache lock {path}: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR) and again:   # (a link or an empty folder there: removed)
            try:
                os.rmdir(path) if exc.errno == errno.EISDIR else os.unlink(path)
            except OSError:
                pass
            return _open(path, again=False)
        raise EvosymError(f"cannot open the kernel-cache lock {path}: {exc.strerror}") from None


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = TIMEOUT):
    """Hold an exclusive lock on ``path`` (created if missing) for the block; wait at most
    ``timeout`` seconds for another holder, then a clear error naming the lock file."""
    fd = _open(path)
    try:
        start = time.monotonic()
        deadline, delay, said = start + timeout, 0.005, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise EvosymError(f"waited {timeout:g} s for the kernel-cache lock {path} (another "
                                      "process is building that kernel)") from None
                if not said and time.monotonic() - start >= WAIT_SAID:
                    said = True
                    warnings.warn(f"evosym: waiting for the kernel-cache lock {path}: another process is building "
                                  f"this kernel (at most {timeout:g} s)", KernelCacheWarning, stacklevel=3)
                time.sleep(delay)
                delay = min(2 * delay, 0.2)
            except OSError as exc:
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                    break   # no locks on this file system: build unlocked (publication stays atomic)
                raise EvosymError(f"cannot lock {path}: {exc.strerror}") from None
        yield
    finally:
        os.close(fd)   # releases the lock
