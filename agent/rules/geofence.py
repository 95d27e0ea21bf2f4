"""Geofences: etrack circles, polygons, the dashboard network border and speed zones.

Shapes (CONTRACT.md §4 ``geofence.set`` / ``zones.set``): circle ``{id, name, latitude,
longitude, radius 100..5000 m, alarmtype 0 out / 1 in / 2 both}``; polygon ``{id, name,
shape: [[lat, lng], ...] >= 3, alarmtype}``; speed zone ``{id, shape, max_speed 6..25}``;
network border ``{shape, actions}``. Coordinates are ``[lat, lng]`` (the project's decision for
seed 001's unstated order); a closing point equal to the first is allowed and ignored.

Events: geofence enter (11) / exit (12) as the fence's ``alarmtype`` asks; left the network
border (22, with the border actions so the app can carry them out); speed zone enter (13) /
exit (14) with the zone's ``maxSpeedKmh``. A fence's side is learnt silently from the first
valid fix after start or after the fence was set; then the vehicle enters when inside and
exits only when ``geofence_hysteresis_m`` outside, so a fix wandering on the line does not
chatter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from agent.events import TelemetryDetail, TelemetryEventType
from agent.events import TelemetryEventType as T
from agent.rules.base import Rule, RuleOutput, telemetry
from agent.rules.settings import RuleThresholds
from agent.section import StrictModel
from agent.sources.readings import GnssFix
from agent.vehicle.geo import LocalFrame, haversine_m
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState, is_valid_fix

LatLng = tuple[Annotated[float, Field(ge=-90, le=90)], Annotated[float, Field(ge=-180, le=180)]]


def _check_shape(shape: list[LatLng]) -> list[LatLng]:
    pts = list(shape)
    if len(pts) >= 2 and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        raise ValueError("a shape needs at least 3 distinct points")
    return pts


class _Fence(StrictModel):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=128)


class CircleGeofence(_Fence):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    radius: int = Field(ge=100, le=5000)  # etrack: 100~5000 m
    alarmtype: Literal[0, 1, 2] = 2  # etrack: 0 out, 1 in, 2 in/out


class PolygonGeofence(_Fence):
    shape: list[LatLng]
    alarmtype: Literal[0, 1, 2] = 2

    _shape = field_validator("shape")(_check_shape)


class SpeedZone(_Fence):
    shape: list[LatLng]
    max_speed: int = Field(ge=6, le=25)  # dashboard: max_speed [6 .. 25]

    _shape = field_validator("shape")(_check_shape)


class BorderActions(StrictModel):
    trigger_alert: bool = True
    notify_user: bool = False
    reduce_vehicle_speed: bool = False
    play_vehicle_sound: bool = False
    lock_vehicle: bool = False


class NetworkBorder(StrictModel):
    id: str = "border"
    shape: list[LatLng]
    actions: BorderActions = BorderActions()

    _shape = field_validator("shape")(_check_shape)


class GeofenceSet(BaseModel):
    """Everything fence-like the device knows; replaced as a whole by orders."""

    # BaseModel itself, not StrictModel: ruff (RUF012) knows pydantic copies a mutable default
    # only on direct subclasses.
    model_config = StrictModel.model_config
    circles: list[CircleGeofence] = []
    polygons: list[PolygonGeofence] = []
    zones: list[SpeedZone] = []
    border: NetworkBorder | None = None


class _Polygon:
    """A shape in a local metric frame; signed distance > 0 inside."""

    def __init__(self, shape: Sequence[tuple[float, float]]) -> None:
        lat0 = sum(p[0] for p in shape) / len(shape)
        lon0 = sum(p[1] for p in shape) / len(shape)
        self.frame = LocalFrame(lat0, lon0)
        self.xy = [self.frame.to_xy(lat, lon) for lat, lon in shape]

    def signed_distance(self, lat: float, lon: float) -> float:
        x, y = self.frame.to_xy(lat, lon)
        inside = False
        best = math.inf
        n = len(self.xy)
        for i in range(n):
            x1, y1 = self.xy[i]
            x2, y2 = self.xy[(i + 1) % n]
            if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
                inside = not inside
            best = min(best, _segment_distance((x, y), (x1, y1), (x2, y2)))
        return best if inside else -best


def _segment_distance(
    p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]
) -> float:
    (px, py), (x1, y1), (x2, y2) = p, a, b
    dx, dy = x2 - x1, y2 - y1
    den = dx * dx + dy * dy
    u = 0.0 if den == 0 else max(0.0, min(1.0, ((px - x1) * dx + (py - y1) * dy) / den))
    return math.hypot(px - (x1 + u * dx), py - (y1 + u * dy))


class _Tracked:
    """One fence: how to measure it, and which side the vehicle is on (None = not learnt)."""

    def __init__(self, key: tuple[str, str], spec: BaseModel) -> None:
        self.key = key
        self.spec = spec
        self.inside: bool | None = None
        self._poly: _Polygon | None = None
        if isinstance(spec, CircleGeofence):
            return
        assert isinstance(spec, PolygonGeofence | SpeedZone | NetworkBorder)
        self._poly = _Polygon(spec.shape)

    def signed_distance(self, lat: float, lon: float) -> float:
        if self._poly is not None:
            return self._poly.signed_distance(lat, lon)
        c = self.spec
        assert isinstance(c, CircleGeofence)
        return c.radius - haversine_m(c.latitude, c.longitude, lat, lon)


class GeofenceRule(Rule):
    def __init__(self, fences: GeofenceSet | None = None) -> None:
        self._fences: list[_Tracked] = []
        self.update(fences or GeofenceSet())

    def update(self, fences: GeofenceSet) -> None:
        """Replace the fence set; unchanged fences keep their side, new ones learn it silently."""
        old = {f.key: f for f in self._fences}
        specs: list[tuple[tuple[str, str], BaseModel]] = [
            *((("circle", c.id), c) for c in fences.circles),
            *((("polygon", p.id), p) for p in fences.polygons),
            *((("zone", z.id), z) for z in fences.zones),
        ]
        if fences.border is not None:
            specs.append((("border", fences.border.id), fences.border))
        tracked = []
        for key, spec in specs:
            prev = old.get(key)
            t = _Tracked(key, spec)
            if prev is not None and prev.spec == spec:
                t.inside = prev.inside
            tracked.append(t)
        self._fences = tracked

    def zone_limit(self) -> tuple[int, str] | None:
        """(max_speed, id) of the most restrictive speed zone the vehicle is in."""
        best: tuple[int, str] | None = None
        for f in self._fences:
            if f.key[0] == "zone" and f.inside:
                z = f.spec
                assert isinstance(z, SpeedZone)
                if best is None or z.max_speed < best[0]:
                    best = (z.max_speed, z.id)
        return best

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if not isinstance(r, GnssFix) or not is_valid_fix(r):
            return []
        assert r.lat is not None
        assert r.lon is not None
        out: list[RuleOutput] = []
        for f in self._fences:
            d = f.signed_distance(r.lat, r.lon)
            if f.inside is None:
                f.inside = d >= 0
                continue
            if not f.inside and d >= 0:
                f.inside = True
                out += _events(r.t, f, entered=True)
            elif f.inside and d <= -th.geofence_hysteresis_m:
                f.inside = False
                out += _events(r.t, f, entered=False)
        return out


def _events(t: float, f: _Tracked, *, entered: bool) -> list[RuleOutput]:
    spec = f.spec
    if isinstance(spec, CircleGeofence | PolygonGeofence):
        wanted = (1, 2) if entered else (0, 2)
        if spec.alarmtype not in wanted:
            return []
        kind = TelemetryEventType.GEOFENCE_ENTER if entered else TelemetryEventType.GEOFENCE_EXIT
        extra: dict[str, object] = {"geofenceId": spec.id, "geofenceName": spec.name}
        return [RuleOutput(t, TelemetryDetail(kind, extra=extra))]
    if isinstance(spec, SpeedZone):
        kind = T.SPEED_ZONE_ENTER if entered else T.SPEED_ZONE_EXIT
        return [telemetry(t, kind, {"speedZoneId": spec.id, "maxSpeedKmh": spec.max_speed})]
    assert isinstance(spec, NetworkBorder)
    if entered:
        return []
    extra = {"geofenceId": spec.id, "borderActions": spec.actions.model_dump()}
    return [RuleOutput(t, TelemetryDetail(TelemetryEventType.LEFT_NETWORK_BORDER, extra=extra))]
