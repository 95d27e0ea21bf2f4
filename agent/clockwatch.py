"""Wall-clock steps (NTP/GNSS time set, RTC reset) seen against the monotonic clock.

The shell reads both clocks each tick; this pure function says whether the wall clock moved
by more than elapsed monotonic time allows. A step is reported as hardware event 15 so the
cloud knows timestamps around it are discontinuous.
"""

from __future__ import annotations

from dataclasses import dataclass

CLOCK_JUMP_THRESHOLD_S = 2.0  # smaller corrections are NTP slewing, not steps


@dataclass(frozen=True, slots=True)
class ClockSample:
    wall: float  # time.time()
    mono: float  # time.monotonic()


def clock_step(prev: ClockSample, now: ClockSample,
               threshold_s: float = CLOCK_JUMP_THRESHOLD_S) -> float | None:
    """Seconds the wall clock stepped between the samples (+ forward), or None if it did not."""
    step = (now.wall - prev.wall) - (now.mono - prev.mono)
    return step if abs(step) > threshold_s else None
