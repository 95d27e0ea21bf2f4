"""Motion-sensor and tamper alarms: vibration (27), drop (28), lifted (29), fallen (30) and
tamper / disassembly (31 beside hardware 12).

All read :attr:`VehicleState.motion` (``agent.vehicle.motion``), which folded the sample in
first. "Armed" (:func:`armed`): the ignition known off for ``arm_delay_s`` and the doors not
known unlocked (etrack's ``defencestatus``; without a lock line, parked and off is armed).

* Vibration (etrack 4): while armed and stopped, a shock is a sample whose dynamic acceleration
  (|a − low-passed gravity|, any direction) is ≥ ``vibration_ms2``; shocks are counted at most
  every 0.2 s; ``vibration_count`` of them within ``vibration_window_s`` = one alarm, stamped
  at the last one, then quiet for ``vibration_refractory_s``. ``shocks``, ``durationS``,
  ``peakAccelerationMs2``.
* Drop / free fall (etrack 21): |a| < ``freefall_ms2`` (a falling sensor reads ~0 g) for
  ``freefall_min_s`` .. 2 s (longer is a dead sensor, not a fall), any time; stamped at the
  start, emitted at the landing; ``durationS``, ``heightM`` = ½ g t²; quiet for
  ``freefall_refractory_s``.
* Lifted (dashboard ``vehicle-lifted``): while armed and stopped, the low-passed gravity is
  ≥ ``tilt_lifted_deg`` from this park's reference for ``tilt_hold_s``; one per episode, which
  ends below half the threshold for ``tilt_hold_s`` (judged while stopped: moving, every
  acceleration leans the low-passed gravity) or when disarmed (ignition on, doors unlocked).
  ``tiltDeg``.
* Fallen (dashboard ``vehicle-fallen``, etrack 21): the low-passed gravity ≥ ``tilt_fallen_deg``
  from the mounting's up for ``tilt_hold_s``, any time the sensor reports; one per episode
  (ends below half the threshold for ``tilt_hold_s``). ``tiltDeg``.
* Tamper / disassembly (hardware 12 + telemetry 31, etrack 18, dashboard
  ``vehicle-dismantling``), one per cause per ``tamper_refractory_s``:
  ``case_open`` — the case switch (``CASE_OPEN``) open for ``tamper_case_debounce_s``, any time;
  ``power_cut`` — supply below ``power_cut_voltage_v`` for ``power_cut_debounce_s`` while armed
  (the power rule's own hardware 3 comes as well);
  ``shocks`` — ``tamper_shock_count`` shocks ≥ ``tamper_shock_ms2`` (counted at most every
  0.2 s) within ``tamper_shock_window_s`` while armed (prying or hammering at the box).
"""

from __future__ import annotations

from collections import deque

from agent.events import HardwareDetail, HardwareEventType
from agent.events import TelemetryEventType as T
from agent.rules.base import Debounce, Rule, RuleOutput, telemetry
from agent.rules.settings import G, RuleThresholds
from agent.sources.readings import MotionSample, Signal
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState

SHOCK_GAP_S = 0.2  # shocks closer than this are one shock (one knock rings for ~100 ms)
MAX_FALL_S = 2.0  # a "fall" longer than this (20 m) is a sensor reading 0, not a drop
SENSOR_FRESH_S = 1.0  # tilt alarms need a sample at most this old
RELEASE_RATIO = 0.5  # a tilt episode ends below this fraction of its threshold


def armed(s: VehicleState, th: RuleThresholds) -> bool:
    """Ignition known off for ``arm_delay_s`` and the doors not known unlocked."""
    since = s.ignition_since
    return (
        s.ignition is False
        and since is not None
        and s.now - since >= th.arm_delay_s
        and s.doors_locked is not False
    )


class _Shocks:
    """Counts shocks (at most one per ``SHOCK_GAP_S``) within a sliding window."""

    __slots__ = ("_last", "peak", "times")

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.peak = 0.0
        self._last: float | None = None

    def add(self, t: float, value: float, threshold: float, window: float) -> int:
        """Count the sample if it is a shock; the number of shocks within the window."""
        if value < threshold:
            return len(self.times)
        if self._last is not None and t - self._last < SHOCK_GAP_S:
            self.peak = max(self.peak, value)
            return len(self.times)
        self._last = t
        self.times.append(t)
        while self.times and t - self.times[0] > window:
            self.times.popleft()
        self.peak = value if len(self.times) == 1 else max(self.peak, value)
        return len(self.times)

    def clear(self) -> None:
        self.times.clear()
        self.peak = 0.0


class VibrationRule(Rule):
    def __init__(self) -> None:
        self._shocks = _Shocks()
        self._quiet_until = float("-inf")

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if not isinstance(r, MotionSample):
            return []
        if not armed(s, th) or s.moving:
            self._shocks.clear()
            return []
        if r.t < self._quiet_until:
            return []
        sh = self._shocks
        n = sh.add(r.t, s.motion.dynamic, th.vibration_ms2, th.vibration_window_s)
        if n < th.vibration_count:
            return []
        extra = {
            "shocks": n,
            "durationS": round(r.t - sh.times[0], 2),
            "peakAccelerationMs2": round(sh.peak, 2),
        }
        sh.clear()
        self._quiet_until = r.t + th.vibration_refractory_s
        return [telemetry(r.t, T.VIBRATION, extra)]


class DropRule(Rule):
    def __init__(self) -> None:
        self._since: float | None = None
        self._min = 0.0
        self._quiet_until = float("-inf")

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if not isinstance(r, MotionSample):
            return []
        mag = s.motion.magnitude
        if mag < th.freefall_ms2:
            if self._since is None:
                self._since, self._min = r.t, mag
            else:
                self._min = min(self._min, mag)
            return []
        since, self._since = self._since, None
        if since is None:
            return []
        dur = r.t - since
        if not th.freefall_min_s <= dur <= MAX_FALL_S or since < self._quiet_until:
            return []
        self._quiet_until = since + th.freefall_refractory_s
        extra = {
            "durationS": round(dur, 3),
            "heightM": round(0.5 * G * dur * dur, 2),
            "minAccelerationMs2": round(self._min, 2),
        }
        return [telemetry(since, T.DROP, extra)]


class _TiltEpisode:
    __slots__ = ("active", "hold", "release")

    def __init__(self) -> None:
        self.hold = Debounce()
        self.release = Debounce()
        self.active = False

    def update(self, t: float, tilt: float | None, threshold: float, gate: bool, hold_s: float,
               ) -> bool:  # fmt: skip
        if tilt is None or not gate:
            self.hold.reset()
            self.release.reset()
            self.active = False
            return False
        if self.active:  # ends once back below half the threshold for the hold time too
            if self.release.update(t, tilt < threshold * RELEASE_RATIO, hold_s):
                self.active = False
                self.hold.reset()
                self.release.reset()
            return False
        if self.hold.update(t, tilt >= threshold, hold_s):
            self.active = True
            return True
        return False


class TiltRule(Rule):
    def __init__(self) -> None:
        self._lifted = _TiltEpisode()
        self._fallen = _TiltEpisode()

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        m = s.motion
        fresh = m.t is not None and t - m.t <= SENSOR_FRESH_S
        out: list[RuleOutput] = []
        if not fresh:
            self._lifted.update(t, None, th.tilt_lifted_deg, False, th.tilt_hold_s)
            self._fallen.update(t, None, th.tilt_fallen_deg, False, th.tilt_hold_s)
            return out
        tilt = m.tilt_from_park_deg
        # Moving, the low-passed "gravity" leans with every acceleration: the lifted episode
        # is judged only while stopped (and holds its state while moving).
        lifted = not s.moving and self._lifted.update(
            t, tilt, th.tilt_lifted_deg, armed(s, th), th.tilt_hold_s
        )
        if lifted:
            assert tilt is not None
            extra = {"tiltDeg": round(tilt, 1), "dashboardAlert": "vehicle-lifted"}
            out.append(telemetry(t, T.VEHICLE_LIFTED, extra))
        tilt = m.tilt_from_up_deg
        if self._fallen.update(t, tilt, th.tilt_fallen_deg, True, th.tilt_hold_s):
            assert tilt is not None
            extra = {"tiltDeg": round(tilt, 1), "dashboardAlert": "vehicle-fallen"}
            out.append(telemetry(t, T.VEHICLE_FALLEN, extra))
        return out


class TamperRule(Rule):
    def __init__(self) -> None:
        self._case = Debounce()
        self._cut = Debounce()
        self._shocks = _Shocks()
        self._last: dict[str, float] = {}

    def _fire(self, t: float, cause: str, details: str, th: RuleThresholds,
              extra: dict[str, object] | None = None) -> list[RuleOutput]:  # fmt: skip
        last = self._last.get(cause)
        if last is not None and t - last < th.tamper_refractory_s:
            return []
        self._last[cause] = t
        hw = RuleOutput(t, HardwareDetail(HardwareEventType.TAMPER, details=f"tamper: {details}"))
        tel = telemetry(
            t, T.TAMPER, {"cause": cause, **(extra or {}), "dashboardAlert": "vehicle-dismantling"}
        )
        return [hw, tel]

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if not isinstance(r, MotionSample):
            return []
        sh = self._shocks
        if not armed(s, th):
            sh.clear()
            return []
        n = sh.add(r.t, s.motion.dynamic, th.tamper_shock_ms2, th.tamper_shock_window_s)
        if n < th.tamper_shock_count:
            return []
        peak = sh.peak
        sh.clear()
        return self._fire(
            r.t,
            "shocks",
            f"{n} shocks while armed, peak {peak:.1f} m/s²",
            th,
            {"shocks": n, "peakAccelerationMs2": round(peak, 2)},
        )

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        out: list[RuleOutput] = []
        case = s.sample(Signal.CASE_OPEN)
        is_open = case is not None and case.value >= 0.5
        if self._case.update(t, is_open, th.tamper_case_debounce_s):
            out += self._fire(t, "case_open", "case opened", th)
        v = s.vehicle_battery_v
        cut = v is not None and v < th.power_cut_voltage_v
        # Armed is judged when the cut begins: once the supply is gone, it stays a cut.
        cond = cut and (self._cut.since is not None or armed(s, th))
        if self._cut.update(t, cond, th.power_cut_debounce_s):
            assert v is not None
            out += self._fire(t, "power_cut", f"power cut while armed, supply {v:.2f} V", th)
        return out
