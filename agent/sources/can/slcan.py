"""SLCAN (Lawicel ASCII) adapters through python-can's ``slcan`` interface.

python-can's ``slcanBus`` does the adapter set-up (``C``, ``S<n>``, ``O``/``L``) and parses the
frame lines, but reads the serial port one byte per call: ~28 ``read`` calls (each a select and
a read system call) per extended frame, which alone costs a core at a few thousand frames/s.
:class:`SlcanBus` keeps python-can's set-up and line parser and replaces only the reading: it
takes whatever the port holds in one call and cuts lines out of its own buffer. It also drops a
malformed line (noise after a replug, a truncated first line) instead of raising out of ``recv``.
"""

from __future__ import annotations

import time
from typing import Any

from can.interfaces.slcan import slcanBus

_CR = 0x0D
_BELL = b"\a"
MAX_LINE = 256  # longest SLCAN line is a CAN FD frame: 1 + 8 + 1 + 128 + 4


class SlcanBus(slcanBus):
    """python-can SLCAN bus with bulk serial reads; counts malformed lines and NACKs."""

    def __init__(self, channel: str, **kwargs: Any) -> None:
        self.malformed_lines = 0
        self.nacks = 0  # BEL answers: the adapter refused a command
        self.bytes_read = 0
        try:
            super().__init__(channel, **kwargs)
        except BaseException:
            # python-can leaves the port open when the set-up fails after opening it: close it,
            # or every reconnect attempt against a half-working adapter leaks a descriptor.
            port = getattr(self, "serialPortOrig", None)
            if port is not None:
                port.close()
            raise

    def _read(self, timeout: float | None) -> str | None:
        """One line up to its ``\\r`` (or a lone BEL), waiting at most ``timeout`` seconds."""
        buf = self._buffer
        port = self.serialPortOrig
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            end = buf.find(_CR)
            if end >= 0:
                bell = buf.find(_BELL, 0, end)
                if bell >= 0:  # a NACK ahead of the next line: report it on its own
                    del buf[: bell + 1]
                    self.nacks += 1
                    return "\a"
                if end > MAX_LINE:  # far longer than any SLCAN line: noise
                    del buf[: end + 1]
                    self.malformed_lines += 1
                    continue
                line = buf[: end + 1].decode("ascii", "replace")
                del buf[: end + 1]
                return line
            if buf.endswith(_BELL):
                buf.clear()
                self.nacks += 1
                return "\a"
            if len(buf) > MAX_LINE:  # a stream without CR is not SLCAN: drop it
                buf.clear()
                self.malformed_lines += 1
            # Blocks up to the port timeout for the first byte, then takes all that is waiting.
            chunk = port.read(port.in_waiting or 1)
            if chunk:
                self.bytes_read += len(chunk)
                buf += chunk
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def _recv_internal(self, timeout: float | None) -> tuple[Any, bool]:
        try:
            return super()._recv_internal(timeout)
        except (ValueError, IndexError, KeyError):
            self.malformed_lines += 1
            return None, False
