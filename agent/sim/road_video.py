"""A simulated road camera: a synthetic forward view (road, moving lane marks), written once.

The demo's vehicle has a road camera (``cam0``) like a dashcam: this draws one with OpenCV —
sky, a road in perspective and dashed lane marks that move towards the viewer — so telemetry
alarms carry a road image and clip from a real camera source (a looped video file).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_road_video(path: Path, seconds: float = 12.0, fps: float = 15.0,
                     size: tuple[int, int] = (640, 360)) -> Path:
    w, h = size
    horizon = int(h * 0.42)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OSError(f"cannot write {path}")
    road = np.array([[w * 0.46, horizon], [w * 0.54, horizon], [w * 0.98, h], [w * 0.02, h]],
                    np.int32)
    try:
        for i in range(int(seconds * fps)):
            img = np.zeros((h, w, 3), np.uint8)
            img[:horizon] = (200, 160, 110)  # sky (BGR)
            img[horizon:] = (60, 120, 70)  # verges
            cv2.fillPoly(img, [road], (70, 70, 70))
            phase = (i % int(fps)) / fps  # the marks advance one period per second
            for k in range(8):
                d0 = ((k + phase) / 8.0) ** 2  # 0 at the horizon, 1 at the bottom
                d1 = ((k + phase + 0.45) / 8.0) ** 2
                y0, y1 = horizon + d0 * (h - horizon), horizon + min(d1, 1.0) * (h - horizon)
                half0, half1 = 1 + 6 * d0, 1 + 6 * min(d1, 1.0)
                mark = np.array([[w / 2 - half0, y0], [w / 2 + half0, y0],
                                 [w / 2 + half1, y1], [w / 2 - half1, y1]], np.int32)
                cv2.fillPoly(img, [mark], (235, 235, 235))
            cv2.putText(img, f"cam0 {i / fps:5.1f}s", (10, h - 12), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5, (255, 255, 255), 1, cv2.LINE_AA)
            writer.write(img)
    finally:
        writer.release()
    return path
