"""Periodic positions (telemetryEventType 1), Teltonika style.

Moving: a record every ``tracking_moving_period_s``, or after ``tracking_distance_m`` from the
last record, or a course change of ``tracking_heading_deg`` (above walking pace), or a speed
change of ``tracking_speed_change_kmh``. Stopped: every ``tracking_stopped_period_s``.
The first valid fix after start is recorded at once. ``extra.trigger`` says why.
"""

from __future__ import annotations

from agent.events import TelemetryDetail, TelemetryEventType
from agent.rules.base import Rule, RuleOutput
from agent.rules.settings import RuleThresholds
from agent.sources.readings import GnssFix
from agent.vehicle.geo import haversine_m, heading_delta_deg
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState, is_valid_fix


class TrackingRule(Rule):
    def __init__(self) -> None:
        self._start_t: float | None = None
        self._last_t: float | None = None
        self._last_pos: tuple[float, float] | None = None
        self._last_heading: float | None = None
        self._last_speed = 0.0

    def _record(self, t: float, s: VehicleState, trigger: str) -> RuleOutput:
        self._last_t = t
        fix = s.last_fix
        if fix is not None and fix.lat is not None and fix.lon is not None:
            self._last_pos = (fix.lat, fix.lon)
        self._last_heading = s.heading_deg
        self._last_speed = s.speed_kmh
        return RuleOutput(
            t, TelemetryDetail(TelemetryEventType.PERIODIC_POSITION, extra={"trigger": trigger})
        )

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if self._start_t is None:
            self._start_t = r.t
        if not isinstance(r, GnssFix) or not is_valid_fix(r):
            return []
        assert r.lat is not None
        assert r.lon is not None
        if self._last_pos is None:
            return [self._record(r.t, s, "first_fix")]
        if not s.moving:
            return []
        if th.tracking_distance_m > 0:
            d = haversine_m(self._last_pos[0], self._last_pos[1], r.lat, r.lon)
            if d >= th.tracking_distance_m:
                return [self._record(r.t, s, "distance")]
        if (
            th.tracking_heading_deg > 0
            and r.track is not None
            and r.speed_mps is not None
            and r.speed_mps * 3.6 >= th.tracking_heading_min_speed_kmh
            and self._last_heading is not None
            and heading_delta_deg(self._last_heading, r.track) >= th.tracking_heading_deg
        ):
            return [self._record(r.t, s, "heading")]
        if (
            th.tracking_speed_change_kmh > 0
            and abs(s.speed_kmh - self._last_speed) >= th.tracking_speed_change_kmh
        ):
            return [self._record(r.t, s, "speed")]
        return []

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if self._start_t is None:
            self._start_t = t
        ref = self._last_t if self._last_t is not None else self._start_t
        period = th.tracking_moving_period_s if s.moving else th.tracking_stopped_period_s
        if t - ref >= period:
            return [self._record(t, s, "time")]
        return []
