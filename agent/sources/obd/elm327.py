"""A small ELM327 client (the project's own; the ``obd`` package is GPL-2.0).

Blocking and thread-confined: one thread owns a :class:`Elm327` and its serial port. Protocol
(ELM327 datasheet): a command is ASCII ending in ``\\r``; the adapter answers with lines ending
in ``\\r`` (``\\r\\n`` with linefeeds on) and then the ``>`` prompt. After ``ATE0 ATL0 ATS0 ATH0``
a CAN answer is hex without spaces or headers, and a multi-frame answer is a length line
(``00C``) followed by numbered frames (``0:4305...``, ``1:...``).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterable

from agent.errors import SourceError
from agent.sources.serialport import SerialClient, SerialPort

PROMPT = b">"

# Replies that end a request without data, and the error kind each is counted under.
ERROR_REPLIES: dict[str, str] = {
    "NO DATA": "no_data",
    "?": "unknown_command",
    "CAN ERROR": "can_error",
    "UNABLE TO CONNECT": "unable_to_connect",
    "STOPPED": "stopped",
    "BUS BUSY": "bus_busy",
    "BUS ERROR": "bus_error",
    "BUFFER FULL": "buffer_full",
    "DATA ERROR": "data_error",
    "FB ERROR": "fb_error",
    "LV RESET": "lv_reset",
    "ACT ALERT": "act_alert",
}
_INFO_PREFIXES = ("SEARCHING", "BUS INIT")  # progress messages ahead of the data
_ERR_CODE = re.compile(r"^ERR\d\d$")  # ERR94 etc.: internal error codes
_LENGTH = re.compile(r"^[0-9A-F]{3}$")  # multi-frame: total byte count
_FRAME = re.compile(r"^([0-9A-F]):((?:[0-9A-F]{2})+)$")  # multi-frame: numbered frame
_HEX = re.compile(r"^(?:[0-9A-F]{2})+$")


class ElmError(SourceError):
    """The adapter ended a request with an error reply (``kind`` is an ERROR_REPLIES value)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class ElmTimeoutError(ElmError):
    def __init__(self, detail: str = "") -> None:
        super().__init__("timeout", detail)


class ElmStoppedError(ElmError):
    """The owner asked the client to stop while it was waiting for the adapter."""

    def __init__(self) -> None:
        super().__init__("cancelled")


def _norm(line: str) -> str:
    return line.replace(" ", "").upper()


def assemble(lines: Iterable[str]) -> list[bytes]:
    """ECU messages from the data lines of one answer (headers off); multi-frames joined."""
    messages: list[bytes] = []
    expected = 0
    current: bytearray | None = None
    for raw in lines:
        line = _norm(raw)
        if _LENGTH.match(line):
            if current is not None:
                messages.append(bytes(current[:expected]))
            expected, current = int(line, 16), bytearray()
            continue
        m = _FRAME.match(line)
        if m and current is not None:
            current += bytes.fromhex(m.group(2))
            if len(current) >= expected:
                messages.append(bytes(current[:expected]))
                current = None
            continue
        if current is not None:  # a multi-frame answer cut short
            messages.append(bytes(current))
            current = None
        if m:
            messages.append(bytes.fromhex(m.group(2)))
        elif _HEX.match(line):
            messages.append(bytes.fromhex(line))
    if current is not None:
        messages.append(bytes(current))
    return messages


class Elm327(SerialClient):
    """Commands and OBD requests over one ELM327. Not thread-safe."""

    def __init__(
        self, port: SerialPort, timeout_s: float = 2.0, stop: threading.Event | None = None,
    ) -> None:
        super().__init__(port, timeout_s, stop)
        self.version = ""
        self.commands_sent = 0
        self.noise_lines = 0  # lines that were neither data, progress nor a known reply

    # -- raw exchange ---------------------------------------------------------------------
    def _read_until_prompt(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while True:
            chunk = self._receive(deadline)
            if not chunk:
                raise ElmTimeoutError(f"no prompt within {timeout:g} s, got {bytes(buf)!r}")
            buf += chunk
            if PROMPT in chunk:
                return bytes(buf[: buf.rindex(PROMPT)])

    def _stopped(self) -> Exception:
        return ElmStoppedError()

    def resync(self) -> None:
        """After a timeout: a bare CR interrupts whatever the adapter does; wait for a prompt."""
        self._port.reset_input_buffer()
        self._port.write(b"\r")
        with contextlib.suppress(ElmTimeoutError):
            self._read_until_prompt(1.0)
        self._port.reset_input_buffer()

    def command(self, cmd: str, timeout: float | None = None) -> list[str]:
        """Send one command; the answer's lines without echo, progress messages or blanks.

        Raises :class:`ElmError` for an error reply, :class:`ElmTimeoutError` without a prompt.
        """
        if self._port.in_waiting:
            self._port.reset_input_buffer()  # a late answer to an earlier request
        self._port.write(cmd.encode("ascii") + b"\r")
        self.commands_sent += 1
        raw = self._read_until_prompt(self._timeout if timeout is None else timeout)
        text = raw.replace(b"\x00", b"").decode("ascii", "replace")
        echo = _norm(cmd)
        lines: list[str] = []
        error: ElmError | None = None
        for part in re.split(r"[\r\n]+", text):
            line = part.strip()
            if not line or _norm(line) == echo or line.startswith(_INFO_PREFIXES):
                continue
            upper = line.upper()
            kind = ERROR_REPLIES.get(upper)
            if kind is None and upper.startswith("<"):  # "<DATA ERROR", "<RX ERROR" on a line
                kind = "data_error"
            if kind is None and _ERR_CODE.match(upper):
                kind = upper.lower()
            if kind is not None:
                error = error or ElmError(kind, f"{cmd} -> {line}")
                continue
            lines.append(line)
        if error is not None and not lines:
            raise error
        return lines

    # -- set-up -----------------------------------------------------------------------------
    def initialize(self) -> str:
        """Reset and configure the adapter: echo, linefeeds, spaces, headers off; auto protocol."""
        self.resync()
        lines = self.command("ATZ", timeout=5.0)
        self.version = next((ln for ln in lines if "ELM" in ln.upper()), " ".join(lines))
        for cmd in ("ATE0", "ATL0", "ATS0", "ATH0", "ATSP0"):
            reply = self.command(cmd)
            if not any(_norm(line) == "OK" for line in reply):
                raise ElmError("init", f"{cmd} answered {reply!r}")
        return self.version

    def protocol_number(self) -> str:
        """``ATDPN``: the protocol in use, e.g. ``A6`` = automatic, ISO 15765-4 CAN 11/500."""
        lines = self.command("ATDPN")
        return _norm(lines[0]) if lines else ""

    # -- OBD requests -----------------------------------------------------------------------
    def request(self, mode: int, pid: int | None = None, timeout: float | None = None,
                ) -> list[bytes]:
        """Payloads (after the mode/PID echo bytes) of every ECU answering the request."""
        cmd = f"{mode:02X}" + (f"{pid:02X}" if pid is not None else "")
        messages = assemble(self.command(cmd, timeout))
        head = bytes([0x40 + mode]) + (bytes([pid]) if pid is not None else b"")
        payloads = [m[len(head):] for m in messages if m.startswith(head)]
        if payloads:
            return payloads
        if any(m[:1] == b"\x7f" for m in messages):
            raise ElmError("negative_response", f"{cmd} -> {messages[0].hex().upper()}")
        self.noise_lines += 1
        raise ElmError("bad_response", f"{cmd} -> {[m.hex().upper() for m in messages]}")
