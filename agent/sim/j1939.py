"""Truth → J1939/FMS frames encoded with the project's DBC (agent/sources/can/j1939_fms.dbc).

The FMS gateway broadcasts only while the ignition is on: CCVS1 (wheel speed) and EEC1 (engine
speed) at the scenario's ``can_hz``, the rest once a second. Unused bits are 1 (J1939 "not
available"). Frames come from the engine ECU (source address 0x00).
"""

from __future__ import annotations

from typing import Any

from agent.sim.truth import Truth
from agent.sources.can.decoder import load_dbc

Frame = tuple[int, bytes]  # (29-bit identifier, data)

_FAST = ("CCVS1", "EEC1")
_SLOW = ("DD1", "VD", "VDHR", "HOURS", "VEP1", "ET1")


def slcan_line(can_id: int, data: bytes) -> bytes:
    """A Lawicel extended data frame line: ``T<8 hex id><dlc><hex data>\\r``."""
    return b"T%08X%d%s\r" % (can_id, len(data), data.hex().upper().encode("ascii"))


class FrameRenderer:
    def __init__(self, db: Any | None = None, source_address: int = 0x00) -> None:
        self.db = db if db is not None else load_dbc()
        self.source_address = source_address

    def _encode(self, name: str, values: dict[str, float]) -> Frame:
        msg = self.db.get_message_by_name(name)
        clamped = {}
        for sig in msg.signals:
            v = values[sig.name]
            lo = sig.minimum if sig.minimum is not None else v
            hi = sig.maximum if sig.maximum is not None else v
            clamped[sig.name] = min(hi, max(lo, v))
        data = msg.encode(clamped, scaling=True, padding=True, strict=True)
        can_id = (msg.frame_id & ~0xFF) | self.source_address
        return can_id, bytes(data)

    def fast(self, tr: Truth) -> list[Frame]:
        if not tr.ignition:
            return []
        return [
            self._encode("CCVS1", {"WheelBasedVehicleSpeed": tr.speed_kmh}),
            self._encode("EEC1", {"EngineSpeed": tr.rpm}),
        ]

    def slow(self, tr: Truth) -> list[Frame]:
        if not tr.ignition:
            return []
        return [
            self._encode("DD1", {"FuelLevel1": tr.fuel_pct}),
            self._encode("VD", {"TotalVehicleDistance": tr.odometer_m / 1000.0}),
            self._encode("VDHR", {"HighResolutionTotalVehicleDistance": tr.odometer_m}),
            self._encode("HOURS", {"EngineTotalHoursOfOperation": 12_000.0 + tr.t / 3600.0}),
            self._encode("VEP1", {"BatteryPotentialPowerInput1": 14.0 if tr.rpm > 0 else 12.4}),
            self._encode("ET1", {"EngineCoolantTemperature": 88.0}),
            *self.tyres(tr),
        ]

    def tyres(self, tr: Truth) -> list[Frame]:
        """TIRE (PGN 65268), one frame per tyre (a TPMS receiver broadcasts every 10 s; the
        simulator sends it with the 1 s group: the rules' debounce does not care)."""
        return [
            self._encode("TIRE", {
                "TireLocation": loc, "TirePressure": kpa, "TireTemperature": temp,
                "CTIWheelSensorStatus": 1, "CTITireStatus": 0, "CTIWheelEndElectricalFault": 0,
                "TireAirLeakageRate": leak, "TirePressureThresholdDetection": 2,
            })
            for loc, kpa, temp, leak in tr.tyres
        ]
