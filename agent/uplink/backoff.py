"""Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and
Jitter"): the n-th consecutive failure waits ``uniform(0, min(max_s, initial_s * 2**n))``.

Full jitter spreads a fleet's retries after an outage instead of synchronising them. Pure: the
random source is injected, no clock is read.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(
        self,
        initial_s: float,
        max_s: float,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if initial_s <= 0 or max_s <= 0:
            raise ValueError("backoff bounds must be > 0")
        self.initial_s = initial_s
        self.max_s = max(max_s, initial_s)
        self._uniform = uniform
        self.failures = 0

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        # Exponent capped so 2**n never overflows a float on a very long outage.
        return min(self.max_s, self.initial_s * 2.0 ** min(self.failures, 64))

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait before the next attempt."""
        delay = self._uniform(0.0, self.ceiling())
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
