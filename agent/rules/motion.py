"""Ignition on/off (3 / 4), idling (10) and movement with the ignition off (17).

* Ignition: a change of the fused ignition between on and off (the first determination after
  start is not an event). ``ignition off`` carries ``durationS``, how long it was on.
* Idling: ignition on and speed at or below ``stopped_speed_kmh`` for ``idle_timeout_s``;
  one event per idle period, with ``durationS``. Idling needs a KNOWN speed: while it is unknown
  (``speed_source`` ``none``, e.g. a GNSS outage with GNSS the only speed source) the device must
  not cry wolf, so that time is not idle: the timer does not run, and before the event it starts
  again at the next known stop; an idle period already reported holds (as a speeding episode does).
* Towing / illegal moving: ignition known off and speed at or above ``towing_speed_kmh`` for
  ``towing_min_duration_s``; one event per episode, which ends after ``towing_end_s`` stopped
  or when the ignition comes on. With a motion sensor the same episode also starts without
  any speed (a tow in an underground car park has no GNSS): ignition off, the vehicle tilted
  ≥ ``tilt_lifted_deg`` from this park's gravity reference and the sensor not still
  (``motion_still_ms2``), for ``towing_min_duration_s`` (``detectedBy`` ``imu``).
"""

from __future__ import annotations

from agent.events import TelemetryDetail, TelemetryEventType
from agent.rules.base import Debounce, Rule, RuleOutput
from agent.rules.settings import RuleThresholds
from agent.vehicle.state import VehicleState


class IgnitionRule(Rule):
    def __init__(self) -> None:
        self._prev: bool | None = None
        self._on_since: float | None = None

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        ign = s.ignition
        prev, self._prev = self._prev, ign
        if ign is None or prev is None or ign == prev:
            if ign and self._on_since is None:
                self._on_since = s.ignition_since
            return []
        since = s.ignition_since if s.ignition_since is not None else t
        if ign:
            self._on_since = since
            return [RuleOutput(since, TelemetryDetail(TelemetryEventType.IGNITION_ON))]
        extra: dict[str, object] = {}
        if self._on_since is not None:
            extra["durationS"] = round(since - self._on_since, 1)
        self._on_since = None
        return [RuleOutput(since, TelemetryDetail(TelemetryEventType.IGNITION_OFF, extra=extra))]


class IdlingRule(Rule):
    def __init__(self) -> None:
        self._idle = Debounce()

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if s.speed_source == "none" and s.ignition is True:  # unknown speed (GNSS outage), not 0
            if not self._idle.fired:
                self._idle.reset()  # not idle time: the timer starts again at a known stop
            return []  # an idle period already reported holds (no second event for one stop)
        idle = s.ignition is True and s.speed_kmh <= th.stopped_speed_kmh
        if not self._idle.update(t, idle, th.idle_timeout_s):
            return []
        assert self._idle.since is not None
        extra = {"durationS": round(t - self._idle.since, 1)}
        return [RuleOutput(t, TelemetryDetail(TelemetryEventType.IDLING, extra=extra))]


class TowingRule(Rule):
    def __init__(self) -> None:
        self._moving = Debounce()
        self._stopped = Debounce()
        self._active = False

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        off = s.ignition is False
        v = s.speed_kmh
        towed = off and _towed_by_sensor(t, s, th)
        if self._active:
            stopped = v <= th.stopped_speed_kmh and not towed
            if not off or self._stopped.update(t, stopped, th.towing_end_s):
                self._active = False
                self._moving.reset()
                self._stopped.reset()
            return []
        by_speed = off and v >= th.towing_speed_kmh
        if not self._moving.update(t, by_speed or towed, th.towing_min_duration_s):
            return []
        self._active = True
        self._stopped.reset()
        assert self._moving.since is not None
        extra: dict[str, object] = {
            "speedKmh": round(v), "durationS": round(t - self._moving.since, 1),
        }  # fmt: skip
        if not by_speed:
            extra["detectedBy"] = "imu"
        return [RuleOutput(t, TelemetryDetail(TelemetryEventType.MOVING_IGNITION_OFF, extra=extra))]


def _towed_by_sensor(t: float, s: VehicleState, th: RuleThresholds) -> bool:
    """Tilted from this park's reference and shaking: lifted onto a tow truck and moving."""
    m = s.motion
    if m.t is None or t - m.t > 1.0 or m.still:
        return False
    tilt = m.tilt_from_park_deg
    return tilt is not None and tilt >= th.tilt_lifted_deg and m.activity_ms2 >= th.motion_still_ms2
