"""Per-frame measures derived from the landmarks and the face crop (pure numpy).

Eye openness, gaze and mouth openness are geometric ratios of model landmarks. Glasses and mask
are simple image heuristics, NOT trained classifiers: see docs/vision.md for what they measure
and how far to trust them.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from agent.vision.arrays import F64, U8
from agent.vision.landmarks import (
    IRIS_CORNER_A,
    IRIS_CORNER_B,
    IRIS_LID_PAIRS,
    MESH_CHIN,
    MESH_EYE_LEFT_INNER,
    MESH_EYE_LEFT_OUTER,
    MESH_EYE_RIGHT_INNER,
    MESH_EYE_RIGHT_OUTER,
    MESH_LIP_LOWER_INNER,
    MESH_LIP_UPPER_INNER,
    MESH_MOUTH_LEFT,
    MESH_MOUTH_RIGHT,
    MESH_NOSE_BRIDGE,
    MESH_NOSE_TIP,
    EyeResult,
)

EYEBALL_RADIUS_PER_WIDTH = 0.4  # eyeball radius ~12 mm / palpebral fissure ~30 mm


def eye_openness(eye: EyeResult) -> float | None:
    """Lid gap / eye width from the iris model's contour; None if the eye is not measurable."""
    if not eye.in_frame:
        return None
    c = eye.contour
    width = float(np.linalg.norm(c[IRIS_CORNER_A] - c[IRIS_CORNER_B]))
    if width < 2.0:  # pixels: too small to say anything
        return None
    gap = sum(float(np.linalg.norm(c[u] - c[lo])) for u, lo in IRIS_LID_PAIRS)
    return gap / (len(IRIS_LID_PAIRS) * width)


def eye_gaze(eye: EyeResult) -> tuple[float, float]:
    """Eye-in-head (yaw, pitch) in degrees from the iris centre within the eye.

    Same sense as the head pose: yaw > 0 towards the image's right, pitch > 0 upwards.
    """
    c = eye.contour
    a, b = c[IRIS_CORNER_A], c[IRIS_CORNER_B]
    left, right = (a, b) if a[0] <= b[0] else (b, a)
    axis = right - left
    width = float(np.linalg.norm(axis))
    if width < 2.0:
        return 0.0, 0.0
    ux = axis / width
    uy = np.array([-ux[1], ux[0]])  # perpendicular, pointing down the image
    lids = c[:16]
    centre = (left + right) / 2.0
    centre = centre + uy * float(np.dot(lids.mean(axis=0) - centre, uy))
    d = eye.iris[0] - centre
    r = EYEBALL_RADIUS_PER_WIDTH * width
    yaw = math.degrees(math.asin(float(np.clip(np.dot(d, ux) / r, -1.0, 1.0))))
    pitch = -math.degrees(math.asin(float(np.clip(np.dot(d, uy) / r, -1.0, 1.0))))
    return yaw, pitch


def gaze(eyes: tuple[EyeResult, EyeResult],
         openness: tuple[float | None, float | None]) -> tuple[float, float, float]:
    """(yaw, pitch, confidence): mean of the measurable eyes, confidence from how open they are.

    The iris is only trustworthy when the eye is open enough to show it: confidence ramps
    from 0 at openness 0.10 to 1 at 0.25 (typical open eye 0.25-0.35 on this model).
    """
    yaws, pitches, confs = [], [], []
    for eye, op in zip(eyes, openness, strict=True):
        if op is None:
            continue
        conf = float(np.clip((op - 0.10) / 0.15, 0.0, 1.0))
        if conf <= 0.0:
            continue
        y, p = eye_gaze(eye)
        yaws.append(y * conf)
        pitches.append(p * conf)
        confs.append(conf)
    if not confs:
        return 0.0, 0.0, 0.0
    total = sum(confs)
    return sum(yaws) / total, sum(pitches) / total, total / 2.0


def mouth_openness(points: F64) -> float:
    """Inner-lip gap / mouth-corner width (closed ~0-0.1, speech < 0.35, yawn > 0.5)."""
    width = float(np.linalg.norm(points[MESH_MOUTH_LEFT, :2] - points[MESH_MOUTH_RIGHT, :2]))
    gap = float(np.linalg.norm(points[MESH_LIP_UPPER_INNER, :2]
                               - points[MESH_LIP_LOWER_INNER, :2]))
    return gap / width if width > 1e-6 else 0.0


def _patch(img: npt.NDArray[Any], centre: F64, half_w: float,
           half_h: float) -> npt.NDArray[Any]:
    h, w = img.shape[:2]
    x0, x1 = max(0, int(centre[0] - half_w)), min(w, int(centre[0] + half_w) + 1)
    y0, y1 = max(0, int(centre[1] - half_h)), min(h, int(centre[1] + half_h) + 1)
    return img[y0:y1, x0:x1]


def glasses_confidence(crop: U8, crop_points: F64) -> float:
    """Edge energy across the nose bridge, where a spectacle frame's bridge crosses it.

    In the upright 192x192 face crop, a glasses bridge is a horizontal bar between the inner
    eye corners: strong vertical intensity gradients there. Bare skin on the bridge is smooth.
    The mean |d/dy| in the bridge patch, relative to the face's own contrast, is mapped to
    0..1 with a logistic whose midpoint was set by hand (no labelled data): treat it as a hint.
    """
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    inner_l = crop_points[MESH_EYE_LEFT_INNER]
    inner_r = crop_points[MESH_EYE_RIGHT_INNER]
    eye_span = float(np.linalg.norm(inner_r - inner_l))
    if eye_span < 4.0:
        return 0.0
    bridge = (crop_points[MESH_NOSE_BRIDGE[0]] + crop_points[MESH_NOSE_BRIDGE[1]]) / 2.0
    patch = _patch(gray, bridge, eye_span * 0.25, eye_span * 0.35).astype(np.float32)
    if patch.shape[0] < 4 or patch.shape[1] < 4:
        return 0.0
    dy = np.abs(np.diff(patch, axis=0)).mean()
    face = _patch(gray, crop_points[MESH_NOSE_TIP], eye_span, eye_span).astype(np.float32)
    contrast = float(face.std()) + 1.0
    ratio = float(dy) / contrast
    return float(1.0 / (1.0 + math.exp(-(ratio - 0.35) / 0.05)))


def mask_confidence(crop: U8, crop_points: F64) -> float:
    """Does the lower face look like the upper face? A mask covers mouth and chin with cloth.

    Compares the chroma (YCrCb Cr/Cb means) of a patch between mouth and chin with patches on
    both cheeks under the eyes, and how much lip detail (edge energy) the mouth area shows.
    Uncalibrated hand-set mapping: a hint, not a detector (docs/vision.md).
    """
    ycc = cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb).astype(np.float32)
    eye_l = (crop_points[MESH_EYE_LEFT_OUTER] + crop_points[MESH_EYE_LEFT_INNER]) / 2.0
    eye_r = (crop_points[MESH_EYE_RIGHT_OUTER] + crop_points[MESH_EYE_RIGHT_INNER]) / 2.0
    span = float(np.linalg.norm(eye_r - eye_l))
    if span < 4.0:
        return 0.0
    nose = crop_points[MESH_NOSE_TIP]
    mouth = (crop_points[MESH_MOUTH_LEFT] + crop_points[MESH_MOUTH_RIGHT]) / 2.0
    chin = crop_points[MESH_CHIN]
    half = span * 0.12
    cheeks = [_patch(ycc, (e + nose) / 2.0, half, half) for e in (eye_l, eye_r)]
    lower = [_patch(ycc, (mouth + chin) / 2.0, half, half),
             _patch(ycc, (nose + mouth) / 2.0 + np.array([span * 0.35, 0.0]), half, half),
             _patch(ycc, (nose + mouth) / 2.0 - np.array([span * 0.35, 0.0]), half, half)]
    if any(p.size == 0 for p in cheeks + lower):
        return 0.0
    ref = np.mean([p.reshape(-1, 3).mean(axis=0) for p in cheeks], axis=0)
    low = np.mean([p.reshape(-1, 3).mean(axis=0) for p in lower], axis=0)
    chroma_dist = float(np.hypot(low[1] - ref[1], low[2] - ref[2]))  # Cr, Cb
    luma_dist = abs(float(low[0] - ref[0]))
    score = chroma_dist / 8.0 + luma_dist / 60.0
    return float(1.0 / (1.0 + math.exp(-(score - 1.0) / 0.25)))


def frame_luma(frame: U8) -> tuple[float, float]:
    """(mean, std) luma 0..255 on a 1-in-8 subsample (blocked / blinded camera)."""
    small = frame[::8, ::8].astype(np.float32)
    luma = small[..., 0] * 0.114 + small[..., 1] * 0.587 + small[..., 2] * 0.299
    return float(luma.mean()), float(luma.std())
