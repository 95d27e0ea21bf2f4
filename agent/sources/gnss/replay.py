"""A pseudo-terminal that plays a GNSS receiver: NMEA written in, a source opens its path.

Used by the tests, the benchmark and the scenario simulator::

    with NmeaPty(link=tmp / "gnss") as pty:          # stable path, like /dev/serial/by-id/...
        source = GnssSerialSource(str(pty.path))
        player = CaptureReplay(pty, read_capture(log).body, epochs_per_s=10).start()
        ...
        pty.unplug(); pty.replug()                     # the source sees EIO, then reopens
        player.stop()

:class:`NmeaPty` owns a master/slave pair (slave set to raw mode, kept open by the helper so
the pty survives the source closing and reopening it). :class:`CaptureReplay` writes a capture
one *epoch* at a time (all sentences sharing a UTC time, as a receiver bursts them) at a fixed
rate, in a thread, optionally looping; :func:`nmea` frames a sentence body with its checksum.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import tty
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType


def nmea(body: str) -> bytes:
    """``GPRMC,...`` -> ``$GPRMC,...*hh\\r\\n`` with the XOR checksum."""
    total = 0
    for ch in body.encode("ascii"):
        total ^= ch
    return f"${body}*{total:02X}\r\n".encode("ascii")


class NmeaPty:
    """A pty pair standing in for a serial GNSS receiver. ``path`` is what a source opens."""

    def __init__(self, link: Path | None = None) -> None:
        self.link = link
        self._lock = threading.Lock()
        self._master = -1
        self._slave = -1
        self.slave_path = ""
        self._open()

    @property
    def path(self) -> Path:
        return self.link if self.link is not None else Path(self.slave_path)

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def _open(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: bytes pass as a UART would
        self._master, self._slave = master, slave
        self.slave_path = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_path)
            tmp.replace(self.link)  # atomic switch, as udev does for by-id links

    def write(self, data: bytes) -> None:
        """Write everything (a pty master accepts ~4 KiB at a time when the reader lags)."""
        with self._lock:
            if self._master < 0:
                raise OSError("pty unplugged")
            view = memoryview(data)
            while view:
                n = os.write(self._master, view)
                view = view[n:]

    def unplug(self) -> None:
        """The receiver disappears: the pty is closed (readers get EIO) and the link removed."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd >= 0:
                    os.close(fd)
            self._master = self._slave = -1
            if self.link is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.link.unlink()

    def replug(self) -> None:
        """A receiver appears again: a new pty, the link (if any) now points at it."""
        with self._lock:
            if self._master >= 0:
                return
            self._open()

    def close(self) -> None:
        self.unplug()

    def __enter__(self) -> NmeaPty:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# Sentences whose field 1 (GLL: field 5) is the hhmmss UTC time of the epoch.
_TIMED = re.compile(rb"^[$!][A-Z]{2}(?:RMC|GGA|GNS|ZDA|GBS|GST|GRS),(\d{6}(?:\.\d*)?),")
_TIMED_GLL = re.compile(rb"^[$!][A-Z]{2}GLL,(?:[^,]*,){4}(\d{6}(?:\.\d*)?),")


def split_epochs(body: bytes) -> list[bytes]:
    """Cut a capture into bursts: a new burst starts where the UTC time changes."""
    epochs: list[bytes] = []
    current: list[bytes] = []
    current_time: bytes | None = None
    for line in body.splitlines(keepends=True):
        m = _TIMED.match(line) or _TIMED_GLL.match(line)
        if m is not None:
            stamp = m.group(1)
            if current_time is not None and stamp != current_time and current:
                epochs.append(b"".join(current))
                current = []
            current_time = stamp
        current.append(line)
    if current:
        epochs.append(b"".join(current))
    return epochs


class CaptureReplay:
    """Writes a capture's epochs into an :class:`NmeaPty` at ``epochs_per_s``, in a thread.

    While the pty is unplugged the epochs due are dropped (a receiver keeps running when its
    cable is out). ``repeat`` loops the capture until :meth:`stop`.
    """

    def __init__(self, pty: NmeaPty, body: bytes | Iterable[bytes], *,
                 epochs_per_s: float = 1.0, repeat: bool = False) -> None:
        self.pty = pty
        self.epochs = split_epochs(body) if isinstance(body, bytes) else list(body)
        self.period_s = 1.0 / epochs_per_s
        self.repeat = repeat
        self.written = 0  # epochs written
        self.dropped = 0  # epochs due while unplugged
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nmea-replay", daemon=True)

    def start(self) -> CaptureReplay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    def _run(self) -> None:
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                for epoch in self.epochs:
                    delay = next_at - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                    next_at += self.period_s
                    try:
                        self.pty.write(epoch)
                        self.written += 1
                    except OSError:
                        self.dropped += 1
                if not self.repeat:
                    return
        finally:
            self.finished.set()
