"""Failed authentication attempts, limited per client address.

A sliding window: after ``max_failures`` failures within ``window`` seconds, an address is
refused (429) until the oldest of them leaves the window. Only failures count: a client
that sends no credentials (pip's first, anonymous request) or valid ones is never slowed.
Kept in each process's memory, bounded to ``max_addresses`` (the least recently failing
address is forgotten first), so a flood of spoofed sources cannot exhaust memory; with N
worker processes or replicas an address gets N times the budget, which still turns guessing
a 256-bit secret from hopeless into more hopeless, and keeps argon2's CPU cost bounded.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW = 60.0
DEFAULT_MAX_ADDRESSES = 10_000


class FailureLimiter:
    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window: float = DEFAULT_WINDOW,
        *,
        max_addresses: int = DEFAULT_MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window <= 0 or max_addresses < 1:
            raise ValueError("max_failures, window and max_addresses must be positive")
        self._max = max_failures
        self._window = window
        self._max_addresses = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until ``address`` may try again, or ``None`` if it may now."""
        stamps = self._failures.get(address)
        if stamps is None or len(stamps) < self._max:
            return None
        wait = stamps[0] + self._window - self._clock()
        if wait <= 0:
            return None
        return max(1, math.ceil(wait))

    def failed(self, address: str) -> None:
        now = self._clock()
        stamps = self._failures.pop(address, None)
        if stamps is None:
            stamps = deque(maxlen=self._max)
        while stamps and stamps[0] + self._window <= now:
            stamps.popleft()
        stamps.append(now)
        self._failures[address] = stamps
        while len(self._failures) > self._max_addresses:
            self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)


__all__ = ["DEFAULT_MAX_FAILURES", "DEFAULT_WINDOW", "FailureLimiter"]
