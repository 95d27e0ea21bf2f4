"""Rules on vehicle signals: doors (19 / 20), SOS (21), OBD trouble codes (23),
over-revving (24) and sudden fuel drop (25).

* Doors: a change of ``DOOR_OPEN``; the first reading after start sets the side silently.
* SOS: a rising edge of ``SOS`` (also a first reading that is already pressed).
* Trouble codes: one event per code that appears in a ``TroubleCodes`` reading and was not in
  the previous one (``dtc``); a cleared code may fire again when it comes back.
* Over-revving: fresh engine speed above ``over_rev_rpm`` for ``over_rev_min_duration_s``;
  re-armed below ``over_rev_rpm - over_rev_hysteresis_rpm``.
* Fuel drop: the fuel level, as the median of the last ``fuel_smoothing_s``, fell by at least
  ``fuel_drop_pct`` from its highest value within ``fuel_drop_window_s`` (consumption is far
  slower than that; refuelling is a rise).
"""

from __future__ import annotations

import statistics
from collections import deque

from agent.events import TelemetryEventType as T
from agent.rules.base import Debounce, Rule, RuleOutput, telemetry
from agent.rules.settings import RuleThresholds
from agent.sources.readings import Signal, SignalReading, TroubleCodes
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState


class DoorSosRule(Rule):
    def __init__(self) -> None:
        self._door: bool | None = None
        self._sos = False

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if not isinstance(r, SignalReading):
            return []
        if r.signal is Signal.DOOR_OPEN:
            is_open = r.value >= 0.5
            prev, self._door = self._door, is_open
            if prev is None or prev == is_open:
                return []
            return [telemetry(r.t, T.DOOR_OPENED if is_open else T.DOOR_CLOSED)]
        if r.signal is Signal.SOS:
            pressed = r.value >= 0.5
            rising = pressed and not self._sos
            self._sos = pressed
            return [telemetry(r.t, T.SOS)] if rising else []
        return []


class TroubleCodeRule(Rule):
    def __init__(self) -> None:
        self._known: frozenset[str] = frozenset()

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if not isinstance(r, TroubleCodes):
            return []
        new = [c for c in dict.fromkeys(r.codes) if c not in self._known]
        self._known = frozenset(r.codes)
        return [telemetry(r.t, T.OBD_TROUBLE_CODE, {"dtc": c}) for c in new]


class OverRevRule(Rule):
    def __init__(self) -> None:
        self._high = Debounce()
        self._armed = True
        self._peak = 0.0

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        rpm = s.engine_rpm
        if rpm is None or rpm < th.over_rev_rpm - th.over_rev_hysteresis_rpm:
            self._armed = True
            self._high.reset()
            return []
        if not self._armed:
            return []
        high = rpm > th.over_rev_rpm
        self._peak = max(self._peak, rpm) if self._high.since is not None else rpm
        if not self._high.update(t, high, th.over_rev_min_duration_s):
            return []
        self._armed = False
        extra = {"engineRpm": round(self._peak)}
        return [telemetry(t, T.OVER_REVVING, extra)]


class FuelDropRule(Rule):
    def __init__(self) -> None:
        self._raw: deque[tuple[float, float]] = deque()
        self._smooth: deque[tuple[float, float]] = deque()

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if not isinstance(r, SignalReading) or r.signal is not Signal.FUEL_LEVEL_PCT:
            return []
        t = r.t
        self._raw.append((t, r.value))
        while self._raw and t - self._raw[0][0] > th.fuel_smoothing_s:
            self._raw.popleft()
        level = statistics.median(v for _, v in self._raw)
        self._smooth.append((t, level))
        while self._smooth and t - self._smooth[0][0] > th.fuel_drop_window_s:
            self._smooth.popleft()
        before = max(v for _, v in self._smooth)
        if before - level < th.fuel_drop_pct:
            return []
        self._smooth.clear()
        self._smooth.append((t, level))
        extra = {
            "fuelDropPct": round(before - level, 1),
            "fuelLevelBeforePct": round(before, 1),
            "fuelLevelPct": round(level, 1),
        }
        return [telemetry(t, T.FUEL_DROP, extra)]
