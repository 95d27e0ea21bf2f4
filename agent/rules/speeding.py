"""Speeding episodes (telemetryEventType 5 started / 6 ended).

The limit is ``MAX_SPEED_KMH`` (0 = off), lowered to the ``max_speed`` of the speed zones the
vehicle is in. An episode starts once the fused speed has stayed above limit + tolerance for
``speeding_min_duration_s``, and ends once it has stayed at or below the limit itself for
``speeding_end_duration_s`` (the tolerance band is the hysteresis). While the speed is unknown
(``speed_source`` ``none``: no fresh wheel speed and no current fix) a running episode holds.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.events import TelemetryDetail, TelemetryEventType
from agent.rules.base import Debounce, Rule, RuleOutput, telemetry
from agent.rules.settings import RuleThresholds
from agent.vehicle.state import VehicleState

# () -> (zone limit km/h, zone id) of the most restrictive speed zone the vehicle is in.
ZoneLimit = Callable[[], tuple[int, str] | None]


def _no_zone() -> tuple[int, str] | None:
    return None


class SpeedingRule(Rule):
    def __init__(self, zone_limit: ZoneLimit = _no_zone) -> None:
        self._zone_limit = zone_limit
        self._above = Debounce()
        self._below = Debounce()
        self._active = False
        self._start_t = 0.0
        self._peak = 0.0
        self._limit = 0
        self._zone: str | None = None

    def _effective_limit(self, th: RuleThresholds) -> tuple[int, str | None] | None:
        limit: int | None = th.max_speed_kmh if th.max_speed_kmh > 0 else None
        zone = self._zone_limit()
        if zone is not None and (limit is None or zone[0] < limit):
            return zone[0], zone[1]
        return None if limit is None else (limit, None)

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if s.speed_source == "none":  # speed unknown (e.g. a GNSS outage), not 0: hold
            if not self._active:
                self._above.reset()
            return []
        v = s.speed_kmh
        eff = self._effective_limit(th)
        if not self._active:
            over = eff is not None and v > eff[0] + th.speeding_tolerance_kmh
            if not self._above.update(t, over, th.speeding_min_duration_s):
                return []
            assert eff is not None
            self._active = True
            assert self._above.since is not None
            self._start_t = self._above.since  # when the speed first went over
            self._peak = v
            self._limit, self._zone = eff
            extra: dict[str, object] = {"speedKmh": round(v), "speedLimitKmh": self._limit}
            if self._zone is not None:
                extra["speedZoneId"] = self._zone
            self._below.reset()
            return [telemetry(t, TelemetryEventType.SPEEDING_STARTED, extra)]
        self._peak = max(self._peak, v)
        limit = eff[0] if eff is not None else None
        back = limit is None or v <= limit
        if not self._below.update(t, back, th.speeding_end_duration_s):
            return []
        self._active = False
        self._above.reset()
        assert self._below.since is not None
        extra = {
            "durationS": round(self._below.since - self._start_t, 1),
            "maxSpeedKmh": round(self._peak),
            "speedLimitKmh": self._limit,
        }
        if self._zone is not None:
            extra["speedZoneId"] = self._zone
        return [RuleOutput(t, TelemetryDetail(TelemetryEventType.SPEEDING_ENDED, extra=extra))]
