"""The OBD-II source: a thread polls an ELM327 adapter and hands readings to the event loop.

Session: open the port, initialise the adapter, discover the supported PIDs, then poll the
agent's PIDs every ``poll_interval_s`` and the stored trouble codes every ``dtc_interval_s``.

Health is the *adapter's*: ``SourceHealth(ok=False)`` when the port cannot be opened, is lost
(unplugged), or the adapter stops answering (no ``>`` prompt for ``max_consecutive_errors``
requests in a row, or a refused AT command); the port is then closed and reopened every
``reconnect_s``, and ``SourceHealth(ok=True)`` follows once an adapter initialises again.
A vehicle that does not answer (ignition off: ``UNABLE TO CONNECT``, ``NO DATA``,
``CAN ERROR`` ... for ``max_consecutive_errors`` requests) is not an adapter fault, or every
parked night would raise a CAN/OBD fault event: it is shown in ``diagnostics()``
(``vehicle_responding``) and the source asks for PID 00 again every ``reconnect_s`` until the
vehicle answers. A PID the vehicle declares but never answers is dropped after
``NO_DATA_LIMIT`` ``NO DATA`` in a row, until the vehicle is found again. A decoded value
outside :data:`agent.sources.plausibility.LIMITS` (e.g. PID 42 reads up to 65.5 V) is dropped
and counted in ``diagnostics()["implausible"]``; the adapter did answer, so it is no failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from agent.health import tallies
from agent.sources.obd.elm327 import Elm327, ElmError, ElmStoppedError, ElmTimeoutError
from agent.sources.obd.pids import POLLED_PIDS, Pid
from agent.sources.obd.session import ObdInfo, ObdSession
from agent.sources.plausibility import Refusals
from agent.sources.readings import (
    Reading,
    SignalReading,
    TroubleCodes,
)
from agent.sources.serialport import SerialPort
from agent.sources.settings import ObdSettings
from agent.sources.threaded import HandOver, SerialDeviceSource

log = logging.getLogger(__name__)

NO_DATA_LIMIT = 10



class _VehicleSilentError(ElmError):
    """Requests keep failing with error replies: ignition off, or the bus went away."""

    def __init__(self, detail: str) -> None:
        super().__init__("vehicle_silent", detail)


class ObdSource(SerialDeviceSource):
    """Vehicle signals and stored DTCs from OBD-II through an ELM327 serial adapter."""

    name = "obd"

    def __init__(
        self, settings: ObdSettings, port_factory: Callable[[], SerialPort] | None = None,
    ) -> None:
        super().__init__(settings.port, settings.baudrate, settings.reconnect_s, port_factory)
        self._settings = settings
        self._info: ObdInfo | None = None
        self._version = ""
        self._vehicle_responding: bool | None = None
        self._vehicle_detail = ""
        self._errors: Counter[str] = Counter()
        # counts (diagnostics()) also has sessions, readings, dtc_reads.
        self._last_values: dict[str, float] = {}
        self._last_dtcs: tuple[str, ...] | None = None
        self._dropped_pids: set[int] = set()
        self._refusals = Refusals()

    @classmethod
    def from_settings(cls, settings: ObdSettings) -> ObdSource | None:
        """The source the settings ask for, or ``None`` when ``backend = "none"``."""
        return None if settings.backend == "none" else cls(settings)

    def read_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        """Sessions until ``stop``, reopening after a loss. Runs in its own thread."""
        s = self._settings
        # ElmError out of a session: timeouts, a refused AT command: the adapter itself.
        self.port_sessions(
            stop, hand_over,
            lambda port: self._session(Elm327(port, s.command_timeout_s, stop), stop, hand_over),
            kind="adapter", stopped=ElmStoppedError, silent=ElmError,
        )

    def _session(self, elm: Elm327, stop: threading.Event, hand_over: HandOver) -> None:
        """Adapter up: find the vehicle, poll it; back to finding it whenever it goes quiet."""
        s = self._settings
        session = ObdSession(elm, s.connect_timeout_s)
        session.errors = self._errors  # one tally across sessions
        self.counts["sessions"] += 1
        version = session.initialize()
        self._version = version
        self.report_health(True, f"{version} on {s.port}", hand_over)
        while not stop.is_set():
            try:
                info = session.discover(version)
            except ElmTimeoutError:
                raise  # no prompt at all: the adapter, not the vehicle
            except ElmError as exc:
                self._vehicle(False, str(exc))
                stop.wait(s.reconnect_s)
                continue
            self._info = info
            plan = [p for p in POLLED_PIDS if p.pid in info.supported]
            self._vehicle(True, f"protocol {info.protocol}, polling "
                                f"{' '.join(f'01{p.pid:02X}' for p in plan) or 'nothing'}")
            try:
                self._poll(session, plan, stop, hand_over)
            except _VehicleSilentError as exc:
                self._vehicle(False, str(exc))
                stop.wait(s.reconnect_s)

    def _poll(self, session: ObdSession, plan: list[Pid], stop: threading.Event,
              hand_over: HandOver) -> None:
        s = self._settings
        elm = session.elm
        self._dropped_pids.clear()
        no_data: Counter[int] = Counter()
        failures = timeouts = 0  # in a row
        next_dtc = time.monotonic()
        while not stop.is_set():
            batch: list[Reading] = []
            for pid in plan:
                if pid.pid in self._dropped_pids or stop.is_set():
                    continue
                try:
                    value = session.read_pid(pid)
                except ElmStoppedError:
                    raise
                except ElmTimeoutError:
                    elm.resync()
                    failures += 1
                    timeouts += 1
                except ElmError as exc:
                    failures += 1
                    timeouts = 0
                    if exc.kind == "no_data":
                        no_data[pid.pid] += 1
                        if no_data[pid.pid] >= NO_DATA_LIMIT:
                            self._dropped_pids.add(pid.pid)
                            log.info("OBD PID 01%02X dropped: %d NO DATA in a row",
                                     pid.pid, NO_DATA_LIMIT)
                else:
                    failures = timeouts = 0
                    no_data[pid.pid] = 0
                    if pid.signal is None:
                        self._last_values[pid.name] = value
                    elif self._refusals.accept(pid.signal, value):
                        self._last_values[pid.name] = value
                        batch.append(SignalReading(time.time(), pid.signal, value, self.name))
                if timeouts >= s.max_consecutive_errors:
                    raise ElmTimeoutError(f"no answer to {timeouts} requests in a row")
                if failures >= s.max_consecutive_errors:
                    raise _VehicleSilentError(f"{failures} failed requests in a row")
            if time.monotonic() >= next_dtc and not stop.is_set():
                try:
                    codes = session.read_dtcs()
                except ElmStoppedError:
                    raise
                except ElmTimeoutError:
                    elm.resync()
                except ElmError:
                    pass  # counted by the session; retried next round
                else:
                    next_dtc = time.monotonic() + s.dtc_interval_s
                    self.counts["dtc_reads"] += 1
                    self._last_dtcs = codes
                    batch.append(TroubleCodes(time.time(), codes))
            self.counts["readings"] += sum(isinstance(r, SignalReading) for r in batch)
            hand_over(batch)
            stop.wait(s.poll_interval_s)

    def _vehicle(self, responding: bool, detail: str) -> None:
        if responding is not self._vehicle_responding:
            log.info("OBD vehicle %s: %s", "answering" if responding else "not answering", detail)
        self._vehicle_responding = responding
        self._vehicle_detail = detail


    def diagnostics(self) -> dict[str, object]:
        info = self._info
        return {
            "port": self._settings.port,
            "baudrate": self._settings.baudrate,
            "up": self._up,
            "adapter": self._version or None,
            "vehicle_responding": self._vehicle_responding,
            "vehicle_detail": self._vehicle_detail,
            "protocol": info.protocol if info else None,
            "supported_pids": sorted(f"{p:02X}" for p in info.supported) if info else [],
            "dropped_pids": sorted(f"{p:02X}" for p in self._dropped_pids),
            **tallies(self.counts, "opens", "open_failures", "disconnects", "sessions", "readings",
                      "dtc_reads"),
            "errors": dict(self._errors),
            "last_values": dict(self._last_values),
            "implausible": self._refusals.as_dict(),
            "last_dtcs": list(self._last_dtcs) if self._last_dtcs is not None else None,
            "last_error": self._last_error,
        }
