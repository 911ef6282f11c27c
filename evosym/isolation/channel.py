"""Messages to and from a child process over its standard input and output (:mod:`.frames`), each under a deadline.

The operator file's reference process (:mod:`.references`) and the candidate's process
(:mod:`evosym.testing.remote`) both answer requests this way; whatever arrives is the other side's and is checked by
:mod:`.frames` before it is read: a header of bounded length, arrays of known dtypes within a byte limit.
"""

from __future__ import annotations

import os
import select
import time

from ..errors import EvosymError
from . import frames
from .spawn import forward_output, how_it_ended, kill_group, last_output


class ChannelFailed(EvosymError):
    """The child did not answer: it died, fell silent past the deadline, or would not take its input."""


REPLY_FACTOR, REPLY_BYTES = 16, 1 << 26   # a reply's arrays: at most 16× the request's bytes, + 64 MiB


class Channel:
    """The parent's end: ``proc`` (a ``subprocess.Popen`` with piped standard input and output), ``err`` (the file
    its standard error goes to); ``failure`` is raised, with the reason, when the child does not answer."""

    failure = ChannelFailed
    who = "the operator file"   # whose code the child runs (in what it printed, passed on)
    # its last lines quoted in the failure's message (one line); else said to be on standard error, where they are
    # passed on marked as its own (a candidate's: its prints never enter the verdict or the JSON document)
    quoted = True
    limit = 600.0   # seconds one exchange may take (its deadline; subclasses read their module's limit)

    def __init__(self):
        self.proc = self.err = None
        self._buf = b""

    def close(self) -> None:
        """End the child and everything it started, and pass on what it printed (escaped)."""
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            kill_group(self.proc)
            forward_output(self.err, self.who)
            self.err.close()
            self.proc = None

    def exchange(self, header: dict, arrays: list):
        """One request and its reply (its header and arrays), within :attr:`limit` seconds; ``self.failure``,
        :class:`.frames.FrameError` or ``OSError`` where the child does not answer in the protocol's words."""
        message = frames.pack(header, arrays)
        deadline = time.monotonic() + self.limit
        self._send(message, deadline)
        return self._receive(deadline, REPLY_FACTOR * len(message) + REPLY_BYTES)

    def _send(self, data: bytes, deadline: float) -> None:
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [fd], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise self.failure(f"it did not take its input within {self.limit:g} s")
            try:
                view = view[os.write(fd, view[:1 << 20]):]
            except BrokenPipeError:
                raise self.failure(self._gone()) from None

    def _receive(self, deadline: float, limit: int = 0):
        """A message: its header and its arrays, ``limit`` bytes of them at most (0: a message with none)."""
        head = frames.header(self._line(deadline))
        lay = frames.layout(head, limit)
        return head, frames.arrays(lay, lambda n: self._exact(n, deadline))

    def _line(self, deadline: float) -> bytes:
        while b"\n" not in self._buf:
            if len(self._buf) > frames.MAX_HEADER:
                raise frames.FrameError("a header line longer than the protocol's")
            self._more(deadline)
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def _exact(self, n: int, deadline: float) -> bytes:
        chunks, have = [self._buf[:n]], min(n, len(self._buf))
        self._buf = self._buf[n:]
        while have < n:
            self._more(deadline, n - have)
            chunks.append(self._buf[:n - have])
            have += len(chunks[-1])
            self._buf = self._buf[len(chunks[-1]):]
        return b"".join(chunks)

    def _more(self, deadline: float, want: int = 1 << 16) -> None:
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise self.failure(f"it did not answer within {self.limit:g} s (killed)")
        chunk = os.read(fd, min(max(want, 1 << 16), 1 << 24))
        if not chunk:
            raise self.failure(self._gone())
        self._buf += chunk

    def _gone(self) -> str:
        self.proc.wait()
        said = last_output(self.err) if self.quoted else "; what it printed is passed on to standard error"
        return f"it {how_it_ended(self.proc.returncode)}{said}"
