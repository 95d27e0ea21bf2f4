"""BlazeFace short-range face detector: letterbox, SSD anchor decoding, weighted NMS.

Ported from MediaPipe's face_detection_short_range graph (128x128 input in [-1, 1], 896
anchors: a 16x16 grid with 2 anchors at stride 8 and an 8x8 grid with 6 anchors at stride 16).
Keypoints: 0 image-left eye (the driver's right eye), 1 image-right eye, 2 nose tip, 3 mouth,
4 image-left tragion, 5 image-right tragion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from agent.vision.arrays import F32, F64, U8
from agent.vision.models import OnnxModel

SIZE = 128
RAW_SCORE_LIMIT = 80.0
NMS_IOU = 0.3


def _anchors() -> F32:
    """Anchor centres in [0, 1] (fixed anchor size 1: only the centre is used)."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = SIZE // stride
        for y in range(n):
            for x in range(n):
                centres.extend([((x + 0.5) / n, (y + 0.5) / n)] * per_cell)
    return np.array(centres, np.float32)


ANCHORS = _anchors()


@dataclass(frozen=True, slots=True)
class Detection:
    """One face in frame pixels: box (x0, y0, x1, y1), 6 keypoints (6, 2), score 0..1."""

    box: F64
    keypoints: F64
    score: float

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))


def _iou(box: F32, boxes: F32) -> F32:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    out: F32 = inter / np.maximum(area + areas - inter, 1e-9)
    return out


def weighted_nms(boxes: F32, scores: F32, iou: float = NMS_IOU) -> list[tuple[F32, float]]:
    """MediaPipe's weighted NMS: overlapping candidates are averaged, weighted by score.

    ``boxes`` rows are (x0, y0, x1, y1, kx0, ky0, ... kx5, ky5); returns (row, best score).
    """
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    out: list[tuple[F32, float]] = []
    remaining = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        overlap = remaining & (_iou(boxes[i, :4], boxes[:, :4]) > iou)
        overlap[i] = True
        w = scores[overlap]
        merged: F32 = (boxes[overlap] * w[:, None]).sum(axis=0) / w.sum()
        out.append((merged, float(scores[i])))
        remaining &= ~overlap
    return out


class FaceDetector:
    """Finds faces in a whole BGR frame."""

    def __init__(self, model: OnnxModel, min_score: float = 0.5) -> None:
        self._model = model
        self.min_score = min_score

    def detect(self, frame: U8) -> list[Detection]:
        """All faces above ``min_score``, largest first."""
        h, w = frame.shape[:2]
        scale = SIZE / max(h, w)  # letterbox: keep the aspect, pad the short side
        nw, nh = round(w * scale), round(h * scale)
        pad_x, pad_y = (SIZE - nw) // 2, (SIZE - nh) // 2
        small = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
        x = self._model.input[0]
        x.fill(0.0)  # padding = 0 in the [-1, 1] range
        # BGR HWC uint8 -> RGB CHW float in [-1, 1], written straight into the bound input.
        np.multiply(small.transpose(2, 0, 1)[::-1], np.float32(2.0 / 255.0),
                    out=x[:, pad_y:pad_y + nh, pad_x:pad_x + nw], casting="unsafe")
        x[:, pad_y:pad_y + nh, pad_x:pad_x + nw] -= 1.0
        regressors, classificators = self._model.run()
        raw = np.clip(classificators[0, :, 0], -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
        scores = (1.0 / (1.0 + np.exp(-raw))).astype(np.float32)
        keep = scores >= self.min_score
        if not keep.any():
            return []
        reg = regressors[0, keep] / np.float32(SIZE)
        anchors = ANCHORS[keep]
        centre = reg[:, 0:2] + anchors
        half = reg[:, 2:4] / 2.0
        rows = np.empty((len(reg), 16), np.float32)
        rows[:, 0:2] = centre - half
        rows[:, 2:4] = centre + half
        rows[:, 4:16] = (reg[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]).reshape(-1, 12)
        valid = (rows[:, 2] > rows[:, 0]) & (rows[:, 3] > rows[:, 1])
        faces: list[Detection] = []
        # Undo the letterbox: tensor [0, 1] -> frame pixels.
        offset = np.array([pad_x, pad_y], np.float64)
        for row, score in weighted_nms(rows[valid], scores[keep][valid]):
            pts = (row.reshape(8, 2).astype(np.float64) * SIZE - offset) / scale
            faces.append(Detection(box=pts[:2].reshape(4), keypoints=pts[2:], score=score))
        faces.sort(key=lambda d: d.area, reverse=True)
        return faces
