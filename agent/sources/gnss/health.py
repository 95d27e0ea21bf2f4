"""Is the receiver link healthy? A pure state machine fed with monotonic timestamps.

Healthy means NMEA sentences (checksummed, not just bytes) keep arriving. The link turns
unhealthy on a port fault (cannot open, I/O error) or when no sentence came for
``stall_timeout_s`` (receiver hung, wrong baud rate, cable cut but port still present); it turns
healthy again with the next sentence. Only transitions are reported, so a fault is announced
once, however long it lasts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkChange:
    ok: bool
    detail: str


class LinkHealth:
    def __init__(self, stall_timeout_s: float) -> None:
        self.stall_timeout_s = stall_timeout_s
        self.ok: bool | None = None  # None until the first sentence or fault
        self._last_sentence: float | None = None
        self._since: float | None = None  # when the current connection was opened
        self._last_bytes: float | None = None

    def connected(self, now: float) -> None:
        """The port was (re)opened: the stall clock starts now."""
        self._since = now
        self._last_sentence = None
        self._last_bytes = None

    def read(self, now: float, nbytes: int, sentences: int) -> LinkChange | None:
        """Call after each read (also an empty one): ``nbytes`` arrived, ``sentences`` parsed."""
        if nbytes > 0:
            self._last_bytes = now
        if sentences > 0:
            self._last_sentence = now
            if self.ok is not True:
                self.ok = True
                return LinkChange(True, "NMEA data flowing")
            return None
        return self._check_stall(now)

    def fault(self, detail: str) -> LinkChange | None:
        """The port could not be opened or failed; reported once per outage."""
        self._since = None
        self._last_sentence = None
        if self.ok is False:
            return None
        self.ok = False
        return LinkChange(False, detail)

    def _check_stall(self, now: float) -> LinkChange | None:
        ref = self._last_sentence if self._last_sentence is not None else self._since
        if ref is None or self.ok is False or now - ref < self.stall_timeout_s:
            return None
        self.ok = False
        garbled = self._last_bytes is not None and self._last_bytes > ref
        hint = " (bytes arrive but no valid sentence: baud rate?)" if garbled else ""
        return LinkChange(False, f"no NMEA sentence for {now - ref:.1f} s{hint}")
