"""Driver-monitoring thresholds (the ``[dms]`` section), in seconds, degrees and fractions.

Every tunable of the policy lives here, with where its default comes from. The model validates
on assignment, so a config order can change a field at run time; the state machine reads the
settings object on every step, so a change applies from the next frame. Every duration, angle
and ratio has a lower and an upper bound (the upper ones are far above any sensible value:
they only refuse typos and unit mistakes such as milliseconds where seconds are meant).

Sources: "openpilot" = selfdrive/monitoring (helpers.py DRIVER_MONITOR_SETTINGS, policy);
"DESIGN-NOTES" = /work/shared/DESIGN-NOTES.md §2; "JC400" = Jimi JC400-class fleet DMS defaults;
"measured" = measured on this project's pipeline (docs/dms.md says how).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from agent.section import StrictModel


class DmsSettings(StrictModel):
    # --- face validity ---------------------------------------------------------------------
    # A frame counts as "face present" at this detector score (BlazeFace's own min score 0.5).
    min_face_score: float = Field(0.5, ge=0, le=1)

    # --- neutral pose calibration (openpilot pose offsetter) --------------------------------
    calib_min_face_score: float = Field(0.7, ge=0, le=1)  # openpilot _FACE_THRESHOLD 0.7
    calib_min_speed_kmh: float = Field(46.8, ge=0, le=200)  # openpilot _POSE_CALIB_MIN_SPEED 13 m/s
    calib_when_parked: bool = False  # tests / demo: also sample below the calibration speed
    # openpilot samples only when the net's pose std < 0.3; our pipeline has no std output, so
    # the std of pitch/yaw over the last calib_std_window_s stands in for it (a still head).
    calib_pose_std_max_deg: float = Field(4.0, gt=0, le=90)
    calib_std_window_s: float = Field(0.5, gt=0, le=60)
    # openpilot _POSE_OFFSET_MIN_COUNT: 60 s of samples
    calib_min_s: float = Field(60.0, gt=0, le=3600)
    calib_max_s: float = Field(360.0, gt=0, le=36000)  # openpilot _POSE_OFFSET_MAX_COUNT: 360 s cap
    # Before calibration the thresholds are widened (openpilot *_THRESHOLD_SLACK: yaw 0.5042 vs
    # 0.4020 rad = +5.9 deg, pitch 0.3237 vs 0.3133 rad = +0.6 deg; we round pitch up to 3 deg
    # because the provisional neutral is noisier than openpilot's model prior).
    uncalibrated_yaw_slack_deg: float = Field(6.0, ge=0, le=45)
    uncalibrated_pitch_slack_deg: float = Field(3.0, ge=0, le=45)
    # Neutral used until any sample exists (camera mounting dependent; 0 = straight ahead).
    default_neutral_pitch_deg: float = Field(0.0, ge=-90, le=90)
    default_neutral_yaw_deg: float = Field(0.0, ge=-90, le=90)

    # --- eye openness ------------------------------------------------------------------------
    # Per-driver open-eye baseline: a robust high percentile of recent valid openness.
    eye_baseline_percentile: float = Field(90.0, gt=50, le=100)
    # long, so a drowsy spell cannot drag it
    eye_baseline_window_s: float = Field(300.0, gt=0, le=3600)
    # seconds of valid samples before trusting it
    eye_baseline_min_s: float = Field(5.0, gt=0, le=600)
    # Closed when normalised openness < this. P80 means lids cover >= 80 % of the eye, but the
    # iris-refit contour of a shut eye still reads 0.36-0.60 of open (DESIGN-NOTES §2, measured),
    # so the cut sits above that floor; docs/dms.md records the measurement behind it.
    closed_fraction: float = Field(0.65, gt=0, lt=1)
    # An unmeasured gap this short inside a closure does not end it (a dropped detection).
    closure_gap_bridge_s: float = Field(0.2, ge=0, le=5)

    # --- PERCLOS / blinks --------------------------------------------------------------------
    perclos_window_s: float = Field(60.0, gt=0, le=600)  # DESIGN-NOTES: P80 over a rolling 60 s
    perclos_min_coverage: float = Field(0.8, gt=0, le=1)  # DESIGN-NOTES: >= 80 % valid time
    perclos_threshold: float = Field(0.15, gt=0, lt=1)  # DESIGN-NOTES: drowsy above 0.15
    blink_min_s: float = Field(0.05, ge=0, le=1)  # shorter closures are noise (one frame at 30 fps)
    blink_normal_max_s: float = Field(0.4, gt=0, le=5)  # DESIGN-NOTES: normal blink 100-400 ms
    long_blink_s: float = Field(0.5, gt=0, le=10)  # DESIGN-NOTES: long blink > 500 ms
    # valid time before a rate is reported
    blink_rate_min_valid_s: float = Field(10.0, gt=0, le=600)
    # a longer gap between frames is unmeasured time
    max_frame_gap_s: float = Field(0.5, gt=0, le=10)

    # --- eye-closure ladder ------------------------------------------------------------------
    microsleep_s: float = Field(1.5, gt=0, le=60)  # DESIGN-NOTES ladder: microsleep >= 1.5 s closed
    sleep_s: float = Field(3.0, gt=0, le=60)  # DESIGN-NOTES ladder: sleep >= 3 s closed

    # --- distraction (openpilot policy) ------------------------------------------------------
    yaw_threshold_deg: float = Field(23.0, gt=0, le=90)  # openpilot _POSE_YAW_THRESHOLD 0.4020 rad
    # openpilot _POSE_PITCH_THRESHOLD 0.3133
    pitch_down_threshold_deg: float = Field(18.0, gt=0, le=90)
    # Looking up is allowed more (openpilot _PITCH_POS_ALLOWANCE 0.12 rad = 6.9 deg).
    pitch_up_threshold_deg: float = Field(25.0, gt=0, le=90)
    # Eye-in-head gaze adds to the head angle when the pipeline is confident about it.
    gaze_weight: float = Field(1.0, ge=0, le=1)
    gaze_min_confidence: float = Field(0.5, ge=0, le=1)
    distraction_filter_tau_s: float = Field(0.25, gt=0, le=10)  # openpilot _DISTRACTED_FILTER_TS
    distraction_enter: float = Field(0.63, gt=0, lt=1)  # openpilot hysteresis, enter above
    distraction_leave: float = Field(0.37, gt=0, lt=1)  # openpilot hysteresis, leave below
    distraction_s: float = Field(3.0, gt=0, le=60)  # DESIGN-NOTES / JC400: >= 3 s off-road
    glance_total_s: float = Field(10.0, gt=0, le=600)  # DESIGN-NOTES: 10 s off-road ...
    glance_window_s: float = Field(30.0, gt=0, le=3600)  # ... within 30 s

    # --- yawning -----------------------------------------------------------------------------
    # Inner-lip gap / mouth width: closed ~0.0-0.1, speech < 0.35, yawn > 0.5 (MAR literature,
    # e.g. Abtahi et al. YawDD); a yawn lasts 4-7 s, so 2 s open separates it from speech.
    yawn_mouth_open: float = Field(0.5, gt=0, le=2)
    yawn_s: float = Field(2.0, gt=0, le=60)

    # --- no driver / camera blocked ----------------------------------------------------------
    no_driver_s: float = Field(10.0, gt=0, le=3600)  # DESIGN-NOTES: no face while moving > 10 s
    # Blocked/blinded: no face AND (mean luma < dark, > bright, or luma std < min contrast).
    blocked_dark_luma: float = Field(20.0, ge=0, le=255)  # a covered lens reads ~0-15
    blocked_bright_luma: float = Field(235.0, ge=0, le=255)  # saturated by sun / a torch
    blocked_min_contrast: float = Field(8.0, ge=0, le=255)  # a uniform scene (tape, cloth)
    blocked_s: float = Field(10.0, gt=0, le=3600)  # same persistence as "no driver"
    blocked_needs_speed: bool = False  # tampering is reported parked too

    # --- alerting ----------------------------------------------------------------------------
    # DESIGN-NOTES: alerts only above ~20 km/h
    min_alert_speed_kmh: float = Field(20.0, ge=0, le=200)
    drowsiness_persist_s: float = Field(3.0, ge=0, le=60)  # JC400: an event must last 3 s
    repeat_suppress_s: float = Field(120.0, ge=0, le=86400)  # JC400: same event not within 2 min

    @model_validator(mode="after")
    def _consistent(self) -> DmsSettings:
        if self.distraction_leave >= self.distraction_enter:
            raise ValueError("distraction_leave must be below distraction_enter")
        if self.sleep_s < self.microsleep_s:
            raise ValueError("sleep_s must be >= microsleep_s")
        if self.calib_max_s < self.calib_min_s:
            raise ValueError("calib_max_s must be >= calib_min_s")
        if self.long_blink_s < self.blink_normal_max_s:
            raise ValueError("long_blink_s must be >= blink_normal_max_s")
        if self.glance_total_s > self.glance_window_s:
            raise ValueError("glance_total_s must be <= glance_window_s")
        if self.blocked_dark_luma >= self.blocked_bright_luma:
            raise ValueError("blocked_dark_luma must be below blocked_bright_luma")
        if self.eye_baseline_min_s > self.eye_baseline_window_s:
            raise ValueError("eye_baseline_min_s must be <= eye_baseline_window_s")
        return self
