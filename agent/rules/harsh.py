"""Harsh acceleration / braking / cornering (7 / 8 / 9) and collision (18).

Longitudinal and lateral acceleration come from the IMU when one reports (``ACCEL_X_MS2`` +
forward, ``ACCEL_Y_MS2`` + left; low-pass filtered with ``imu_filter_tau_s``), else from the
fused speed's derivative over at least ``derivative_window_s`` and from the GNSS course rate
times speed (a_lat = v · dψ/dt). Checked only while the ignition is not known to be off and at
or above ``harsh_min_speed_kmh`` (cornering: ``cornering_min_speed_kmh``) when the episode
begins (DESIGN-NOTES §3). An episode lasts while the value stays above
``harsh_release_ratio`` × threshold; one event per episode, stamped when the threshold was
crossed and emitted when the episode ends, with ``peakAccelerationMs2`` and ``durationS``.

The motion sensor (:class:`~agent.sources.readings.MotionSample`, all axes at once) feeds the
same detectors with its vehicle-frame forward and left acceleration (``agent.vehicle.motion``)
once the mounting calibration has learned gravity at a park; before that a tilted box would
put gravity on "forward", so the speed-derivative fallback keeps the job.

Collision: the horizontal magnitude of the raw IMU samples (√(forward² + left²), unfiltered)
at or above ``collision_ms2`` opens an impact; its peak over ``collision_window_s`` is reported
(a crash pulse lasts 70-150 ms), stamped at the crossing and emitted when the window closes,
at the first sample or tick after it; then quiet for ``collision_refractory_s``. Not gated by
ignition or speed (a parked vehicle can be hit).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from agent.events import TelemetryDetail, TelemetryEventType
from agent.rules.base import Rule, RuleOutput
from agent.rules.settings import RuleThresholds
from agent.sources.readings import GnssFix, MotionSample, Signal, SignalReading
from agent.vehicle.geo import signed_heading_delta_deg
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState, is_valid_fix

IMU_SIGNALS = frozenset({Signal.ACCEL_X_MS2, Signal.ACCEL_Y_MS2})
# An IMU that reported within this long owns harsh detection (the fallback stays quiet).
_IMU_FRESH_S = 1.0
# Derivative / course-rate samples further apart than this are not differentiated.
_MAX_GAP_S = 3.0
# An episode longer than this is closed (a sustained value is not a harsh event).
_MAX_EPISODE_S = 10.0


@dataclass(slots=True)
class _Episode:
    start_t: float
    peak: float
    last_t: float


class _Detector:
    """Threshold + release hysteresis for one kind; emits one output per closed episode."""

    def __init__(self, kind: TelemetryEventType) -> None:
        self.kind = kind
        self.ep: _Episode | None = None

    def feed(
        self, t: float, value: float, threshold: float, release: float, gate: bool
    ) -> list[RuleOutput]:
        ep = self.ep
        if ep is None:
            if gate and value >= threshold:
                self.ep = _Episode(t, value, t)
            return []
        if value >= threshold * release and t - ep.start_t < _MAX_EPISODE_S:
            ep.peak = max(ep.peak, value)
            ep.last_t = t
            return []
        self.ep = None
        extra = {
            "peakAccelerationMs2": round(ep.peak, 2),
            "durationS": round(t - ep.start_t, 2),
        }
        return [RuleOutput(ep.start_t, TelemetryDetail(self.kind, extra=extra))]


class HarshDrivingRule(Rule):
    def __init__(self) -> None:
        self._accel = _Detector(TelemetryEventType.HARSH_ACCELERATION)
        self._brake = _Detector(TelemetryEventType.HARSH_BRAKING)
        self._corner = _Detector(TelemetryEventType.HARSH_CORNERING)
        self._imu_t: float | None = None
        self._fx: float | None = None
        self._fy: float | None = None
        self._fx_t = 0.0
        self._fy_t = 0.0
        self._speed_hist: deque[tuple[float, float]] = deque()  # (t, m/s)
        self._speed_src = ""
        self._prev_course: tuple[float, float, float] | None = None  # (t, track, m/s)

    def _gates(self, s: VehicleState, th: RuleThresholds) -> tuple[bool, bool]:
        ign_ok = s.ignition is not False
        v = s.speed_kmh
        return ign_ok and v >= th.harsh_min_speed_kmh, ign_ok and v >= th.cornering_min_speed_kmh

    def _longitudinal(
        self, t: float, a: float, s: VehicleState, th: RuleThresholds
    ) -> list[RuleOutput]:
        gate, _ = self._gates(s, th)
        rel = th.harsh_release_ratio
        out = self._accel.feed(t, a, th.harsh_acceleration_ms2, rel, gate)
        out += self._brake.feed(t, -a, th.harsh_braking_ms2, rel, gate)
        return out

    def _lateral(self, t: float, a: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        _, gate = self._gates(s, th)
        return self._corner.feed(t, abs(a), th.harsh_cornering_ms2, th.harsh_release_ratio, gate)

    def _imu_fresh(self, t: float) -> bool:
        return self._imu_t is not None and t - self._imu_t <= _IMU_FRESH_S

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if isinstance(r, MotionSample):
            return self._motion(r, s, th)
        if isinstance(r, SignalReading) and r.signal in IMU_SIGNALS:
            return self._imu(r, s, th)
        if self._imu_fresh(r.t):
            return []
        out: list[RuleOutput] = []
        if self._is_speed_sample(r, s):
            out += self._from_speed(r.t, s, th)
        if isinstance(r, GnssFix) and is_valid_fix(r):
            out += self._from_course(r, s, th)
        return out

    def _imu(self, r: SignalReading, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        self._imu_t = r.t
        tau = th.imu_filter_tau_s
        if r.signal is Signal.ACCEL_X_MS2:
            self._fx = _lowpass(self._fx, r.value, r.t - self._fx_t, tau)
            self._fx_t = r.t
            return self._longitudinal(r.t, self._fx, s, th)
        self._fy = _lowpass(self._fy, r.value, r.t - self._fy_t, tau)
        self._fy_t = r.t
        return self._lateral(r.t, self._fy, s, th)

    def _motion(self, r: MotionSample, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        m = s.motion
        if not m.calibration.calibrated:
            return []  # gravity may sit on "forward": the fallback stays in charge
        self._imu_t = r.t
        tau = th.imu_filter_tau_s
        self._fx = _lowpass(self._fx, m.forward, r.t - self._fx_t, tau)
        self._fy = _lowpass(self._fy, m.left, r.t - self._fy_t, tau)
        self._fx_t = self._fy_t = r.t
        return self._longitudinal(r.t, self._fx, s, th) + self._lateral(r.t, self._fy, s, th)

    def _is_speed_sample(self, r: StateInput, s: VehicleState) -> bool:
        src = s.speed_source
        if isinstance(r, SignalReading):
            return r.signal is Signal.WHEEL_SPEED_KMH and r.source == src
        return isinstance(r, GnssFix) and src == "gnss"

    def _from_speed(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        src = s.speed_source
        if src != self._speed_src:
            self._speed_hist.clear()
            self._speed_src = src
        hist = self._speed_hist
        v = s.speed_kmh / 3.6
        hist.append((t, v))
        while len(hist) > 2 and t - hist[1][0] >= th.derivative_window_s:
            hist.popleft()  # keep the newest sample that is at least one window old
        t0, v0 = hist[0]
        dt = t - t0
        if dt < th.derivative_window_s or dt > _MAX_GAP_S:
            if dt > _MAX_GAP_S:
                hist.clear()
                hist.append((t, v))
            return []
        return self._longitudinal(t, (v - v0) / dt, s, th)

    def _from_course(self, fix: GnssFix, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if fix.track is None or fix.speed_mps is None:
            self._prev_course = None
            return []
        prev = self._prev_course
        self._prev_course = (fix.t, fix.track, fix.speed_mps)
        if prev is None:
            return []
        dt = fix.t - prev[0]
        if dt <= 0 or dt > _MAX_GAP_S:
            return []
        rate = math.radians(signed_heading_delta_deg(prev[1], fix.track)) / dt
        v = (prev[2] + fix.speed_mps) / 2
        return self._lateral(fix.t, v * rate, s, th)


class CollisionRule(Rule):
    def __init__(self) -> None:
        self._ax: float | None = None
        self._ay: float | None = None
        self._last_event_t: float | None = None
        self._impact: tuple[float, float] | None = None  # (crossing t, peak so far)

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if isinstance(r, MotionSample):
            mag = math.hypot(s.motion.forward, s.motion.left)
        elif isinstance(r, SignalReading) and r.signal in IMU_SIGNALS:
            if r.signal is Signal.ACCEL_X_MS2:
                self._ax = r.value
            else:
                self._ay = r.value
            mag = math.hypot(self._ax or 0.0, self._ay or 0.0)
        else:
            return []
        imp = self._impact
        if imp is not None:
            if mag > imp[1]:
                self._impact = (imp[0], mag)
            return []
        if mag < th.collision_ms2:
            return []
        last = self._last_event_t
        if last is not None and r.t - last < th.collision_refractory_s:
            return []
        self._last_event_t = r.t
        self._impact = (r.t, mag)
        return []

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        imp = self._impact
        if imp is None or t - imp[0] < th.collision_window_s:
            return []
        self._impact = None
        extra = {"peakAccelerationMs2": round(imp[1], 2)}
        return [RuleOutput(imp[0], TelemetryDetail(TelemetryEventType.COLLISION, extra=extra))]


def _lowpass(prev: float | None, x: float, dt: float, tau: float) -> float:
    if prev is None or tau <= 0:
        return x
    if dt <= 0:
        return prev
    alpha = 1.0 - math.exp(-dt / tau)
    return prev + alpha * (x - prev)
