"""An ELM327 adapter + vehicle played on the master side of a real pseudo-terminal.

Behaves as the datasheet describes: echo and linefeeds on and spaces between bytes until told
otherwise, ``>`` prompt after every answer, ``SEARCHING...`` ahead of the first OBD answer after
``ATSP0``, ``?`` for unknown commands, and CAN multi-frame answers as a length line plus
numbered frames. Vehicle answers are literal lines (hex, no spaces), so a test states exactly
which bytes the agent receives.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

# The test vehicle: CAN 11 bit / 500 kbit/s (ATDPN "A6").
# Supported-PID bitmaps (service 01): byte A bit 7 = first PID of the range.
#   0100 BE3FA813: 01 03 04 05 06 07 0B 0C 0D 0E 0F 10 11 13 15 1C 1F 20
#   0120 80028001: 21 2F 31 40       0140 40000021: 42 5B 60
#   0160 00000001: 80                0180 00000001: A0       01A0 04000000: A6
VEHICLE: dict[str, list[str]] = {
    "0100": ["4100BE3FA813"],
    "0120": ["412080028001"],
    "0140": ["414040000021"],
    "0160": ["416000000001"],
    "0180": ["418000000001"],
    "01A0": ["41A004000000"],
    "010D": ["410D3C"],  # 60 km/h
    "010C": ["410C1AF8"],  # 0x1AF8/4 = 1726 rpm
    "012F": ["412FB4"],  # 180*100/255 %
    "0142": ["41423A98"],  # 15000 mV
    "0105": ["41057B"],  # 123-40 = 83 degC
    "015B": ["NO DATA"],  # declared, never answered
    "01A6": ["41A6000F4240"],  # 1000000 / 10 km = 100000 km
    "0131": ["41310032"],  # 50 km since codes cleared
    # Five stored DTCs over CAN: 12 bytes (43, count 5, P0133 P0171 C0158 U0158 B1234),
    # first frame carries 6 bytes, the consecutive frame 7 (one byte of padding).
    "03": ["00C", "0:430501330171", "1:4158C158923400"],
}

Answer = list[str] | Callable[[], list[str]]


class ElmPeer:
    def __init__(self, link: Path | None = None, responses: dict[str, Answer] | None = None,
                 protocol: str = "A6", honour_ats0: bool = True) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.link = link
        if link is not None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.path)
        self.responses: dict[str, Answer] = dict(VEHICLE if responses is None else responses)
        self.protocol = protocol
        self.honour_ats0 = honour_ats0
        self.commands: list[str] = []
        self.mute = False  # swallow OBD requests: the agent times out
        self.vehicle_off = False  # every OBD request: UNABLE TO CONNECT
        self._reset()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="elm-peer", daemon=True)
        self._thread.start()

    def _reset(self) -> None:
        self.echo, self.linefeed, self.spaces, self.headers = True, True, True, False
        self.searching = True

    @property
    def port(self) -> str:
        return str(self.link) if self.link is not None else self.path

    def obd_requests(self) -> list[str]:
        return [c for c in self.commands if c and not c.startswith("AT")]

    def _serve(self) -> None:
        pending = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if not ready:
                    continue
                chunk = os.read(self.master, 1024)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            while b"\r" in pending:
                raw, pending = pending.split(b"\r", 1)
                self._handle(raw.decode("ascii", "replace"))

    def _send(self, text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, text.encode("ascii"))

    def _handle(self, raw: str) -> None:
        cmd = raw.strip().upper().replace(" ", "")
        self.commands.append(cmd)
        eol = "\r\n" if self.linefeed else "\r"
        out = raw + eol if self.echo and raw else ""
        lines: list[str] | None = []
        if cmd.startswith("AT"):
            lines = self._at(cmd[2:])
        elif cmd:
            lines = self._obd(cmd)
        if lines is None:
            return  # muted: no answer, no prompt
        out += "".join(line + eol for line in lines) + eol + ">"
        self._send(out)

    def _at(self, at: str) -> list[str]:
        if at == "Z":
            time.sleep(0.05)
            self._reset()
            return ["", "ELM327 v1.5"]
        if at in ("E0", "E1"):
            self.echo = at == "E1"
        elif at in ("L0", "L1"):
            self.linefeed = at == "L1"
        elif at in ("S0", "S1"):
            self.spaces = at == "S1" or not self.honour_ats0
        elif at in ("H0", "H1"):
            self.headers = at == "H1"
        elif at == "SP0":
            self.searching = True
        elif at == "DPN":
            return [self.protocol]
        elif at == "I":
            return ["ELM327 v1.5"]
        else:
            return ["?"]
        return ["OK"]

    def _obd(self, cmd: str) -> list[str] | None:
        if self.mute:
            return None
        prefix: list[str] = []
        if self.searching:
            self.searching = False
            prefix = ["SEARCHING..."]
        if self.vehicle_off:
            self.searching = True
            return [*prefix, "UNABLE TO CONNECT"]
        answer = self.responses.get(cmd)
        if answer is None:
            return [*prefix, "NO DATA"] if all(c in "0123456789ABCDEF" for c in cmd) else ["?"]
        lines = answer() if callable(answer) else answer
        return prefix + [self._spaced(line) for line in lines]

    def _spaced(self, line: str) -> str:
        if not self.spaces or not all(c in "0123456789ABCDEF:" for c in line):
            return line
        if ":" in line:
            idx, data = line.split(":", 1)
            return f"{idx}: " + " ".join(data[i:i + 2] for i in range(0, len(data), 2))
        if len(line) == 3:
            return line
        return " ".join(line[i:i + 2] for i in range(0, len(line), 2))

    def unplug(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def sequence(*answers: list[str]) -> Callable[[], list[str]]:
    """Answers given in turn, the last one repeated."""
    items = list(answers)

    def next_answer() -> list[str]:
        return items.pop(0) if len(items) > 1 else items[0]

    return next_answer
