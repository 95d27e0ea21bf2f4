"""The CAN source: a reader thread pulls frames off the bus, decodes them, batches readings.

The thread owns the bus and the decoder. Readings reach the event loop in batches (one
``call_soon_threadsafe`` per ``flush_interval_s``, not one per frame: at a saturated bus that
wake-up would cost more than the decoding). A lost adapter (unplugged USB, closed pty) yields
``SourceHealth(ok=False)``; the thread keeps reopening it every ``reconnect_s`` and yields
``SourceHealth(ok=True)`` when it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import can

from agent.errors import ConfigError, SourceError
from agent.health import tallies
from agent.sources.can.bus import open_bus
from agent.sources.can.decoder import J1939Decoder
from agent.sources.readings import Reading
from agent.sources.settings import CanSettings
from agent.sources.threaded import HandOver, ThreadedSource

log = logging.getLogger(__name__)

RECV_TIMEOUT_S = 0.1  # longest a recv blocks: how soon the thread sees a stop request



class CanSource(ThreadedSource):
    """J1939/FMS vehicle signals from a CAN bus (SLCAN serial adapter or SocketCAN)."""

    name = "can"

    def __init__(
        self,
        settings: CanSettings,
        decoder: J1939Decoder | None = None,
        bus_factory: Callable[[], can.BusABC] | None = None,
    ) -> None:
        self._settings = settings
        self._decoder = decoder or J1939Decoder.from_dbc(settings.dbc, source=self.name)
        self._open: Callable[[], can.BusABC] = bus_factory or (
            lambda: open_bus(settings, self._decoder.pgns)
        )
        # Event counts diagnostics() reports: opens, open_failures, disconnects, error_frames,
        # remote_frames, malformed_lines, nacks.
        self.counts: Counter[str] = Counter()
        self._last_frame_t: float | None = None
        self._bus: can.BusABC | None = None

    @classmethod
    def from_settings(cls, settings: CanSettings) -> CanSource | None:
        """The source the settings ask for, or ``None`` when ``backend = "none"``.

        Raises :class:`ConfigError` when the configured DBC cannot be loaded (a bad file is a
        configuration problem: systemd must not restart-loop on it).
        """
        if settings.backend == "none":
            return None
        try:
            return cls(settings)
        except SourceError as exc:
            raise ConfigError(f"[vehicle.can] dbc: {exc}") from exc

    @property
    def decoder(self) -> J1939Decoder:
        return self._decoder

    def read_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        """Open, read, decode until ``stop``; reopen a lost adapter. Runs in its own thread."""
        s = self._settings
        while not stop.is_set():
            try:
                bus = self._open()
            except Exception as exc:  # CanError, SerialException/OSError, ValueError
                self.counts["open_failures"] += 1
                self.report_health(False, f"cannot open {s.backend} {s.channel}: {exc}", hand_over)
                stop.wait(s.reconnect_s)
                continue
            self.counts["opens"] += 1
            self._bus = bus
            self.report_health(True, f"{s.backend} {s.channel} open", hand_over)
            try:
                self._pump(bus, stop, hand_over)
            except (can.CanError, OSError, ValueError) as exc:
                self.counts["disconnects"] += 1
                self.report_health(False, f"{s.backend} {s.channel} lost: {exc}", hand_over)
            finally:
                self._bus = None
                self.counts["malformed_lines"] += getattr(bus, "malformed_lines", 0)
                self.counts["nacks"] += getattr(bus, "nacks", 0)
                with suppress(Exception):  # the port may be gone already
                    bus.shutdown()

    def _pump(self, bus: can.BusABC, stop: threading.Event, hand_over: HandOver) -> None:
        decode = self._decoder.decode
        recv = bus.recv
        interval = self._settings.flush_interval_s
        monotonic = time.monotonic
        batch: list[Reading] = []
        next_flush = monotonic() + interval
        try:
            while not stop.is_set():
                msg = recv(RECV_TIMEOUT_S)
                if msg is not None:
                    if msg.is_error_frame:
                        self.counts["error_frames"] += 1
                    elif msg.is_remote_frame:
                        self.counts["remote_frames"] += 1
                    else:
                        readings = decode(
                            msg.arbitration_id, msg.data, msg.timestamp, msg.is_extended_id)
                        if readings:
                            batch.extend(readings)
                    self._last_frame_t = msg.timestamp
                now = monotonic()
                if now >= next_flush:
                    if batch:
                        hand_over(batch)
                        batch = []
                    next_flush = now + interval
        finally:
            if batch:
                hand_over(batch)


    def diagnostics(self) -> dict[str, object]:
        bus: Any = self._bus
        out: dict[str, object] = {
            "backend": self._settings.backend,
            "channel": self._settings.channel,
            "bitrate": self._settings.bitrate,
            "up": self._up,
            **tallies(self.counts, "opens", "open_failures", "disconnects", "error_frames",
                      "remote_frames"),
            "malformed_lines": self.counts["malformed_lines"] + getattr(bus, "malformed_lines", 0),
            "adapter_nacks": self.counts["nacks"] + getattr(bus, "nacks", 0),
            "last_error": self._last_error,
            "last_frame_t": self._last_frame_t,
        }
        out.update(self._decoder.counters())
        return out
