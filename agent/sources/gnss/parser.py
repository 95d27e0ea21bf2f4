"""The NMEA 0183 parser: raw receiver bytes in, fix updates out. Pure: no I/O, no clock reads."""

from __future__ import annotations

from agent.sources.gnss.framing import SentenceFramer
from agent.sources.gnss.merger import FixMerger
from agent.sources.readings import GnssFix


class NmeaParser:
    """Framing (checksums, noise) plus the gpsd-style fix merger, with their counters.

    ``feed(data, t)`` accepts any chunking of the stream; ``t`` is the host time the bytes
    arrived and becomes each fix's ``t``.
    """

    def __init__(self, century: int = 2000) -> None:
        self.framer = SentenceFramer()
        self.merger = FixMerger(century=century)

    def feed(self, data: bytes, t: float) -> list[GnssFix]:
        fixes: list[GnssFix] = []
        update = self.merger.update
        for sentence in self.framer.feed(data):
            fix = update(sentence, t)
            if fix is not None:
                fixes.append(fix)
        return fixes

    def feed_sentence(self, sentence: str, t: float) -> GnssFix | None:
        """One already-framed, checksum-verified sentence (``$GPRMC,...*hh``)."""
        return self.merger.update(sentence, t)

    def flush(self) -> None:
        self.framer.flush()

    def counters(self) -> dict[str, int]:
        """Framing and merging counters in one flat dict (for ``diagnostics()`` and the diag)."""
        out = self.framer.counters.as_dict()
        out.update(self.merger.counters.as_dict())
        out["implausible"] = self.merger.refusals.total  # values dropped (per field: refusals())
        return out

    def refusals(self) -> dict[str, int]:
        """Decoded values dropped as implausible, per field (``gnss.alt``, ``gnss.track``...)."""
        return self.merger.refusals.as_dict()
