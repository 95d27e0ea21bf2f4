"""An ELM327 adapter and the simulated vehicle behind it, answering on a :class:`PtyPort`.

Speaks the datasheet's dialogue: echo, linefeeds and spaces on until ``ATE0``/``ATL0``/
``ATS0``, a ``>`` prompt after every answer, ``SEARCHING...`` before the first answer after
``ATSP0``; service 01 PIDs 05 (coolant), 0C (rpm), 0D (speed), 2F (fuel), 42 (module voltage)
from the current truth, and service 03 (stored DTCs) as ISO 15765-4 CAN messages (a length line
and numbered frames when they do not fit one frame). With the ignition off the vehicle side
answers ``UNABLE TO CONNECT``, as an ECU that is asleep, and so it does for ``ECU_WAKE_S`` after
the ignition comes on, while the ECUs boot.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.sim.truth import Truth

# ECUs answer OBD requests only a moment after the ignition comes on (they boot first); it also
# orders the vehicle's first OBD readings after the ACC line, as in a real car.
ECU_WAKE_S = 3.0

_SUPPORTED = {0x00: (0x05, 0x0C, 0x0D, 0x20), 0x20: (0x2F, 0x40), 0x40: (0x42,)}


def _bitmap(base: int, pids: tuple[int, ...]) -> bytes:
    value = 0
    for p in pids:
        value |= 1 << (31 - (p - base - 1))
    return value.to_bytes(4, "big")


def dtc_bytes(code: str) -> bytes:
    """``P0301`` → two bytes (SAE J2012: letter in bits 7-6, first digit 5-4, then 3 hex)."""
    letter = "PCBU".index(code[0].upper())
    high = (letter << 6) | (int(code[1], 16) << 4) | int(code[2], 16)
    return bytes([high, int(code[3:5], 16)])


def can_frames(message: bytes) -> list[str]:
    """One ECU message as the ELM327 prints it with headers off (ISO-TP above 7 bytes)."""
    if len(message) <= 7:
        return [message.hex().upper()]
    lines = [f"{len(message):03X}", f"0:{message[:6].hex().upper()}"]
    rest = message[6:]
    n = 1
    while rest:
        chunk = rest[:7].ljust(7, b"\x00")
        lines.append(f"{n % 16:X}:{chunk.hex().upper()}")
        rest = rest[7:]
        n += 1
    return lines


def module_voltage(tr: Truth) -> float:
    """The vehicle battery as an ECU sees it: alternator voltage while the engine runs."""
    return 14.1 if tr.ignition and tr.rpm > 0 else 12.6


class Elm327Responder:
    """``PtyPort(link, Elm327Responder(lambda: player.current))``."""

    def __init__(self, truth: Callable[[], Truth | None], version: str = "ELM327 v1.5") -> None:
        self.truth = truth
        self.version = version
        self._reset()

    @staticmethod
    def awake(tr: Truth | None) -> bool:
        """The vehicle's ECUs answer: ignition on for at least :data:`ECU_WAKE_S`."""
        if tr is None or not tr.ignition:
            return False
        return tr.ignition_on_t is None or tr.t - tr.ignition_on_t >= ECU_WAKE_S

    def _reset(self) -> None:
        self.echo = self.linefeed = self.spaces = True
        self.searching = True

    def __call__(self, raw: bytes) -> bytes:
        text = raw.decode("ascii", "replace")
        cmd = text.strip().upper().replace(" ", "")
        eol = "\r\n" if self.linefeed else "\r"
        out = text + eol if self.echo and text else ""
        lines = self._at(cmd[2:]) if cmd.startswith("AT") else self._obd(cmd) if cmd else []
        return (out + "".join(ln + eol for ln in lines) + eol + ">").encode("ascii")

    def _at(self, at: str) -> list[str]:
        if at in ("Z", "WS"):
            self._reset()
            return ["", self.version]
        if at == "I":
            return [self.version]
        if at in ("E0", "E1"):
            self.echo = at == "E1"
        elif at in ("L0", "L1"):
            self.linefeed = at == "L1"
        elif at in ("S0", "S1"):
            self.spaces = at == "S1"
        elif at.startswith("SP"):
            self.searching = True
        elif at == "DPN":
            return ["A6"]
        elif at == "RV":
            tr = self.truth()
            return [f"{module_voltage(tr) if tr else 12.6:.1f}V"]
        elif not at[:1].isalpha():
            return ["?"]
        return ["OK"]

    def _obd(self, cmd: str) -> list[str]:
        tr = self.truth()
        try:
            data = bytes.fromhex(cmd)
        except ValueError:
            return ["?"]
        if tr is None or not self.awake(tr):
            return ["SEARCHING...", "UNABLE TO CONNECT"] if self.searching else ["NO DATA"]
        answer = self.answer(data, tr)
        lines = can_frames(answer) if answer is not None else ["NO DATA"]
        if self.spaces:
            lines = [" ".join(ln[i : i + 2] for i in range(0, len(ln), 2)) if ":" not in ln
                     else ln for ln in lines]  # fmt: skip
        if self.searching:
            self.searching = False
            lines = ["SEARCHING...", *lines]
        return lines

    def answer(self, data: bytes, tr: Truth) -> bytes | None:
        """The vehicle's answer (mode + 0x40 first) to a request, or None for NO DATA."""
        if data == b"\x03":
            codes = b"".join(dtc_bytes(c) for c in tr.dtcs)
            return bytes([0x43, len(tr.dtcs)]) + codes
        if len(data) != 2 or data[0] != 0x01:
            return None
        pid = data[1]
        if pid in _SUPPORTED:
            return bytes([0x41, pid]) + _bitmap(pid, _SUPPORTED[pid])
        value: bytes
        if pid == 0x05:
            value = bytes([88 + 40])
        elif pid == 0x0C:
            value = min(0xFFFF, round(tr.rpm * 4)).to_bytes(2, "big")
        elif pid == 0x0D:
            value = bytes([min(255, round(tr.speed_kmh))])
        elif pid == 0x2F:
            value = bytes([min(255, round(tr.fuel_pct * 255 / 100))])
        elif pid == 0x42:  # the vehicle's battery, not the device's (possibly cut) supply
            value = round(module_voltage(tr) * 1000).to_bytes(2, "big")
        else:
            return None
        return bytes([0x41, pid]) + value
