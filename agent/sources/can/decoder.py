"""DBC-driven J1939 decoding: CAN frame -> :class:`SignalReading`s in the agent's vocabulary.

Frames are matched on their PGN, so any source address decodes (a truck's engine ECU is 0x00,
but gateways and retrofits use others). cantools unpacks the raw bits; scaling, the J1939
"not available" / "error" conventions and the range check are done here from values
precomputed per signal when the DBC is loaded, so the per-frame path is one dict lookup, one
cantools unpack and a few integer comparisons.

J1939-71 parameter ranges: for a parameter of n >= 8 bits the top byte 0xFF means "not
available", 0xFE "error", 0xFB-0xFD "indicator/reserved" (outside the DBC range, so caught by the
range check). For 2- and 4-bit discretes all-ones is "not available", all-ones minus one "error".

A value inside the DBC range can still be physically impossible (VEP1 allows 3,212 V, VD 526
million km, and a fleet's own DBC may allow anything): each agent signal is also checked
against :data:`agent.sources.plausibility.LIMITS` and counted as ``implausible`` when refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cantools
from cantools.database.errors import DecodeError
from cantools.errors import Error as CantoolsError

from agent.errors import SourceError
from agent.sources.can.j1939 import pgn_of, source_address
from agent.sources.plausibility import plausible
from agent.sources.readings import Signal, SignalReading, TyreReading

# SPN -> (agent signal, factor from the SPN's unit to the signal's unit, rank). When two SPNs
# feed one signal, readings of a lower rank stop once one of a higher rank has been decoded
# (VDHR's 5 m odometer is preferred to VD's 125 m one).
SPN_SIGNALS: dict[int, tuple[Signal, float, int]] = {
    84: (Signal.WHEEL_SPEED_KMH, 1.0, 0),  # CCVS1 wheel-based vehicle speed, km/h
    190: (Signal.ENGINE_RPM, 1.0, 0),  # EEC1 engine speed, rpm
    96: (Signal.FUEL_LEVEL_PCT, 1.0, 0),  # DD1 fuel level 1, %
    245: (Signal.TOTAL_DISTANCE_M, 1000.0, 0),  # VD total vehicle distance, km
    917: (Signal.TOTAL_DISTANCE_M, 1.0, 1),  # VDHR high-resolution total distance, m
    247: (Signal.ENGINE_HOURS_H, 1.0, 0),  # HOURS engine total hours of operation, h
    168: (Signal.VEHICLE_BATTERY_V, 1.0, 0),  # VEP1 battery potential / power input 1, V
    110: (Signal.COOLANT_TEMP_C, 1.0, 0),  # ET1 engine coolant temperature, degC
}

CanReading = SignalReading | TyreReading
_EMPTY: tuple[CanReading, ...] = ()

TIRE_PGN = 65268
# Signals of composite messages (several fields -> one reading) checked against LIMITS.
COMPOSITE_LIMITS: dict[str, str] = {
    "TirePressure": "tyre.pressure_kpa",
    "TireTemperature": "tyre.temperature_c",
    "TireAirLeakageRate": "tyre.leak_pa_s",
}


def _tyre(v: dict[str, float], t: float, source: str) -> TyreReading | None:
    """TIRE (PGN 65268) -> one tyre's reading; a frame without a location says nothing."""
    loc = v.get("TireLocation")
    if loc is None:
        return None
    status = v.get("CTITireStatus")
    threshold = v.get("TirePressureThresholdDetection")
    return TyreReading(
        t, int(loc), pressure_kpa=v.get("TirePressure"), temperature_c=v.get("TireTemperature"),
        leak_pa_s=v.get("TireAirLeakageRate"),
        tyre_status=int(status) if status is not None else None,
        threshold=int(threshold) if threshold is not None else None, source=source,
    )


# PGN -> builder of one reading from a frame's decoded fields (by DBC signal name).
COMPOSITE: dict[int, Any] = {TIRE_PGN: _tyre}


def default_dbc_path() -> Path:
    """The J1939/FMS DBC shipped inside the package."""
    return Path(str(resources.files("agent.sources.can").joinpath("j1939_fms.dbc")))


def load_dbc(path: Path | None = None) -> Any:
    """Load a DBC (the shipped one by default) as a cantools database."""
    path = path or default_dbc_path()
    try:
        return cantools.database.load_file(str(path), database_format="dbc", strict=True)
    except (OSError, CantoolsError, ValueError) as exc:
        raise SourceError(f"cannot load DBC {path}: {exc}") from exc


@dataclass(slots=True)
class SignalPlan:
    """One DBC signal with everything the per-frame path needs, plus its counters."""

    name: str
    spn: int | None
    unit: str
    scale: float
    offset: float
    minimum: float
    maximum: float
    na_shift: int  # raw >> na_shift is compared with 0xFF/0xFE (or the discrete codes)
    na_code: int
    error_code: int
    check_na: bool
    signal: Signal | None
    factor: float
    rank: int
    not_available: int = 0
    errors: int = 0
    out_of_range: int = 0
    implausible: int = 0  # inside the DBC range, outside the physical limits
    superseded: int = 0
    decoded: int = 0


@dataclass(slots=True)
class MessagePlan:
    name: str
    pgn: int
    message: Any  # cantools Message
    signals: tuple[SignalPlan, ...]
    frames: int = 0
    bad_length: int = 0
    composite: Any = None  # builder of one reading from all fields (TIRE), else None


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """A frame explained for ``edge-agent diag can``: every signal's value or why it was dropped."""

    message: str
    pgn: int
    source_address: int
    values: dict[str, float]
    skipped: dict[str, str]
    readings: tuple[CanReading, ...]


FRAME_COUNTS = ("frames", "matched", "unknown_pgn", "not_extended", "readings")


def _plan_signal(sig: Any) -> SignalPlan:
    spn = getattr(sig, "spn", None)
    target, factor, rank = SPN_SIGNALS.get(spn, (None, 1.0, 0)) if spn is not None else (
        None, 1.0, 0)
    length = int(sig.length)
    if length >= 8:
        na_shift, na_code, error_code = length - 8, 0xFF, 0xFE
    else:
        all_ones = (1 << length) - 1
        na_shift, na_code, error_code = 0, all_ones, all_ones - 1
    scale = float(sig.scale)
    offset = float(sig.offset)
    lo = float(sig.minimum) if sig.minimum is not None else float("-inf")
    hi = float(sig.maximum) if sig.maximum is not None else float("inf")
    return SignalPlan(
        name=sig.name, spn=spn, unit=sig.unit or "", scale=scale, offset=offset,
        minimum=lo, maximum=hi, na_shift=na_shift, na_code=na_code, error_code=error_code,
        check_na=not sig.is_signed and length >= 2, signal=target, factor=factor, rank=rank,
    )


class J1939Decoder:
    """Decodes J1939 frames with a DBC. Not thread-safe: one reader thread owns it."""

    def __init__(self, db: Any, source: str = "can") -> None:
        self._source = source
        self._by_pgn: dict[int, MessagePlan] = {}
        for msg in db.messages:
            if not msg.is_extended_frame:
                continue  # J1939 is 29-bit only
            pgn = pgn_of(msg.frame_id)
            if pgn in self._by_pgn:
                continue  # first definition of a PGN wins
            signals = tuple(_plan_signal(s) for s in msg.signals)
            self._by_pgn[pgn] = MessagePlan(msg.name, pgn, msg, signals,
                                            composite=COMPOSITE.get(pgn))
        if not self._by_pgn:
            raise SourceError("the DBC defines no 29-bit (J1939) message")
        self._contested = {
            target for target, _f, rank in SPN_SIGNALS.values() if rank > 0
        }
        # A plain dict, not a Counter: the increments are on the per-frame hot path, where a
        # Counter's subclass lookup costs ~1 µs a frame (scripts/bench_can.py measures it).
        self._counts: dict[str, int] = dict.fromkeys(FRAME_COUNTS, 0)
        self._rank_seen: dict[Signal, int] = {}  # best-ranked SPN seen per contested signal

    @classmethod
    def from_dbc(cls, path: Path | None = None, source: str = "can") -> J1939Decoder:
        return cls(load_dbc(path), source)

    @property
    def pgns(self) -> frozenset[int]:
        return frozenset(self._by_pgn)

    @property
    def messages(self) -> tuple[MessagePlan, ...]:
        return tuple(self._by_pgn.values())

    def decode(
        self, can_id: int, data: bytes | bytearray, t: float, extended: bool = True,
    ) -> Sequence[CanReading]:
        """Readings from one frame (an empty sequence for frames the DBC does not describe)."""
        c = self._counts
        c["frames"] += 1
        if not extended:
            c["not_extended"] += 1
            return _EMPTY
        pgn = (can_id >> 8) & 0x3FFFF
        if (pgn & 0xFF00) < 0xF000:
            pgn &= 0x3FF00
        plan = self._by_pgn.get(pgn)
        if plan is None:
            c["unknown_pgn"] += 1
            return _EMPTY
        plan.frames += 1
        try:
            raw = plan.message.decode_simple(data, False, False)
        except (DecodeError, ValueError, IndexError):
            plan.bad_length += 1
            return _EMPTY
        c["matched"] += 1
        if plan.composite is not None:
            return self._composite(plan, raw, t)
        out: list[CanReading] | None = None
        for sp in plan.signals:
            phys = _physical(sp, raw[sp.name])
            if phys is None:
                continue
            target = sp.signal
            if target is not None and not plausible(target, phys * sp.factor):
                sp.implausible += 1
                continue
            sp.decoded += 1
            if target is None:
                continue
            if target in self._contested:
                seen = self._rank_seen.get(target, -1)
                if sp.rank < seen:
                    sp.superseded += 1
                    continue
                if sp.rank > seen:
                    self._rank_seen[target] = sp.rank
            if out is None:
                out = []
            out.append(SignalReading(t, target, phys * sp.factor, self._source))
        if out is None:
            return _EMPTY
        c["readings"] += len(out)
        return out

    def _composite(self, plan: MessagePlan, raw: Any, t: float) -> Sequence[CanReading]:
        """A message whose fields make one reading (TIRE): same checks, then the builder."""
        values: dict[str, float] = {}
        for sp in plan.signals:
            phys = _physical(sp, raw[sp.name])
            if phys is None:
                continue
            limit = COMPOSITE_LIMITS.get(sp.name)
            if limit is not None and not plausible(limit, phys):
                sp.implausible += 1
                continue
            sp.decoded += 1
            values[sp.name] = phys
        reading = plan.composite(values, t, self._source)
        if reading is None:
            return _EMPTY
        self._counts["readings"] += 1
        return (reading,)

    def explain(self, can_id: int, data: bytes | bytearray, t: float = 0.0) -> DecodedFrame | None:
        """Like :meth:`decode`, and says what each signal held (diagnostics, not the hot path)."""
        plan = self._by_pgn.get(pgn_of(can_id))
        if plan is None:
            return None
        values: dict[str, float] = {}
        skipped: dict[str, str] = {}
        try:
            raw = plan.message.decode_simple(data, False, False)
        except (DecodeError, ValueError, IndexError) as exc:
            return DecodedFrame(plan.name, plan.pgn, source_address(can_id), {},
                                {"*": f"undecodable: {exc}"}, ())
        for sp in plan.signals:
            value = raw[sp.name]
            top = value >> sp.na_shift
            if sp.check_na and top == sp.na_code:
                skipped[sp.name] = "not available"
                continue
            if sp.check_na and top == sp.error_code:
                skipped[sp.name] = "error"
                continue
            phys = value * sp.scale + sp.offset
            if phys < sp.minimum or phys > sp.maximum:
                skipped[sp.name] = f"out of range ({phys:g} {sp.unit})"
                continue
            if sp.signal is not None and not plausible(sp.signal, phys * sp.factor):
                skipped[sp.name] = f"implausible ({phys:g} {sp.unit})"
                continue
            values[sp.name] = phys
        readings = tuple(self.decode(can_id, data, t))
        return DecodedFrame(plan.name, plan.pgn, source_address(can_id), values, skipped, readings)

    def counters(self) -> dict[str, object]:
        """Frame and per-signal counters (not-available, error, out-of-range) for diagnostics."""
        signals: dict[str, dict[str, int]] = {}
        for plan in self._by_pgn.values():
            for sp in plan.signals:
                signals[f"{plan.name}.{sp.name}"] = {
                    "decoded": sp.decoded, "not_available": sp.not_available,
                    "error": sp.errors, "out_of_range": sp.out_of_range,
                    "implausible": sp.implausible, "superseded": sp.superseded,
                }
        return {
            **self._counts,
            "bad_length": sum(p.bad_length for p in self._by_pgn.values()),
            "implausible": sum(sp.implausible for p in self._by_pgn.values() for sp in p.signals),
            "signals": signals,
        }


def _physical(sp: SignalPlan, value: int) -> float | None:
    """The raw field in physical units, or None (counted) when J1939 marks it not available
    or an error, or it is outside the DBC's range."""
    if sp.check_na:
        top = value >> sp.na_shift
        if top == sp.na_code:
            sp.not_available += 1
            return None
        if top == sp.error_code:
            sp.errors += 1
            return None
    phys = value * sp.scale + sp.offset
    if phys < sp.minimum or phys > sp.maximum:
        sp.out_of_range += 1
        return None
    return phys
