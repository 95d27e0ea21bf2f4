"""Tyre alarms from J1939 TIRE (PGN 65268): temperature (32, etrack 11), leak (33, etrack 12),
low pressure (34, etrack 13), high pressure (35, etrack 14); one episode per tyre location.

Per tyre, from its latest report (older than :data:`TYRE_FRESH_S` counts as no report - TIRE
stops with the ignition):

* temperature at or above ``tyre_high_temperature_c``; re-armed below it minus
  ``tyre_temperature_hysteresis_c``;
* leak: air leakage rate (SPN 2586) at or above ``tyre_leak_pa_s``, or the TPMS says "tyre leak
  detected" (SPN 1698), or the pressure fell at least ``tyre_leak_drop_kpa`` within
  ``tyre_leak_window_s``; re-armed when none of these holds;
* low: pressure below ``tyre_low_pressure_kpa``, or the TPMS's threshold detection (SPN 2587)
  says under / extreme under pressure; re-armed at low + ``tyre_pressure_hysteresis_kpa``;
* high: pressure above ``tyre_high_pressure_kpa``, or SPN 2587 says over / extreme over
  pressure; re-armed at high - hysteresis.

Each condition must hold ``tyre_alarm_debounce_s``. Extra fields: ``tyreLocation`` (SPN 929),
``axle``, ``tyrePosition``, and the ``pressureKpa``, ``temperatureC``, ``leakPaS`` reported.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from agent.events import TelemetryEventType
from agent.rules.base import Debounce, Rule, RuleOutput, telemetry
from agent.rules.settings import RuleThresholds
from agent.sources.readings import TyreReading
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState

TYRE_FRESH_S = 60.0  # TIRE is broadcast every 10 s (J1939-71) or on change
# SPN 2587 codes (J1939-71): 0 extreme over, 1 over, 2 no warning, 3 under, 4 extreme under.
_OVER = frozenset({0, 1})
_UNDER = frozenset({3, 4})
# SPN 1698: 1 = tyre leak detected.
_LEAK_DETECTED = 1


@dataclass(slots=True)
class _Alarm:
    kind: TelemetryEventType
    armed: bool = True
    hold: Debounce = field(default_factory=Debounce)

    def update(self, t: float, cond: bool, rearm: bool, hold_s: float) -> bool:
        if rearm:
            self.armed = True
        if not self.armed:
            self.hold.reset()
            return False
        if self.hold.update(t, cond, hold_s):
            self.armed = False
            self.hold.reset()
            return True
        return False


@dataclass(slots=True)
class _Tyre:
    temperature: _Alarm = field(default_factory=lambda: _Alarm(TelemetryEventType.TYRE_TEMPERATURE))
    leak: _Alarm = field(default_factory=lambda: _Alarm(TelemetryEventType.TYRE_LEAK))
    low: _Alarm = field(default_factory=lambda: _Alarm(TelemetryEventType.TYRE_LOW_PRESSURE))
    high: _Alarm = field(default_factory=lambda: _Alarm(TelemetryEventType.TYRE_HIGH_PRESSURE))
    pressures: deque[tuple[float, float]] = field(default_factory=deque)


def _extra(r: TyreReading) -> dict[str, object]:
    out: dict[str, object] = {"tyreLocation": r.location, "axle": r.axle,
                              "tyrePosition": r.position}
    if r.pressure_kpa is not None:
        out["pressureKpa"] = round(r.pressure_kpa, 1)
    if r.temperature_c is not None:
        out["temperatureC"] = round(r.temperature_c, 1)
    if r.leak_pa_s is not None:
        out["leakPaS"] = round(r.leak_pa_s, 1)
    return out


class TyreRule(Rule):
    def __init__(self) -> None:
        self._tyres: dict[int, _Tyre] = {}

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if isinstance(r, TyreReading) and r.pressure_kpa is not None:
            hist = self._tyres.setdefault(r.location, _Tyre()).pressures
            hist.append((r.t, r.pressure_kpa))
            while hist and r.t - hist[0][0] > th.tyre_leak_window_s:
                hist.popleft()
        return []

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        out: list[RuleOutput] = []
        hold = th.tyre_alarm_debounce_s
        for loc, r in s.tyres.items():
            tyre = self._tyres.setdefault(loc, _Tyre())
            fresh = t - r.t <= TYRE_FRESH_S
            p = r.pressure_kpa if fresh else None
            temp = r.temperature_c if fresh else None
            verdict = r.threshold if fresh else None
            # temperature
            hot = temp is not None and temp >= th.tyre_high_temperature_c
            cool = temp is None or (
                temp < th.tyre_high_temperature_c - th.tyre_temperature_hysteresis_c)
            fired = [tyre.temperature] if tyre.temperature.update(t, hot, cool, hold) else []
            # leak
            drop = 0.0
            if p is not None:
                recent = [q for tq, q in tyre.pressures if t - tq <= th.tyre_leak_window_s]
                drop = max(recent) - p if recent else 0.0
            leaking = fresh and (
                (r.leak_pa_s is not None and r.leak_pa_s >= th.tyre_leak_pa_s)
                or r.tyre_status == _LEAK_DETECTED
                or drop >= th.tyre_leak_drop_kpa
            )
            if tyre.leak.update(t, leaking, not leaking, hold):
                fired.append(tyre.leak)
            # low / high pressure
            low_th, high_th, hyst = (th.tyre_low_pressure_kpa, th.tyre_high_pressure_kpa,
                                     th.tyre_pressure_hysteresis_kpa)
            low = (p is not None and low_th > 0 and p < low_th) or verdict in _UNDER
            low_ok = verdict not in _UNDER and (p is None or low_th <= 0 or p >= low_th + hyst)
            if tyre.low.update(t, low, low_ok, hold):
                fired.append(tyre.low)
            high = (p is not None and high_th > 0 and p > high_th) or verdict in _OVER
            high_ok = verdict not in _OVER and (p is None or high_th <= 0 or p <= high_th - hyst)
            if tyre.high.update(t, high, high_ok, hold):
                fired.append(tyre.high)
            out += [telemetry(t, a.kind, _extra(r)) for a in fired]
        return out
