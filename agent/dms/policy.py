"""The driver-monitoring state machine: one :class:`FaceObservation` in, metrics and events out.

Pure, in the shape of openpilot's ``DriverMonitoring``: it is fed frame timestamps and the
vehicle speed, never reads a clock and does no I/O, so replaying the same observations gives
the same events. Every threshold comes from :class:`DmsSettings`, read on every step (a config
order that changes a field applies from the next frame).

Per frame:

1. face present? (``face_found`` and score >= ``min_face_score``)
2. neutral pose (openpilot pose offsetter) and off-road angle relative to it (head + gaze);
   a first-order filter (tau 0.25 s) with hysteresis 0.63 / 0.37 gives "distracted"
3. eye openness / per-driver open-eye baseline -> OPEN, CLOSED or UNKNOWN (never closed when
   not measured) -> closure timers, blinks, PERCLOS P80 over 60 s of valid time
4. conditions -> persistence by elapsed time -> speed gate -> repeat suppression -> events
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.dms.calibration import EyeBaseline, NeutralPose, NeutralPoseCalibrator
from agent.dms.observation import FaceObservation
from agent.dms.settings import DmsSettings
from agent.dms.trackers import (
    BlinkCounter,
    ClosureTracker,
    EyeState,
    FirstOrderFilter,
    GlanceTracker,
    Hysteresis,
    PerclosTracker,
    Persistence,
)
from agent.events import BoundingBox, HeadAngles, VisionDetail, VisionEventType


@dataclass(frozen=True, slots=True)
class DmsMetrics:
    """The monitor's view after one frame: everything a ``VisionDetail`` needs, and more."""

    t: float
    speed_kmh: float
    face_found: bool
    face_score: float
    box: tuple[float, float, float, float]
    pitch: float
    yaw: float
    roll: float
    neutral: NeutralPose
    off_road_pitch: float  # relative to neutral, head + weighted gaze, degrees
    off_road_yaw: float
    eye_openness: tuple[float | None, float | None]  # normalised by the baseline; None unknown
    eye_state: EyeState
    perclos: float | None  # None until >= perclos_min_coverage of the window is valid
    perclos_coverage: float
    blinks_per_min: float | None
    blinks_total: int
    long_blinks_total: int
    closure_s: float  # current continuous closure (both eyes as one)
    left_closure_s: float
    right_closure_s: float
    distraction_level: float  # the filtered off-road signal 0..1
    distracted: bool
    distracted_s: float  # current continuous distracted time
    glance_s: float  # short off-road glances inside the glance window
    yawning_s: float
    no_face_s: float
    camera_blocked_s: float
    gaze_confidence: float
    glasses_confidence: float
    mask_confidence: float


@dataclass(frozen=True, slots=True)
class DmsEvent:
    """A vision event decided by the policy at frame time ``t``."""

    event_type: VisionEventType
    t: float  # when it fired (the condition had persisted long enough)
    since: float  # when its condition started
    metrics: DmsMetrics

    @property
    def duration_s(self) -> float:
        return self.t - self.since


@dataclass(frozen=True, slots=True)
class DmsStep:
    metrics: DmsMetrics
    events: tuple[DmsEvent, ...]


def to_vision_detail(event: DmsEvent, fps: float) -> VisionDetail:
    """The contract's ``visionEvent`` for ``event``; ``fps`` is the measured processing rate."""
    m = event.metrics
    x, y, w, h = m.box
    return VisionDetail(
        event_type=event.event_type,
        vision_timestamp_s=int(m.t),
        fps=round(fps),
        neutral=HeadAngles(round(m.neutral.pitch, 2), round(m.neutral.yaw, 2),
                           round(m.neutral.roll, 2)),
        head=HeadAngles(round(m.pitch, 2), round(m.yaw, 2), round(m.roll, 2)),
        gaze_confidence=round(m.gaze_confidence, 3),
        face_confidence=round(m.face_score, 3),
        mask_confidence=round(m.mask_confidence, 3),
        glasses_confidence=round(m.glasses_confidence, 3),
        perclos=round(m.perclos or 0.0, 3),
        blinks_per_min=round(m.blinks_per_min or 0.0, 1),
        left_eye_closure_s=round(m.left_closure_s, 2),
        right_eye_closure_s=round(m.right_closure_s, 2),
        mask_detected=m.mask_confidence >= 0.5,
        glasses_detected=m.glasses_confidence >= 0.5,
        box=BoundingBox(x=round(x, 4), y=round(y, 4), width=round(w, 4), height=round(h, 4),
                        is_driver=m.face_found),
    )


class _Alert:
    """Persistence + speed gate + repeat suppression for one event type."""

    def __init__(self, event_type: VisionEventType) -> None:
        self.event_type = event_type
        self.persist = Persistence()
        self.last_fired: float | None = None

    def check(self, t: float, active: bool, hold_s: float, gate_ok: bool,
              suppress_s: float) -> float | None:
        """Returns the condition's start time if the event fires on this frame."""
        held = self.persist.update(t, active)
        since = self.persist.since
        if since is None or held < hold_s or not gate_ok:
            return None
        if self.last_fired is not None and t - self.last_fired < suppress_s:
            return None
        if self.last_fired is not None and self.last_fired >= since and suppress_s <= 0:
            return None  # suppression off: still once per episode
        self.last_fired = t
        return since


class DmsStateMachine:
    """Feed :meth:`step` one observation per driver-camera frame, in time order."""

    def __init__(self, settings: DmsSettings | None = None) -> None:
        self.settings = settings if settings is not None else DmsSettings()
        self._prev_t: float | None = None
        self._calib = NeutralPoseCalibrator()
        self._baselines = (EyeBaseline(), EyeBaseline())
        self._perclos = PerclosTracker()
        self._closure = ClosureTracker()
        self._eye_closure = (ClosureTracker(), ClosureTracker())
        self._blinks = BlinkCounter()
        self._filter = FirstOrderFilter()
        self._hysteresis = Hysteresis()
        self._distracted = Persistence()
        self._glances = GlanceTracker()
        self._yawn = Persistence()
        self._no_face = Persistence()
        self._blocked = Persistence()
        self._alerts = {et: _Alert(et) for et in (
            VisionEventType.DROWSINESS, VisionEventType.MICROSLEEP, VisionEventType.SLEEP,
            VisionEventType.DISTRACTION, VisionEventType.REPEATED_GLANCES,
            VisionEventType.YAWNING, VisionEventType.NO_DRIVER, VisionEventType.CAMERA_BLOCKED,
        )}

    @property
    def neutral(self) -> NeutralPose:
        return self._calib.neutral(self.settings)

    def step(self, obs: FaceObservation, speed_kmh: float | None) -> DmsStep:
        s = self.settings
        t = obs.t
        speed = speed_kmh if speed_kmh is not None else 0.0
        if self._prev_t is None or t < self._prev_t:
            dt = 0.0
        else:
            dt = min(t - self._prev_t, s.max_frame_gap_s)
        self._prev_t = t if self._prev_t is None else max(t, self._prev_t)

        face = obs.face_found and obs.face_score >= s.min_face_score

        # 2. pose relative to the learned neutral, the filtered off-road signal
        if face:
            self._calib.update(t, dt, (obs.pitch, obs.yaw, obs.roll, obs.gaze_pitch,
                                       obs.gaze_yaw), obs.face_score,
                               speed_kmh=speed, s=s)
        neutral = self._calib.neutral(s)
        gaze_w = s.gaze_weight if obs.gaze_confidence >= s.gaze_min_confidence else 0.0
        rel_pitch = obs.pitch - neutral.pitch + gaze_w * (obs.gaze_pitch - neutral.gaze_pitch)
        rel_yaw = obs.yaw - neutral.yaw + gaze_w * (obs.gaze_yaw - neutral.gaze_yaw)
        if face:
            off_road = self._off_road(rel_pitch, rel_yaw, neutral.calibrated)
            level = self._filter.update(1.0 if off_road else 0.0, dt, s.distraction_filter_tau_s)
            distracted = self._hysteresis.update(level, s.distraction_enter,
                                                 s.distraction_leave)
        else:  # no face: the distraction signal holds (a lost face is "no driver", not road)
            level, distracted = self._filter.x, self._hysteresis.on
        distracted_s = self._distracted.update(t, distracted)
        glance_s = self._glances.update(t, distracted, s.distraction_s, s.glance_window_s)

        # 3. eyes
        norm = self._eye_openness(obs, face, t)
        eye_states = tuple(self._eye_state(v) for v in norm)
        measured = [v for v in norm if v is not None]
        if measured:
            eye_state = (EyeState.CLOSED if sum(measured) / len(measured) < s.closed_fraction
                         else EyeState.OPEN)
        else:
            eye_state = EyeState.UNKNOWN
        self._perclos.update(t, dt, eye_state, s.perclos_window_s)
        done = self._closure.update(t, eye_state, s.closure_gap_bridge_s, s.max_frame_gap_s)
        if done is not None:
            self._blinks.add(done, s.blink_min_s, s.long_blink_s, s.microsleep_s)
        self._blinks.trim(t, s.perclos_window_s)
        for tracker, st in zip(self._eye_closure, eye_states, strict=True):
            tracker.update(t, st, s.closure_gap_bridge_s, s.max_frame_gap_s)
        perclos = self._perclos.perclos(s.perclos_window_s, s.perclos_min_coverage)
        valid_s = self._perclos.valid_s
        blinks_per_min = (self._blinks.in_window() * 60.0 / valid_s
                          if valid_s >= s.blink_rate_min_valid_s else None)
        closure_s = self._closure.duration(t)

        # 4. other conditions
        yawning_s = self._yawn.update(t, face and obs.mouth_openness >= s.yawn_mouth_open)
        luma_bad = (obs.frame_brightness < s.blocked_dark_luma
                    or obs.frame_brightness > s.blocked_bright_luma
                    or obs.frame_contrast < s.blocked_min_contrast)
        blocked = not face and luma_bad
        blocked_s = self._blocked.update(t, blocked)
        moving = speed >= s.min_alert_speed_kmh
        no_face_s = self._no_face.update(t, not face and not blocked and moving)

        metrics = DmsMetrics(
            t=t, speed_kmh=speed, face_found=face, face_score=obs.face_score, box=obs.box,
            pitch=obs.pitch, yaw=obs.yaw, roll=obs.roll, neutral=neutral,
            off_road_pitch=rel_pitch, off_road_yaw=rel_yaw, eye_openness=norm,
            eye_state=eye_state, perclos=perclos,
            perclos_coverage=self._perclos.coverage(s.perclos_window_s),
            blinks_per_min=blinks_per_min, blinks_total=self._blinks.total,
            long_blinks_total=self._blinks.total_long, closure_s=closure_s,
            left_closure_s=self._eye_closure[0].duration(t),
            right_closure_s=self._eye_closure[1].duration(t),
            distraction_level=level, distracted=distracted, distracted_s=distracted_s,
            glance_s=glance_s, yawning_s=yawning_s, no_face_s=no_face_s,
            camera_blocked_s=blocked_s, gaze_confidence=obs.gaze_confidence,
            glasses_confidence=obs.glasses_confidence, mask_confidence=obs.mask_confidence,
        )

        drowsy = perclos is not None and perclos > s.perclos_threshold
        checks: tuple[tuple[VisionEventType, bool, float, bool], ...] = (
            # type, condition active, hold (s), speed gate applies
            (VisionEventType.SLEEP, closure_s >= s.sleep_s, 0.0, True),
            (VisionEventType.MICROSLEEP, closure_s >= s.microsleep_s, 0.0, True),
            (VisionEventType.DROWSINESS, drowsy, s.drowsiness_persist_s, True),
            (VisionEventType.DISTRACTION, distracted_s >= s.distraction_s, 0.0, True),
            (VisionEventType.REPEATED_GLANCES, glance_s >= s.glance_total_s, 0.0, True),
            (VisionEventType.YAWNING, yawning_s >= s.yawn_s, 0.0, True),
            (VisionEventType.NO_DRIVER, no_face_s > s.no_driver_s, 0.0, True),
            (VisionEventType.CAMERA_BLOCKED, blocked_s >= s.blocked_s, 0.0,
             s.blocked_needs_speed),
        )
        events: list[DmsEvent] = []
        for event_type, active, hold_s, gated in checks:
            since = self._alerts[event_type].check(
                t, active, hold_s, moving or not gated, s.repeat_suppress_s)
            if since is not None:
                events.append(DmsEvent(event_type, t, self._condition_start(
                    event_type, since), metrics))
        return DmsStep(metrics, tuple(events))

    def _off_road(self, rel_pitch: float, rel_yaw: float, calibrated: bool) -> bool:
        s = self.settings
        yaw_lim = s.yaw_threshold_deg
        down_lim = s.pitch_down_threshold_deg
        up_lim = s.pitch_up_threshold_deg
        if not calibrated:
            yaw_lim += s.uncalibrated_yaw_slack_deg
            down_lim += s.uncalibrated_pitch_slack_deg
            up_lim += s.uncalibrated_pitch_slack_deg
        # Pipeline convention: positive pitch = head tilted up (nose up).
        return abs(rel_yaw) > yaw_lim or rel_pitch < -down_lim or rel_pitch > up_lim

    def _eye_openness(self, obs: FaceObservation, face: bool,
                      t: float) -> tuple[float | None, float | None]:
        if not face:
            return (None, None)
        out: list[float | None] = []
        for raw, baseline in zip(obs.eye_openness, self._baselines, strict=True):
            if raw is None:
                out.append(None)
                continue
            baseline.update(t, raw, self.settings)
            ref = baseline.value
            out.append(raw / ref if ref is not None else None)
        return (out[0], out[1])

    def _eye_state(self, norm: float | None) -> EyeState:
        if norm is None:
            return EyeState.UNKNOWN
        return EyeState.CLOSED if norm < self.settings.closed_fraction else EyeState.OPEN

    def _condition_start(self, event_type: VisionEventType, since: float) -> float:
        """When the behaviour began (the closure/off-road start, not the threshold crossing)."""
        if event_type in (VisionEventType.MICROSLEEP, VisionEventType.SLEEP):
            return self._closure.start if self._closure.start is not None else since
        if event_type == VisionEventType.DISTRACTION and self._distracted.since is not None:
            return self._distracted.since
        held = {VisionEventType.YAWNING: self._yawn, VisionEventType.NO_DRIVER: self._no_face,
                VisionEventType.CAMERA_BLOCKED: self._blocked}.get(event_type)
        if held is not None and held.since is not None:
            return held.since
        return since
