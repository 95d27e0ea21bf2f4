"""Rotated regions of interest and the affine maps between a frame and a model's input crop.

Conventions: pixel coordinates, x right, y down. A :class:`Roi` is a square or rectangle
centred at (cx, cy), rotated by ``rotation`` radians (positive = clockwise on screen, as in
MediaPipe's ``NormalizedRect``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from agent.vision.arrays import F64, U8


@dataclass(frozen=True, slots=True)
class Roi:
    cx: float
    cy: float
    width: float
    height: float
    rotation: float = 0.0  # radians

    def crop_to_image(self, size: int, flip: bool = False) -> F64:
        """2x3 affine taking crop pixel (u, v) in a ``size``² crop to frame pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        sx, sy = self.width / size, self.height / size
        # local = ((u - size/2) * sx, (v - size/2) * sy); image = centre + R @ local
        a = np.array([[c * sx, -s * sy, 0.0], [s * sx, c * sy, 0.0]])
        a[:, 2] = (self.cx, self.cy) - a[:, :2] @ (size / 2.0, size / 2.0)
        if flip:  # pixel u -> size - 1 - u: the crop is exactly the mirror image of the region
            a[:, 2] += a[:, 0] * (size - 1)
            a[:, 0] = -a[:, 0]
        return a

    def corners(self) -> F64:
        """The four corners in frame pixels (for drawing)."""
        a = self.crop_to_image(1)
        pts = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
        out: F64 = pts @ a.T
        return out


def normalize_angle(angle: float) -> float:
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def roi_from_points(points: F64, start: F64, end: F64, scale: float) -> Roi:
    """MediaPipe's DetectionsToRects + RectTransformation (square_long).

    The axis-aligned box of ``points`` gives the centre and size; the line ``start`` -> ``end``
    (e.g. image-left eye -> image-right eye) gives the rotation; the long side is scaled.
    """
    lo = points.min(axis=0)
    hi = points.max(axis=0)
    rotation = normalize_angle(-math.atan2(start[1] - end[1], end[0] - start[0]))
    side = float(max(hi[0] - lo[0], hi[1] - lo[1])) * scale
    return Roi(float(lo[0] + hi[0]) / 2.0, float(lo[1] + hi[1]) / 2.0, side, side, rotation)


def roi_from_box(box: F64, start: F64, end: F64, scale: float) -> Roi:
    """Same as :func:`roi_from_points` for a box ``(x0, y0, x1, y1)`` in pixels."""
    return roi_from_points(np.array([box[:2], box[2:]]), start, end, scale)


def warp_crop(frame: U8, crop_to_image: F64, size: int) -> U8:
    """The ``size``² crop (BGR uint8) whose pixel (u, v) samples ``crop_to_image @ (u, v, 1)``."""
    out: U8 = np.asarray(cv2.warpAffine(frame, crop_to_image, (size, size),
                                        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)),
                         np.uint8)
    return out


def apply_affine(a: F64, points: F64) -> F64:
    """Map (N, 2) points through a 2x3 affine."""
    out: F64 = points @ a[:, :2].T + a[:, 2]
    return out
