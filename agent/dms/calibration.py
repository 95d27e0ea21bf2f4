"""Per-driver references learned online: the neutral head pose and the open-eye baseline.

Both are pure: they are fed timestamps and values and never read a clock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from agent.dms.settings import DmsSettings


@dataclass(frozen=True, slots=True)
class NeutralPose:
    """Where this driver looks when looking at the road (degrees, pipeline convention)."""

    pitch: float
    yaw: float
    roll: float
    gaze_pitch: float
    gaze_yaw: float
    calibrated: bool
    sampled_s: float


class NeutralPoseCalibrator:
    """openpilot's pose offsetter: a running mean whose weight is capped so old data fades.

    A frame is sampled when the face is confident, the vehicle is fast enough (or parked
    calibration is on) and the head is still (pitch/yaw std over a short window is small).
    Each sample weighs its frame interval ``dt``; after ``calib_max_s`` seconds of samples the
    mean becomes an exponential average over roughly that horizon. Calibrated once
    ``calib_min_s`` seconds have been sampled.
    """

    def __init__(self) -> None:
        self._mean = [0.0, 0.0, 0.0, 0.0, 0.0]  # pitch, yaw, roll, gaze pitch, gaze yaw
        self._sampled_s = 0.0
        self._recent: deque[tuple[float, float, float]] = deque()  # t, pitch, yaw

    def update(
        self,
        t: float,
        dt: float,
        values: tuple[float, float, float, float, float],
        face_score: float,
        *,
        speed_kmh: float,
        s: DmsSettings,
    ) -> None:
        """Feed one face frame (pitch, yaw, roll, gaze pitch, gaze yaw)."""
        recent = self._recent
        recent.append((t, values[0], values[1]))
        while recent and recent[0][0] < t - s.calib_std_window_s:
            recent.popleft()
        if dt <= 0 or face_score < s.calib_min_face_score:
            return
        if speed_kmh < s.calib_min_speed_kmh and not s.calib_when_parked:
            return
        if len(recent) < 3 or max(_std([r[1] for r in recent]),
                                  _std([r[2] for r in recent])) > s.calib_pose_std_max_deg:
            return
        self._sampled_s += dt
        weight = dt / min(self._sampled_s, s.calib_max_s)
        for i, v in enumerate(values):
            self._mean[i] += (v - self._mean[i]) * weight

    def neutral(self, s: DmsSettings) -> NeutralPose:
        m = self._mean
        if self._sampled_s <= 0:
            return NeutralPose(s.default_neutral_pitch_deg, s.default_neutral_yaw_deg, 0.0,
                               0.0, 0.0, calibrated=False, sampled_s=0.0)
        return NeutralPose(m[0], m[1], m[2], m[3], m[4],
                           calibrated=self._sampled_s >= s.calib_min_s,
                           sampled_s=self._sampled_s)


def _std(xs: list[float]) -> float:
    n = len(xs)
    mean = sum(xs) / n
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / n)


class EyeBaseline:
    """One eye's open-eye reference: a high percentile of recent valid openness.

    Samples are kept at most every ``SAMPLE_S`` seconds over ``eye_baseline_window_s``; a high
    percentile ignores blinks and closures as long as the eye is open most of the time. The
    value is recomputed at most every ``REFRESH_S`` seconds (a percentile is not free).
    """

    SAMPLE_S = 0.1
    REFRESH_S = 0.5

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float, float]] = deque()  # t, value, weight s
        self._weight_s = 0.0
        self._last_t: float | None = None
        self._value: float | None = None
        self._computed_at = -math.inf

    def update(self, t: float, value: float, s: DmsSettings) -> None:
        if self._last_t is None or t - self._last_t >= self.SAMPLE_S:
            gap = self.SAMPLE_S if self._last_t is None else t - self._last_t
            weight = min(gap, s.max_frame_gap_s)
            self._samples.append((t, value, weight))
            self._weight_s += weight
            self._last_t = t
        while self._samples and self._samples[0][0] < t - s.eye_baseline_window_s:
            self._weight_s -= self._samples.popleft()[2]
        if t - self._computed_at >= self.REFRESH_S or self._value is None:
            self._computed_at = t
            if self._weight_s >= s.eye_baseline_min_s:
                values = np.fromiter((v for _, v, _ in self._samples), dtype=np.float64)
                self._value = float(np.percentile(values, s.eye_baseline_percentile))
            else:
                self._value = None

    @property
    def value(self) -> float | None:
        """The open-eye openness, or ``None`` until enough valid samples exist."""
        return self._value if self._value is not None and self._value > 0 else None
