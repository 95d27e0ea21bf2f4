"""A Lawicel/SLCAN adapter played on the master side of a real pseudo-terminal.

The agent opens the slave side (``path``, or a symlink to it as udev's /dev/serial/by-id links
are) with python-can and pyserial exactly as it opens a USB adapter. The peer answers the set-up
commands with ``\\r`` (or BEL for unknown ones), records them, and writes frame lines.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from pathlib import Path

OK = b"\r"
NACK = b"\a"


def frame_line(can_id: int, data: bytes, extended: bool = True) -> bytes:
    if extended:
        return b"T%08X%d%s\r" % (can_id, len(data), data.hex().upper().encode())
    return b"t%03X%d%s\r" % (can_id, len(data), data.hex().upper().encode())


class SlcanPeer:
    """One adapter: a pty pair plus a thread answering commands. ``unplug()`` closes it."""

    def __init__(self, link: Path | None = None) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.link = link
        if link is not None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.path)
        self.commands: list[str] = []
        self.is_open = threading.Event()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="slcan-peer", daemon=True)
        self._thread.start()

    @property
    def port(self) -> str:
        return str(self.link) if self.link is not None else self.path

    def _serve(self) -> None:
        pending = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if not ready:
                    continue
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            while b"\r" in pending:
                cmd, pending = pending.split(b"\r", 1)
                self._answer(cmd.decode("ascii", "replace"))

    def _answer(self, cmd: str) -> None:
        self.commands.append(cmd)
        if cmd == "" or cmd == "C" or (len(cmd) == 2 and cmd[0] == "S" and cmd[1] in "012345678"):
            if cmd == "C":
                self.is_open.clear()
            self.write(OK)
        elif cmd in ("O", "L"):
            self.is_open.set()
            self.write(OK)
        elif cmd == "V":
            self.write(b"V1013\r")
        else:
            self.write(NACK)

    def write(self, raw: bytes) -> None:
        with self._write_lock:
            view = memoryview(raw)
            while view:
                n = os.write(self.master, view)
                view = view[n:]

    def send(self, can_id: int, data: bytes, extended: bool = True) -> None:
        self.write(frame_line(can_id, data, extended))

    def unplug(self) -> None:
        """Close the pty as a USB unplug does: the agent's next read fails with EIO."""
        self._stop.set()
        self._thread.join(timeout=2)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
