"""Failed authentications per client address: too many within a window → 429 with Retry-After.

A wrong API key (on the API) or a refused console sign-in counts against the address
it came from. Once `limit` failures fall within `window` seconds, every authentication
from that address — right key or wrong — is refused until the oldest of them leaves
the window: the guesses stop being answered, so the right key cannot be found by trying.

The counts live in this process's memory: each worker process counts on its own (with
n workers an address gets up to n × limit guesses per window), and a restart forgets
them. Addresses are the TCP peer's, or the proxy's when one is in front (run uvicorn
with `--proxy-headers` and `--forwarded-allow-ips` so that the client's is used).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class AuthThrottle:
    """Counts failed authentications per address; thread-safe."""

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 10_000,
    ) -> None:
        self.limit, self.window = limit, window_seconds
        self._clock = clock
        self._max_addresses = max_addresses  # the least recently failing are forgotten first
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may authenticate again, if it has failed too often; else None."""
        if address not in self._failures:  # the common case, without taking the lock
            return None
        with self._lock:
            failures = self._recent(address)
            if len(failures) < self.limit:
                return None
            return max(1, int(failures[-self.limit] + self.window - self._clock()) + 1)

    def failed(self, address: str) -> None:
        """Count one failed authentication from `address`."""
        with self._lock:
            failures = self._recent(address)
            failures.append(self._clock())
            self._failures[address] = failures
            self._failures.move_to_end(address)
            while len(self._failures) > self._max_addresses:
                self._failures.popitem(last=False)

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures.get(address) or deque(maxlen=self.limit)
        horizon = self._clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            self._failures.pop(address, None)
        return failures
