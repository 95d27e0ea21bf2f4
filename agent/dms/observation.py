"""What the vision pipeline hands to the pure DMS state machine: one observation per frame."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FaceObservation:
    """Per-frame measurements in the driver camera's frame; angles in degrees.

    ``eye_openness`` is the raw lid gap / eye width per eye (left, right) from the iris-model
    eye contour, NOT yet normalised: the state machine learns each driver's open-eye baseline.
    ``None`` values mean "not measured" and must never be read as "eyes closed".
    """

    t: float  # frame timestamp, epoch seconds
    face_found: bool
    face_score: float = 0.0
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # x, y, w, h normalised
    pitch: float = 0.0
    yaw: float = 0.0
    roll: float = 0.0
    eye_openness: tuple[float | None, float | None] = (None, None)
    gaze_yaw: float = 0.0  # eye-in-head gaze angles from the iris position
    gaze_pitch: float = 0.0
    gaze_confidence: float = 0.0
    mouth_openness: float = 0.0  # inner-lip gap / mouth width
    glasses_confidence: float = 0.0
    mask_confidence: float = 0.0
    frame_brightness: float = 0.0  # mean luma 0..255 (camera blocked/blinded)
    frame_contrast: float = 0.0  # luma standard deviation
