"""GNSS signal lost (15) / restored (16) with debounce, and jamming suspected (26).

Lost: no valid fix for ``gnss_lost_after_s`` (whether the receiver reports "no fix" or went
silent), once a fix had been seen since start. Restored: valid fixes for
``gnss_restored_after_s`` after a loss; ``outageS`` says how long the position was missing.
Any gap in valid fixes (a "no fix" report, or silence longer than the vehicle's ``fix_fresh_s``)
restarts that debounce.

Jamming suspected (emitted right after "lost"): the last valid fix used at least
``gnss_jam_min_satellites``, the receiver kept talking, and within ``gnss_jam_window_s`` it saw
no satellite at all, while the vehicle was stationary. A tunnel or car park is entered
driving; a jammer switched on next to a parked vehicle collapses the constellation at once.
"""

from __future__ import annotations

from agent.events import TelemetryDetail, TelemetryEventType
from agent.rules.base import Rule, RuleOutput, telemetry
from agent.rules.settings import RuleThresholds
from agent.sources.readings import GnssFix
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState, is_valid_fix


class GnssSignalRule(Rule):
    def __init__(self) -> None:
        self._seen_fix = False
        self._lost = False
        self._lost_fix_t = 0.0  # time of the last valid fix before the loss
        self._valid_since: float | None = None
        self._last_valid: GnssFix | None = None
        self._collapse_t: float | None = None  # first all-satellites-gone report after a fix
        self._stationary_at_loss = False

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if isinstance(r, GnssFix):
            if is_valid_fix(r):
                prev = self._last_valid
                self._seen_fix = True
                self._last_valid = r
                self._collapse_t = None
                self._stationary_at_loss = not s.moving
                # A silent gap (no report for longer than a fix stays current) restarts the
                # restore debounce, as a "no fix" report does.
                gap = prev is not None and r.t - prev.t > s.settings.fix_fresh_s
                if self._valid_since is None or gap:
                    self._valid_since = r.t
            else:
                self._valid_since = None
                if (
                    self._collapse_t is None
                    and self._last_valid is not None
                    and r.satellites_used == 0
                    and r.satellites_visible == 0
                ):
                    self._collapse_t = r.t
        return []

    def _jammed(self, th: RuleThresholds) -> bool:
        lv = self._last_valid
        return (
            lv is not None
            and self._collapse_t is not None
            and lv.satellites_used >= th.gnss_jam_min_satellites
            and self._collapse_t - lv.t <= th.gnss_jam_window_s
            and self._stationary_at_loss
        )

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if not self._seen_fix:
            return []
        lv = self._last_valid
        assert lv is not None
        if not self._lost:
            if t - lv.t < th.gnss_lost_after_s:
                return []
            self._lost = True
            self._lost_fix_t = lv.t
            self._valid_since = None
            extra = {"lastFixAgeS": round(t - lv.t, 1)}
            out = [RuleOutput(t, TelemetryDetail(TelemetryEventType.GNSS_LOST, extra=extra))]
            if self._jammed(th):
                assert self._collapse_t is not None
                jam = {
                    "satellitesBefore": lv.satellites_used,
                    "collapseS": round(self._collapse_t - lv.t, 1),
                }
                out.append(telemetry(t, TelemetryEventType.GNSS_JAMMING, jam))
            return out
        vs = self._valid_since
        if vs is None or not s.fixed or t - vs < th.gnss_restored_after_s:
            return []
        self._lost = False
        extra = {"outageS": round(vs - self._lost_fix_t, 1)}
        return [RuleOutput(t, TelemetryDetail(TelemetryEventType.GNSS_RESTORED, extra=extra))]
