"""OBD-II (SAE J1979) service 01 PIDs, supported-PID bitmaps and trouble codes: pure decoding."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.sources.readings import Signal


@dataclass(frozen=True, slots=True)
class Pid:
    pid: int
    name: str
    size: int  # data bytes after "41 <pid>"
    signal: Signal | None  # None: read for diagnostics, not a vehicle signal of the agent
    unit: str
    formula: Callable[[bytes], float]

    def decode(self, data: bytes) -> float:
        if len(data) < self.size:
            raise ValueError(f"PID {self.pid:02X} needs {self.size} bytes, got {len(data)}")
        return self.formula(data)


def _u16(d: bytes) -> int:
    return (d[0] << 8) | d[1]


# J1979 formulas (A, B, C, D = data bytes). Order = polling order: fast-changing first.
POLLED_PIDS: tuple[Pid, ...] = (
    Pid(0x0D, "vehicle_speed", 1, Signal.WHEEL_SPEED_KMH, "km/h", lambda d: float(d[0])),
    Pid(0x0C, "engine_rpm", 2, Signal.ENGINE_RPM, "rpm", lambda d: _u16(d) / 4),
    Pid(0x2F, "fuel_level", 1, Signal.FUEL_LEVEL_PCT, "%", lambda d: d[0] * 100 / 255),
    Pid(0x42, "control_module_voltage", 2, Signal.VEHICLE_BATTERY_V, "V",
        lambda d: _u16(d) / 1000),
    Pid(0x05, "coolant_temp", 1, Signal.COOLANT_TEMP_C, "degC", lambda d: float(d[0] - 40)),
    Pid(0x5B, "hybrid_battery_remaining", 1, Signal.EV_BATTERY_PCT, "%",
        lambda d: d[0] * 100 / 255),
    # Odometer: (A*2^24 + B*2^16 + C*2^8 + D) / 10 km -> metres.
    Pid(0xA6, "odometer", 4, Signal.TOTAL_DISTANCE_M, "m",
        lambda d: float(int.from_bytes(d[:4], "big") * 100)),
    # Distance since codes cleared is not an odometer: kept in diagnostics only.
    Pid(0x31, "distance_since_codes_cleared", 2, None, "km", lambda d: float(_u16(d))),
)
PIDS_BY_NUMBER: dict[int, Pid] = {p.pid: p for p in POLLED_PIDS}

# "PIDs supported [01-20]" is PID 00, [21-40] is PID 20, ... up to [C1-E0] at PID C0.
SUPPORT_PIDS = (0x00, 0x20, 0x40, 0x60, 0x80, 0xA0, 0xC0)


def supported_pids(base: int, bitmap: bytes) -> set[int]:
    """PIDs a 4-byte bitmap answering PID ``base`` declares: MSB of byte A is ``base + 1``."""
    value = int.from_bytes(bitmap[:4], "big")
    return {base + i + 1 for i in range(32) if value & (1 << (31 - i))}


_DTC_LETTERS = "PCBU"


def dtc_string(high: int, low: int) -> str:
    """SAE J2012 two-byte DTC: bits 7-6 system letter, 5-4 first digit, then three hex digits."""
    return f"{_DTC_LETTERS[high >> 6]}{(high >> 4) & 0x3}{high & 0xF:X}{low:02X}"


def decode_dtcs(payloads: Iterable[bytes]) -> tuple[str, ...]:
    """Stored DTCs from mode 03 answers (bytes after ``43``), one payload per ECU message.

    On CAN (ISO 15765-4) the payload starts with the number of DTCs, so its length is odd; on
    J1850 / ISO 9141 / KWP each message holds three DTCs without a count (even length, padded
    with ``00 00``). ``0000`` entries are padding. Duplicates across ECUs/messages are dropped,
    order is kept.
    """
    codes: list[str] = []
    for payload in payloads:
        data = payload
        if len(data) % 2:
            count, data = data[0], data[1:]
            data = data[: 2 * count]
        for i in range(0, len(data) - 1, 2):
            high, low = data[i], data[i + 1]
            if high == 0 and low == 0:
                continue
            code = dtc_string(high, low)
            if code not in codes:
                codes.append(code)
    return tuple(codes)
