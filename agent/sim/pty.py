"""A serial device played on the master side of a real pseudo-terminal.

The agent opens the slave side through a stable symlink (as udev's /dev/serial/by-id links
are) exactly as it opens a USB adapter. ``unplug()`` closes the pty and removes the link (the
reader gets EIO, as when a USB device vanishes); ``replug()`` creates a new pty behind the same
link. Writes never block: with nobody reading, bytes overflow and are dropped like a UART's.
An optional responder answers command lines (SLCAN set-up, ELM327 AT commands).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import tty
from collections.abc import Callable
from pathlib import Path

Responder = Callable[[bytes], bytes | None]  # one command line (no terminator) → reply


class PtyPort:
    def __init__(
        self, link: Path, responder: Responder | None = None, terminator: bytes = b"\r"
    ) -> None:
        self.link = link
        self.responder = responder
        self.terminator = terminator
        self.commands: list[bytes] = []
        self.dropped_bytes = 0
        self._lock = threading.Lock()
        self._master = -1
        self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.plug()

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def plug(self) -> None:
        with self._lock:
            if self._master >= 0:
                return
            master, slave = os.openpty()
            tty.setraw(slave)
            tty.setraw(master)
            os.set_blocking(master, False)
            tmp = self.link.with_name(f".{self.link.name}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(os.ttyname(slave))
            os.replace(tmp, self.link)  # atomic: a reader never sees a missing link mid-swap
            self._master, self._slave = master, slave
            self._stop.clear()
        if self.responder is not None:
            self._thread = threading.Thread(target=self._serve, name=f"pty-{self.link.name}",
                                            daemon=True)  # fmt: skip
            self._thread.start()

    replug = plug

    def unplug(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        with self._lock:
            for fd in (self._master, self._slave):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = -1
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    close = unplug

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._master < 0:
                self.dropped_bytes += len(data)
                return
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self._master, view)
                except BlockingIOError:
                    self.dropped_bytes += len(view)
                    return
                except OSError as exc:
                    if exc.errno in (errno.EIO, errno.EAGAIN):
                        self.dropped_bytes += len(view)
                        return
                    raise
                view = view[n:]

    def _serve(self) -> None:
        pending = b""
        master = self._master
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                chunk = os.read(master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            while self.terminator in pending:
                line, pending = pending.split(self.terminator, 1)
                line = line.strip(b"\n")
                self.commands.append(line)
                assert self.responder is not None
                reply = self.responder(line)
                if reply:
                    self.write(reply)


def slcan_responder(line: bytes) -> bytes:
    """Lawicel adapter: acknowledge set-up commands (``S5``, ``O``, ``C``...) with CR."""
    if line == b"V":
        return b"V1013\r"
    if line == b"N":
        return b"NSIM1\r"
    if line[:1] in (b"S", b"s", b"O", b"L", b"C", b"Z", b"M", b"m", b"F", b"") or not line:
        return b"\r"
    return b"\a"
