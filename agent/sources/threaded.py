"""The template every serial-style source shares: a blocking read loop in its own thread.

python-can style: :class:`ThreadedSource` implements the public ``run(emit)`` once (thread,
hand-over of reading batches to the event loop, cancellation, crash supervision); a backend
only writes ``read_loop(stop, hand_over)``, which blocks, reads until ``stop`` is set, reopens
a lost device itself, and passes readings in batches to ``hand_over`` (callable from its
thread). ``emit`` is always called on the event loop thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

from agent.health import BeatingEvent
from agent.sources.readings import Emit, Reading, Source, SourceHealth
from agent.sources.serialport import SerialPort, open_command_port

log = logging.getLogger(__name__)

HandOver = Callable[[list[Reading]], None]
T = TypeVar("T")


class ThreadedSource(Source):
    restart_after_crash_s: float = 5.0
    # Last health reported (None: nothing yet) and the last fault's text, for diagnostics().
    _up: bool | None = None
    _last_error: str = ""
    @abstractmethod
    def read_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        """Read until ``stop`` is set (runs in the source's own thread)."""

    def report_health(self, ok: bool, detail: str, hand_over: HandOver) -> None:
        """Hand over a ``SourceHealth`` when the state changes (from the reader thread)."""
        if not ok:
            self._last_error = detail
        if self._up is ok:
            return
        self._up = ok
        (log.info if ok else log.warning)("%s: %s", self.name, detail)
        hand_over([SourceHealth(time.time(), self.name, ok, detail)])

    def open_or_wait(self, open_: Callable[[], T], what: str, stop: threading.Event,
                     hand_over: HandOver, *, counts: Counter[str], wait_s: float) -> T | None:
        """One attempt to open the device (from the reader thread): the handle, or None after
        counting the failure, reporting the source down and waiting ``wait_s`` (or the stop)."""
        try:
            handle = open_()
        except (OSError, ValueError) as exc:  # pyserial's SerialException is an OSError
            counts["open_failures"] += 1
            self.report_health(False, f"cannot open {what}: {exc}", hand_over)
            stop.wait(wait_s)
            return None
        counts["opens"] += 1
        return handle

    def wake(self) -> None:
        """Unblock a read in progress when stopping (optional; default: wait for its timeout)."""

    async def run(self, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        stop = BeatingEvent(self.heartbeat)  # the loop's every look at it is a heartbeat
        done: asyncio.Future[None] = loop.create_future()

        def deliver(batch: list[Reading]) -> None:
            for reading in batch:
                try:
                    emit(reading)
                except Exception:
                    log.exception("%s: reading consumer failed for %r", self.name, reading)

        def hand_over(batch: list[Reading]) -> None:
            if batch:
                with suppress(RuntimeError):  # the loop is already closed during shutdown
                    loop.call_soon_threadsafe(deliver, batch)

        def target() -> None:
            try:
                while not stop.is_set():
                    try:
                        self.read_loop(stop, hand_over)
                        return
                    except Exception as exc:
                        # A bug, not an I/O error (read_loop handles those): report the source
                        # down, then start it again rather than leave the vehicle unread.
                        log.exception("%s: reader thread crashed; restarting", self.name)
                        self.report_health(False, f"{self.name}: reader crashed: {exc}", hand_over)
                        stop.wait(self.restart_after_crash_s)
            finally:
                with suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, done)

        thread = threading.Thread(target=target, name=f"{self.name}-reader", daemon=True)
        thread.start()
        try:
            await asyncio.shield(done)
        finally:
            stop.set()
            self.wake()
            await asyncio.wait({done})  # the thread sees the stop within one read timeout
            thread.join(timeout=1.0)  # resolving ``done`` is its last act: returns at once


class SerialDeviceSource(ThreadedSource):
    """A source that talks command/response to one serial device (an ELM327 adapter, a modem's
    AT port): it owns the port opener, the event counts and the reconnect loop.

    ``counts`` holds ``opens``, ``open_failures`` and ``disconnects`` (this class counts them)
    beside the source's own.
    """

    def __init__(self, device: str, baudrate: int, reconnect_s: float,
                 port_factory: Callable[[], SerialPort] | None = None) -> None:
        self._device = device
        self._reconnect_s = reconnect_s
        self._open: Callable[[], SerialPort] = port_factory or (
            lambda: open_command_port(device, baudrate))
        self.counts: Counter[str] = Counter()

    def port_sessions(
        self, stop: threading.Event, hand_over: HandOver, session: Callable[[SerialPort], None],
        *, kind: str, stopped: type[Exception], silent: type[Exception],
    ) -> None:
        """The reconnect loop, until ``stop``: open the port, run ``session`` on it until that
        fails, close it, wait ``reconnect_s``, again. ``kind`` names the device in the health
        details (``"adapter /dev/ttyUSB0 lost: ..."``).

        A lost port (``OSError``: pyserial's ``SerialException`` is one) and a device that
        stopped answering (``silent``) report the source down; ``stopped`` (the owner's stop,
        seen by the client) ends the session quietly. ``session`` reports the source up.
        """
        device, wait_s, counts = self._device, self._reconnect_s, self.counts
        while not stop.is_set():
            port = self.open_or_wait(self._open, device, stop, hand_over, counts=counts,
                                     wait_s=wait_s)  # fmt: skip
            if port is None:
                continue
            try:
                session(port)
            except stopped:
                pass
            except OSError as exc:
                counts["disconnects"] += 1
                self.report_health(False, f"{kind} {device} lost: {exc}", hand_over)
            except silent as exc:
                self.report_health(False, f"{kind} {device} not answering: {exc}",
                                   hand_over)  # fmt: skip
            finally:
                with suppress(Exception):
                    port.close()
            stop.wait(wait_s)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
