"""Digital inputs through the GPIO character device (``gpiod``, libgpiod v2): ACC, door, lock,
SOS and the case (tamper) switch, as edge events - no polling.

Each configured line (``[vehicle.gpio]``: chip + line name or offset, ``active_low``) is
requested as an input with edge detection on both edges and the kernel's debounce; the levels
are read once when the lines are requested, then only edge events change them. The reader
thread waits for edges (``select`` on the requests' file descriptors, at most ``report_s``),
reads them (``read_edge_events``) and hands over one ``SignalReading(source="gpio")`` per edge,
stamped with the edge's kernel timestamp. Every ``report_s`` without an edge it re-sends the
levels it holds (no hardware read), so they stay fresh in the vehicle state.

``active_low`` is applied by the kernel: a rising edge is the line becoming *active* (ACC on,
door open, locked, SOS pressed, case open). A chip or line that cannot be requested, or a
request that fails later (chip unbound), gives ``SourceHealth("gpio", ok=False)``; the lines are
requested again every ``reconnect_s``.

The ``gpiod`` package is optional (``pip install 'edge-agent[gpio]'``) and imported only when
this backend starts. Backends: :class:`GpiodLines` (the real one) and :class:`SimLines` (in
memory, for tests). The sysfs-file inputs of ``agent.sources.power`` stay the simulator's.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from agent.errors import SourceError
from agent.sources.readings import Reading, Signal, SignalReading
from agent.sources.settings import GpioInputLine, GpioSettings
from agent.sources.threaded import HandOver, ThreadedSource

log = logging.getLogger(__name__)

# config name -> the signal it drives (1 = active)
LINE_SIGNALS: dict[str, Signal] = {
    "acc": Signal.IGNITION,
    "door": Signal.DOOR_OPEN,
    "locked": Signal.DOORS_LOCKED,
    "sos": Signal.SOS,
    "case": Signal.CASE_OPEN,
}


@dataclass(frozen=True, slots=True)
class Edge:
    name: str  # the config name ("acc", "door", ...)
    active: bool  # the line's logical level after the edge
    t: float  # epoch seconds


class Lines(Protocol):
    """A set of requested input lines (one backend instance per request cycle)."""

    def levels(self) -> dict[str, bool]: ...
    def wait(self, timeout_s: float) -> bool: ...
    def edges(self) -> list[Edge]: ...
    def close(self) -> None: ...


def _import_gpiod() -> Any:
    try:
        import gpiod  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise SourceError("the gpiod backend needs the gpiod package (libgpiod v2 bindings): "
                          "pip install 'edge-agent[gpio]'") from exc
    return gpiod


class GpiodLines:
    """The lines on real GPIO chips, requested through libgpiod v2 (one request per chip)."""

    def __init__(self, lines: dict[str, GpioInputLine], debounce_ms: float = 10.0) -> None:
        gpiod = _import_gpiod()
        from gpiod.line import Direction, Value  # type: ignore[import-not-found, unused-ignore]
        from gpiod.line import Edge as GEdge

        self._active = Value.ACTIVE
        self._rising = gpiod.EdgeEvent.Type.RISING_EDGE
        self._requests: list[Any] = []
        self._names: dict[tuple[int, int], str] = {}  # (request index, offset) -> name
        by_chip: dict[str, list[tuple[str, GpioInputLine]]] = {}
        for name, line in lines.items():
            by_chip.setdefault(line.chip, []).append((name, line))
        try:
            for chip_path, members in by_chip.items():
                config: dict[int, Any] = {}
                with contextlib.closing(gpiod.Chip(chip_path)) as chip:
                    for name, line in members:
                        offset = int(line.line) if line.line.isdigit() else \
                            chip.line_offset_from_id(line.line)
                        self._names[(len(self._requests), offset)] = name
                        config[offset] = gpiod.LineSettings(
                            direction=Direction.INPUT, edge_detection=GEdge.BOTH,
                            active_low=line.active_low,
                            debounce_period=timedelta(milliseconds=debounce_ms))
                self._requests.append(gpiod.request_lines(chip_path, consumer="edge-agent",
                                                          config=config))
        except (OSError, ValueError) as exc:
            self.close()
            raise SourceError(f"gpio: cannot request lines: {exc}") from exc

    def levels(self) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for i, req in enumerate(self._requests):
            offsets = [o for (ri, o) in self._names if ri == i]
            for offset, value in zip(offsets, req.get_values(offsets), strict=True):
                out[self._names[(i, offset)]] = value == self._active
        return out

    def wait(self, timeout_s: float) -> bool:
        if len(self._requests) == 1:
            return bool(self._requests[0].wait_edge_events(timedelta(seconds=timeout_s)))
        ready, _, _ = select.select([r.fd for r in self._requests], [], [], timeout_s)
        return bool(ready)

    def edges(self) -> list[Edge]:
        out: list[Edge] = []
        # Edge timestamps are CLOCK_MONOTONIC: map them onto the wall clock once per batch.
        offset_s = time.time() - time.monotonic_ns() / 1e9
        for i, req in enumerate(self._requests):
            ready, _, _ = select.select([req.fd], [], [], 0)
            if not ready:
                continue
            for ev in req.read_edge_events():
                name = self._names.get((i, ev.line_offset))
                if name is not None:
                    out.append(Edge(name, ev.event_type == self._rising,
                                    ev.timestamp_ns / 1e9 + offset_s))
        out.sort(key=lambda e: e.t)
        return out

    def close(self) -> None:
        for req in self._requests:
            with contextlib.suppress(Exception):
                req.release()
        self._requests = []


class SimLines:
    """Lines in memory: a test (or the simulator) sets levels; each change is an edge."""

    def __init__(self, levels: dict[str, bool] | None = None) -> None:
        self._levels = dict(levels or {})
        self._pending: list[Edge] = []
        self._cond = threading.Condition()
        self.fail: str = ""  # non-empty: the next wait raises OSError (chip gone)

    def set(self, name: str, active: bool, t: float | None = None) -> None:
        with self._cond:
            if self._levels.get(name) == active:
                return
            self._levels[name] = active
            self._pending.append(Edge(name, active, time.time() if t is None else t))
            self._cond.notify_all()

    def levels(self) -> dict[str, bool]:
        with self._cond:
            return dict(self._levels)

    def wait(self, timeout_s: float) -> bool:
        with self._cond:
            if self.fail:
                raise OSError(self.fail)
            return self._cond.wait_for(lambda: bool(self._pending) or bool(self.fail),
                                       timeout_s) and not self.fail  # fmt: skip

    def edges(self) -> list[Edge]:
        with self._cond:
            out, self._pending = self._pending, []
            return out

    def close(self) -> None:
        pass


class GpioSource(ThreadedSource):
    name = "gpio"

    def __init__(
        self, settings: GpioSettings, lines_factory: Callable[[], Lines] | None = None,
    ) -> None:
        self._settings = settings
        self._lines = {n: ln for n in LINE_SIGNALS if (ln := getattr(settings, n)) is not None}
        self._factory: Callable[[], Lines] = lines_factory or (
            lambda: GpiodLines(self._lines, settings.debounce_ms))
        self._levels: dict[str, bool] = {}
        self.edges_seen = 0
        self.requests = 0
        self.request_failures = 0

    @classmethod
    def from_settings(cls, settings: GpioSettings) -> GpioSource | None:
        return None if settings.backend == "none" else cls(settings)

    def _readings(self, t: float) -> list[Reading]:
        return [SignalReading(t, LINE_SIGNALS[n], float(v), "gpio")
                for n, v in self._levels.items() if n in LINE_SIGNALS]

    def read_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        s = self._settings
        while not stop.is_set():
            try:
                lines = self._factory()
            except SourceError as exc:
                self.request_failures += 1
                self.report_health(False, str(exc), hand_over)
                stop.wait(s.reconnect_s)
                continue
            self.requests += 1
            try:
                self._levels = lines.levels()
                self.report_health(True, f"gpio lines {', '.join(sorted(self._levels))}",
                                   hand_over)
                hand_over(self._readings(time.time()))
                while not stop.is_set():
                    if lines.wait(s.report_s):
                        batch: list[Reading] = []
                        for e in lines.edges():
                            self.edges_seen += 1
                            self._levels[e.name] = e.active
                            batch.append(SignalReading(e.t, LINE_SIGNALS[e.name],
                                                       float(e.active), "gpio"))
                        hand_over(batch)
                    else:  # no edge within report_s: the held levels, re-sent
                        hand_over(self._readings(time.time()))
            except OSError as exc:
                self.report_health(False, f"gpio lines lost: {exc}", hand_over)
            finally:
                lines.close()
            stop.wait(s.reconnect_s)

    def diagnostics(self) -> dict[str, object]:
        return {
            "backend": self._settings.backend,
            "up": self._up,
            "lines": {n: f"{ln.chip}:{ln.line}{' (active low)' if ln.active_low else ''}"
                      for n, ln in self._lines.items()},
            "levels": dict(self._levels),
            "edges": self.edges_seen,
            "requests": self.requests,
            "request_failures": self.request_failures,
            "last_error": self._last_error,
        }
