"""Real video files for camera/evidence tests, written with cv2.VideoWriter."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def level(i: int) -> int:
    """The grey level of frame ``i``: distinct for ``i < 48``, 5 apart (survives JPEG)."""
    return 10 + (i * 5) % 240


def write_counting_video(path: Path, n: int, fps: float, size: tuple[int, int] = (160, 120),
                         fourcc: str = "MJPG") -> Path:
    """``n`` flat frames whose grey level encodes the frame number (see :func:`level`)."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"cannot write {path}"
    for i in range(n):
        writer.write(np.full((h, w, 3), level(i), np.uint8))
    writer.release()
    return path


def frame_number(image: np.ndarray, n: int) -> int:
    """Inverse of :func:`level` for ``0 <= i < n`` (nearest grey level)."""
    g = float(image.mean())
    return min(range(n), key=lambda i: abs(level(i) - g))
