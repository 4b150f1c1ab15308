"""Event ids: time-ordered UUIDs drawn from a page of OS entropy."""

from __future__ import annotations

import os
import threading
import time


class _Entropy:
    """Random bytes drawn from the OS a page at a time: one system call per few hundred ids, not one each."""

    def __init__(self, page: int = 4096) -> None:
        self._page = page
        self._buffer = b""
        self._at = 0
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)  # a forked child must not reuse the parent's bytes

    def _forget(self) -> None:
        self._buffer, self._at = b"", 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._buffer):
                self._buffer, self._at = os.urandom(self._page), 0
            start = self._at
            self._at += n
            return self._buffer[start : self._at]


_ENTROPY = _Entropy()


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7) for event ids.

    Ids that grow with time go to the right-hand end of the event-id indexes instead of
    a random page each, which keeps appends and projections cheaper as the log grows.
    """
    raw = bytearray((time.time_ns() // 1_000_000 & 0xFFFFFFFFFFFF).to_bytes(6, "big") + _ENTROPY.take(10))
    raw[6] = 0x70 | raw[6] & 0x0F  # version 7
    raw[8] = 0x80 | raw[8] & 0x3F  # variant 0b10
    h = raw.hex()  # str(UUID(bytes=raw)), without building the object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
