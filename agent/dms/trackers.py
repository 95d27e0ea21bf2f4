"""Small pure trackers the DMS policy is built from: time-weighted, never frame-counted.

Every tracker is fed the frame time ``t`` (epoch seconds) and, where it integrates, the
frame's duration ``dt`` (already clipped by the caller to ``max_frame_gap_s``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum


class EyeState(IntEnum):
    UNKNOWN = 0  # no face, eyes not measured, or no baseline yet: never "closed"
    OPEN = 1
    CLOSED = 2


class FirstOrderFilter:
    """openpilot's ``FirstOrderFilter``: ``x += k (u - x)`` with ``k = dt / (tau + dt)``."""

    def __init__(self, x0: float = 0.0) -> None:
        self.x = x0

    def update(self, u: float, dt: float, tau: float) -> float:
        if dt > 0:
            k = dt / (tau + dt)
            self.x += k * (u - self.x)
        return self.x


class Hysteresis:
    """A boolean that turns on above ``enter`` and off below ``leave``."""

    def __init__(self) -> None:
        self.on = False

    def update(self, level: float, enter: float, leave: float) -> bool:
        if not self.on and level > enter:
            self.on = True
        elif self.on and level < leave:
            self.on = False
        return self.on


class PerclosTracker:
    """Closed time / valid time over a rolling window; no-face and unmeasured time excluded."""

    def __init__(self) -> None:
        self._segments: deque[tuple[float, float, bool]] = deque()  # t_end, dt, closed
        self.closed_s = 0.0
        self.valid_s = 0.0

    def update(self, t: float, dt: float, state: EyeState, window_s: float) -> None:
        if dt > 0 and state != EyeState.UNKNOWN:
            closed = state == EyeState.CLOSED
            self._segments.append((t, dt, closed))
            self.valid_s += dt
            if closed:
                self.closed_s += dt
        segs = self._segments
        while segs and segs[0][0] <= t - window_s:
            _, old_dt, old_closed = segs.popleft()
            self.valid_s -= old_dt
            if old_closed:
                self.closed_s -= old_dt
        if not segs:  # keep float drift from accumulating
            self.valid_s = self.closed_s = 0.0

    def coverage(self, window_s: float) -> float:
        return min(1.0, self.valid_s / window_s)

    def perclos(self, window_s: float, min_coverage: float) -> float | None:
        """The fraction closed, or ``None`` while valid time covers < ``min_coverage``."""
        if self.valid_s <= 0 or self.coverage(window_s) < min_coverage:
            return None
        return max(0.0, min(1.0, self.closed_s / self.valid_s))


@dataclass(frozen=True, slots=True)
class Closure:
    """One finished closure episode (first closed frame to first open frame)."""

    start: float
    end: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start


class ClosureTracker:
    """Continuous closure of an eye (or of both): how long it has been shut right now.

    An UNKNOWN frame never extends a closure; a gap of unknown frames up to ``bridge_s`` is
    tolerated if the eye is seen closed again, otherwise the episode is dropped (its length is
    not known, so it is neither a blink nor a microsleep).
    """

    def __init__(self) -> None:
        self.start: float | None = None
        self._last_closed = 0.0

    def update(self, t: float, state: EyeState, bridge_s: float,
               max_gap_s: float = float("inf")) -> Closure | None:
        """Returns the episode that ended on this frame, if any.

        Closed frames further apart than ``max_gap_s`` (a camera or pipeline stall) do not
        make one episode: the time between was not measured.
        """
        if state == EyeState.CLOSED:
            if self.start is None or t - self._last_closed > max_gap_s:
                self.start = t
            self._last_closed = t
            return None
        if self.start is None:
            return None
        if state == EyeState.OPEN:
            done = Closure(self.start, t)
            self.start = None
            return done
        if t - self._last_closed > bridge_s:
            self.start = None
        return None

    def duration(self, t: float) -> float:
        return t - self.start if self.start is not None else 0.0


class BlinkCounter:
    """Finished closures in a rolling window: blinks (short, long) for the per-minute rate."""

    def __init__(self) -> None:
        self._blinks: deque[Closure] = deque()
        self.total = 0
        self.total_long = 0

    def add(self, c: Closure, min_s: float, long_s: float, max_s: float) -> bool:
        """Counts ``c`` if it is a blink (``min_s <= duration < max_s``); returns whether."""
        if not (min_s <= c.duration_s < max_s):
            return False
        self._blinks.append(c)
        self.total += 1
        if c.duration_s > long_s:
            self.total_long += 1
        return True

    def trim(self, t: float, window_s: float) -> None:
        while self._blinks and self._blinks[0].end <= t - window_s:
            self._blinks.popleft()

    def in_window(self) -> int:
        return len(self._blinks)

    def long_in_window(self, long_s: float) -> int:
        return sum(1 for c in self._blinks if c.duration_s > long_s)


class GlanceTracker:
    """Off-road time in a rolling window from episodes shorter than the distraction threshold.

    A glance is an off-road episode that ends before it becomes a distraction; the total of
    such glances inside ``window_s`` (the current episode included while still short) is what
    "repeated short glances" measures.
    """

    def __init__(self) -> None:
        self._done: deque[tuple[float, float]] = deque()  # start, end
        self._start: float | None = None

    def update(self, t: float, off_road: bool, max_glance_s: float, window_s: float) -> float:
        if off_road and self._start is None:
            self._start = t
        elif not off_road and self._start is not None:
            if t - self._start < max_glance_s:
                self._done.append((self._start, t))
            self._start = None
        lo = t - window_s
        while self._done and self._done[0][1] <= lo:
            self._done.popleft()
        total = sum(end - max(start, lo) for start, end in self._done)
        if self._start is not None and t - self._start < max_glance_s:
            total += t - max(self._start, lo)
        return total

    def clear(self) -> None:
        self._done.clear()
        self._start = None


class Persistence:
    """How long a condition has held, by elapsed time; ``None`` start while it does not."""

    def __init__(self) -> None:
        self.since: float | None = None

    def update(self, t: float, active: bool) -> float:
        if not active:
            self.since = None
            return 0.0
        if self.since is None:
            self.since = t
        return t - self.since
