"""The GNSS serial source: a reader thread owns the port and the parser, fixes go to the loop.

The thread opens the port with pyserial, reads whatever arrived (stamping it with the host
clock once per read), feeds the pure :class:`NmeaParser` and hands the resulting readings to
the event loop with one ``call_soon_threadsafe`` per read. Like gpsd it may report an epoch
more than once (after GSA/GSV/VTG); an update identical to the previous one is not re-sent.

It survives unplug/replug: a port that cannot be opened or fails yields
``SourceHealth(ok=False, source="gnss")`` once, the thread retries with exponential backoff
(``reconnect_min_s`` doubling up to ``reconnect_max_s``), and ``SourceHealth(ok=True)``
follows when sentences flow again. A port that stays open but goes quiet for
``stall_timeout_s`` is reported the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from typing import Any

import serial

from agent.health import tallies
from agent.sources.gnss.health import LinkChange, LinkHealth
from agent.sources.gnss.parser import NmeaParser
from agent.sources.readings import GnssFix, Reading, SourceHealth
from agent.sources.settings import GnssSettings
from agent.sources.threaded import HandOver, ThreadedSource

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.2  # longest a read blocks: bounds stop latency and stall-check granularity
READ_MAX = 4096


class GnssSerialSource(ThreadedSource):
    """Fixes (:class:`~agent.sources.readings.GnssFix`) from an NMEA receiver on a serial port."""

    name = "gnss"

    def __init__(
        self,
        port: str,
        baudrate: int = 9600,
        *,
        stall_timeout_s: float = 5.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        century: int = 2000,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self._parser = NmeaParser(century=century)
        self._health = LinkHealth(stall_timeout_s)
        self._wall = wall_clock
        self._serial: Any = None  # the open serial.Serial, for cancel_read from the loop
        # Event counts diagnostics() reports: opens, open_failures, disconnects, fixes,
        # unchanged.
        self.counts: Counter[str] = Counter()
        self._last_error = ""
        self._last_fix_t: float | None = None
        self._last_sent: GnssFix | None = None

    @classmethod
    def from_settings(cls, settings: GnssSettings) -> GnssSerialSource | None:
        """The source the ``[vehicle.gnss]`` settings ask for, ``None`` for ``backend="none"``."""
        if settings.backend == "none":
            return None
        return cls(
            settings.port,
            settings.baudrate,
            stall_timeout_s=settings.stall_timeout_s,
            reconnect_min_s=settings.reconnect_min_s,
            reconnect_max_s=settings.reconnect_max_s,
        )

    # --- reader thread -----------------------------------------------------------------

    def wake(self) -> None:
        port = self._serial
        if port is not None:
            with suppress(Exception):
                port.cancel_read()  # wake a blocked read now rather than at its timeout

    def read_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        backoff = self.reconnect_min_s
        self._health.ok = None  # a restart after a crash (reported down) must report data again
        while not stop.is_set():
            try:
                port = serial.Serial(self.port, self.baudrate, timeout=READ_TIMEOUT_S)
            except (serial.SerialException, OSError, ValueError) as exc:
                self.counts["open_failures"] += 1
                self._fault(f"cannot open {self.port}: {exc}", hand_over)
                stop.wait(backoff)
                backoff = min(backoff * 2, self.reconnect_max_s)
                continue
            self.counts["opens"] += 1
            self._serial = port
            log.info("gnss: %s open at %d bd", self.port, self.baudrate)
            self._health.connected(time.monotonic())
            try:
                if self._pump(port, stop, hand_over):
                    backoff = self.reconnect_min_s  # it worked for a while: retry quickly
            except (serial.SerialException, OSError) as exc:
                self.counts["disconnects"] += 1
                self._fault(f"{self.port} lost: {exc}", hand_over)
            finally:
                self._serial = None
                with suppress(Exception):
                    port.close()
                self._parser.flush()  # a line cut by the disconnect must not glue to new data
            if not stop.is_set():
                stop.wait(backoff)
                backoff = min(backoff * 2, self.reconnect_max_s)

    def _pump(self, port: Any, stop: threading.Event,
              hand_over: Callable[[list[Reading]], None]) -> bool:
        """Read until stopped or the port fails; True if any sentence was received."""
        framing = self._parser.framer.counters
        got_any = False
        while not stop.is_set():
            data: bytes = port.read(max(1, min(port.in_waiting, READ_MAX)))
            t = self._wall()
            before = framing.sentences
            batch: list[Reading] = self._changed(self._parser.feed(data, t)) if data else []
            count = framing.sentences - before
            got_any = got_any or count > 0
            change = self._health.read(time.monotonic(), len(data), count)
            if change is not None:
                batch.insert(0, self._health_reading(change, t))
            if batch:
                fixes = len(batch) - (change is not None)
                if fixes:
                    self.counts["fixes"] += fixes
                    self._last_fix_t = t
                hand_over(batch)
        return got_any

    def _changed(self, fixes: list[GnssFix]) -> list[Reading]:
        """Drop updates identical to the last one sent (gpsd re-reports an epoch after GSA and
        GSV; when those change nothing, one fix per epoch reaches the loop)."""
        out: list[Reading] = []
        for fix in fixes:
            last = self._last_sent
            if last is not None and replace(last, t=fix.t) == fix:
                self.counts["unchanged"] += 1
                continue
            self._last_sent = fix
            out.append(fix)
        return out

    def _fault(self, detail: str, hand_over: Callable[[list[Reading]], None]) -> None:
        self._last_error = detail
        change = self._health.fault(detail)
        if change is not None:
            log.warning("gnss: %s", detail)
            hand_over([self._health_reading(change, self._wall())])

    def _health_reading(self, change: LinkChange, t: float) -> SourceHealth:
        if change.ok:
            log.info("gnss: %s", change.detail)
        else:
            self._last_error = change.detail
        return SourceHealth(t=t, source=self.name, ok=change.ok, detail=change.detail)

    def diagnostics(self) -> dict[str, object]:
        return {
            "port": self.port,
            "baudrate": self.baudrate,
            "link_ok": self._health.ok,
            **tallies(self.counts, "opens", "open_failures", "disconnects", "fixes"),
            "unchanged_updates_dropped": self.counts["unchanged"],
            "last_fix_t": self._last_fix_t,
            "last_error": self._last_error,
            "nmea": self._parser.counters(),
            "implausible": self._parser.refusals(),
        }
