"""Real video files for camera/evidence tests, written with cv2.VideoWriter.

Frame ``i`` shows ``i`` in binary as 8 vertical black/white stripes (most significant bit on
the left), which survives any lossy codec, so a decoded frame tells which frame it was.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage.data import astronaut

BITS = 8


def counting_frame(i: int, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    w, h = size
    image = np.zeros((h, w, 3), np.uint8)
    for b in range(BITS):
        if (i >> (BITS - 1 - b)) & 1:
            image[:, b * w // BITS:(b + 1) * w // BITS] = 255
    return image


def frame_number(image: np.ndarray, n: int = 1 << BITS) -> int:
    """Inverse of :func:`counting_frame` (``n`` only documents the expected range)."""
    w = image.shape[1]
    value = 0
    for b in range(BITS):
        stripe = image[:, b * w // BITS + 2:(b + 1) * w // BITS - 2]
        value = (value << 1) | int(float(stripe.mean()) > 127)
    assert value < n, f"frame number {value} out of range {n}"
    return value


def write_counting_video(path: Path, n: int, fps: float, size: tuple[int, int] = (160, 120),
                         fourcc: str = "MJPG") -> Path:
    """``n`` frames, frame ``i`` drawn by :func:`counting_frame`."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"cannot write {path}"
    for i in range(n):
        writer.write(counting_frame(i, size))
    writer.release()
    return path


def write_face_video(path: Path, n: int = 40, fps: float = 20.0, no_face: int = 0) -> Path:
    """The astronaut's face (real photo) in 640x480, swaying a little; the last ``no_face``
    frames show no one."""
    photo = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    m = np.array([[1.5, 0.0, 320 - 1.5 * 224], [0.0, 1.5, 230 - 1.5 * 122]])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (640, 480))
    for i in range(n):
        if i >= n - no_face:  # a smooth grey ramp: normal brightness and contrast, no face
            ramp = np.tile(np.linspace(60, 180, 640, dtype=np.uint8), (480, 1))
            writer.write(cv2.cvtColor(ramp, cv2.COLOR_GRAY2BGR))
            continue
        mi = m.copy()
        mi[0, 2] += 4 * np.sin(i / 5)
        writer.write(cv2.warpAffine(photo, mi, (640, 480), borderMode=cv2.BORDER_REPLICATE))
    writer.release()
    return path
