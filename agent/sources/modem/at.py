"""A small AT-command client for a cellular modem's serial port (3GPP TS 27.007 / V.250).

Blocking and thread-confined, like the ELM327 client: one thread owns an :class:`AtModem`.
A command is ASCII ending in ``\\r``; the modem may echo it, then sends information lines and
one *final result code* (``OK``, ``ERROR``, ``+CME ERROR: <n>``, ``+CMS ERROR: <n>``), each
line framed by ``\\r\\n``. Between and inside answers the modem also sends *unsolicited result
codes* (URCs: ``+CREG: 1``, ``RING``, ``+QIND: ...``, ``RDY``) and, on a noisy UART or after
a baud mismatch, garbage. The client keeps only the information lines starting with the prefix
the caller expects, counts URCs and garbage (``diagnostics()``), and never lets either break a
command: a command without a final result within its timeout raises :class:`AtTimeoutError`.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

from agent.errors import SourceError
from agent.sources.serialport import SerialClient, SerialPort

FINAL_OK = "OK"
_FINAL_ERROR = re.compile(r"^(ERROR|\+CME ERROR:.*|\+CMS ERROR:.*|NO CARRIER|COMMAND NOT SUPPORT)$")
# Lines that are URCs (or start-up banners) rather than answers: counted, never an error.
_URC = re.compile(r"^(\+\w+:.*|\^\w+.*|RING|RDY|NO CARRIER|POWERED DOWN|NORMAL POWER DOWN|"
                  r"\+CPIN: .*|SMS DONE|PB DONE|CALL READY|UNDER-VOLTAGE.*|OVER-VOLTAGE.*)$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


class AtError(SourceError):
    """The modem ended a command with ``ERROR`` / ``+CME ERROR`` (``reply`` is that line)."""

    def __init__(self, command: str, reply: str) -> None:
        super().__init__(f"{command} -> {reply}")
        self.command = command
        self.reply = reply


class AtTimeoutError(SourceError):
    def __init__(self, command: str, timeout: float) -> None:
        super().__init__(f"{command}: no final result within {timeout:g} s")


class AtStoppedError(SourceError):
    """The owner asked the client to stop while it waited for the modem."""


class AtModem(SerialClient):
    """Commands over one modem AT port. Not thread-safe."""

    def __init__(
        self, port: SerialPort, timeout_s: float = 2.0, stop: threading.Event | None = None,
    ) -> None:
        super().__init__(port, timeout_s, stop)
        self._pending = bytearray()
        self.counts: Counter[str] = Counter()  # commands, urcs, garbage_lines, errors, timeouts

    def _lines(self, deadline: float) -> list[str]:
        """Complete lines received so far (waits up to ``deadline`` for at least one)."""
        while True:
            if b"\n" in self._pending or b"\r" in self._pending:
                text = bytes(self._pending)
                cut = max(text.rfind(b"\n"), text.rfind(b"\r")) + 1
                del self._pending[:cut]
                parts = re.split(rb"[\r\n]+", text[:cut])
                lines = [p.decode("ascii", "replace") for p in parts if p.strip()]
                if lines:
                    return lines
                continue  # only line ends so far (the "\r\n" ahead of an answer)
            chunk = self._receive(deadline)
            if not chunk:
                return []
            self._pending += chunk
            if len(self._pending) > 65536:  # a stream of garbage without line ends
                self.counts["garbage_lines"] += 1
                self._pending.clear()

    def _stopped(self) -> Exception:
        return AtStoppedError("stopped")

    def _classify_stray(self, line: str) -> None:
        if _PRINTABLE.match(line) and _URC.match(line):
            self.counts["urcs"] += 1
        else:
            self.counts["garbage_lines"] += 1

    def drain(self) -> None:
        """Read and count whatever arrived between commands (URCs, garbage)."""
        if not self._port.in_waiting and not self._pending:
            return
        for line in self._lines(time.monotonic()):
            self._classify_stray(line.strip())

    def command(
        self, cmd: str, prefix: str | None = None, timeout: float | None = None,
    ) -> list[str]:
        """Send ``cmd``; return its information lines (those starting with ``prefix``; with
        ``prefix=None`` every line before the final result).

        Raises :class:`AtError` (an error result) or :class:`AtTimeoutError` (none in time).
        """
        self.drain()
        self._port.write(cmd.encode("ascii") + b"\r")
        self.counts["commands"] += 1
        wait = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        answer: list[str] = []
        while True:
            lines = self._lines(deadline)
            if not lines:
                self.counts["timeouts"] += 1
                raise AtTimeoutError(cmd, wait)
            for raw in lines:
                line = raw.strip()
                if not _PRINTABLE.match(line):
                    self.counts["garbage_lines"] += 1
                elif line == cmd:
                    pass  # echo (ATE1, or before ATE0 took effect)
                elif line == FINAL_OK:
                    return answer
                elif _FINAL_ERROR.match(line):
                    self.counts["errors"] += 1
                    raise AtError(cmd, line)
                elif prefix is None or line.startswith(prefix):
                    answer.append(line)
                else:
                    self._classify_stray(line)
