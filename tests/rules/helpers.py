"""Input builders and a replay loop for rule tests at exact seconds (openpilot style)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from agent.events import (
    Event,
    HardwareDetail,
    HardwareEventType,
    TelemetryDetail,
    TelemetryEventType,
)
from agent.rules import RuleThresholds, TelemetryEngine
from agent.sources.readings import FixMode, GnssFix, Signal, SignalReading
from agent.vehicle.geo import destination
from agent.vehicle.inputs import StateInput

T0 = 1_700_000_000.0  # an arbitrary epoch; tests speak in seconds after it
LAT0, LON0 = 43.2389, 76.8897

Kind = TelemetryEventType | HardwareEventType


def fix(
    t: float,
    lat: float = LAT0,
    lon: float = LON0,
    *,
    speed_kmh: float = 0.0,
    track: float | None = 0.0,
    sats: int = 10,
    visible: int = 12,
    valid: bool = True,
    hdop: float = 0.9,
) -> GnssFix:
    if not valid:
        return GnssFix(
            t=T0 + t,
            time_ms=None,
            mode=FixMode.NO_FIX,
            satellites_used=sats,
            satellites_visible=visible,
        )
    return GnssFix(
        t=T0 + t, time_ms=round((T0 + t) * 1000), mode=FixMode.FIX_3D, lat=lat, lon=lon,
        alt=800.0, speed_mps=speed_kmh / 3.6, track=track, hdop=hdop, vdop=1.2,
        satellites_used=sats, satellites_visible=visible,
    )  # fmt: skip


def sig(t: float, signal: Signal, value: float, source: str = "can") -> SignalReading:
    return SignalReading(T0 + t, signal, value, source)


def route(
    t0: int,
    t1: int,
    speed_kmh: Callable[[float], float] | float,
    *,
    heading: Callable[[float], float] | float = 0.0,
    start: tuple[float, float] = (LAT0, LON0),
    dt: float = 1.0,
) -> Iterator[GnssFix]:
    """Fixes from t0 to t1 inclusive, positions integrated from speed and heading."""
    sp = speed_kmh if callable(speed_kmh) else (lambda _t, v=speed_kmh: v)
    hd = heading if callable(heading) else (lambda _t, h=heading: h)
    lat, lon = start
    n = round((t1 - t0) / dt)
    for i in range(n + 1):
        t = t0 + i * dt
        if i:
            lat, lon = destination(lat, lon, hd(t - dt), sp(t - dt) / 3.6 * dt)
        yield fix(t, lat, lon, speed_kmh=sp(t), track=hd(t))


@dataclass(frozen=True)
class Seen:
    t: float  # seconds after T0
    kind: Kind
    event: Event


def kind_of(e: Event) -> Kind:
    d = e.detail
    assert isinstance(d, TelemetryDetail | HardwareDetail)
    return d.event_type


def replay(
    engine: TelemetryEngine,
    inputs: Iterable[StateInput],
    until: float,
    *,
    tick_from: float = 0.0,
    tick: float = 1.0,
) -> list[Seen]:
    """Feed readings and 1 s ticks in time order (readings before a tick at the same second)."""
    items: list[tuple[float, int, StateInput | None]] = [(r.t - T0, 0, r) for r in inputs]
    k = 0
    while tick_from + k * tick <= until:
        items.append((tick_from + k * tick, 1, None))
        k += 1
    items.sort(key=lambda x: (x[0], x[1]))
    seen: list[Seen] = []
    for t, _, r in items:
        events = engine.step(r) if r is not None else engine.tick(T0 + t)
        seen += [Seen(round(e.timestamp_ms / 1000 - T0, 3), kind_of(e), e) for e in events]
    return seen


def kinds(seen: list[Seen]) -> list[tuple[float, Kind]]:
    return [(s.t, s.kind) for s in seen]


def only(seen: list[Seen], *wanted: Kind) -> list[tuple[float, Kind]]:
    return [(s.t, s.kind) for s in seen if s.kind in wanted]


def extra(s: Seen) -> dict[str, object]:
    d = s.event.detail
    assert isinstance(d, TelemetryDetail)
    return dict(d.extra)


def engine(**changes: object) -> TelemetryEngine:
    return TelemetryEngine(RuleThresholds().with_changes(**changes))
