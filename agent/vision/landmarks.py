"""FaceMesh (468 points) and Iris (71 eye-contour + 5 iris points) on rotated crops.

"Left"/"right" in names here mean the side of the IMAGE (index 33 is the image-left eye's
outer corner, i.e. the driver's right eye on a camera facing the driver).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.vision.arrays import F64, U8
from agent.vision.geometry import Roi, apply_affine, roi_from_points, warp_crop
from agent.vision.models import OnnxModel

MESH_SIZE = 192
IRIS_SIZE = 64
MESH_ROI_SCALE = 1.5  # MediaPipe face_landmark: ROI = 1.5 x the face box, square
IRIS_ROI_SCALE = 2.3  # MediaPipe iris: ROI = 2.3 x the eye-corner span, square

# FaceMesh indices (canonical MediaPipe topology).
MESH_EYE_LEFT_OUTER, MESH_EYE_LEFT_INNER = 33, 133  # image-left eye
MESH_EYE_RIGHT_INNER, MESH_EYE_RIGHT_OUTER = 362, 263  # image-right eye
MESH_NOSE_TIP = 1
MESH_CHIN = 152
MESH_MOUTH_LEFT, MESH_MOUTH_RIGHT = 61, 291
MESH_LIP_UPPER_INNER, MESH_LIP_LOWER_INNER = 13, 14
MESH_FOREHEAD = 10
MESH_NOSE_BRIDGE = (168, 6)  # glabella/bridge, upper nose bridge

# Iris model: eye contour points 0..8 lower lid (corner .. corner), 9..15 upper lid.
IRIS_CORNER_A, IRIS_CORNER_B = 0, 8  # 0 = outer corner (33 / 263), 8 = inner (133 / 362)
IRIS_LID_PAIRS = ((11, 3), (12, 4), (13, 5))  # upper/lower pairs (160/144, 159/145, 158/153)
EYE_CONTOUR_POINTS = 16  # the lid ring; 16..70 are brows and halos


@dataclass(frozen=True, slots=True)
class MeshResult:
    """468 landmarks in frame pixels (x, y, z; z in the same pixel scale, relative)."""

    points: F64
    presence: float  # sigmoid of the mesh's face flag, 0..1
    roi: Roi
    crop: U8  # the 192x192 BGR crop the mesh saw (upright face), for texture measures
    crop_points: F64  # the same landmarks in crop pixels (468, 2)


@dataclass(frozen=True, slots=True)
class EyeResult:
    """One eye in frame pixels: the 71-point contour (lid ring first) and 5 iris points."""

    contour: F64  # (71, 2)
    iris: F64  # (5, 2): centre, then 4 points on the iris edge
    roi: Roi
    in_frame: bool  # the eye region's centre lies inside the frame


class FaceMesh:
    def __init__(self, model: OnnxModel) -> None:
        self._model = model

    def run(self, frame: U8, roi: Roi) -> MeshResult:
        a = roi.crop_to_image(MESH_SIZE)
        crop = warp_crop(frame, a, MESH_SIZE)
        x = self._model.input[0]
        # BGR HWC uint8 -> RGB CHW float [0, 1] straight into the bound input (no cvtColor).
        np.multiply(crop.transpose(2, 0, 1)[::-1], np.float32(1.0 / 255.0), out=x,
                    casting="unsafe")
        coords, flag = self._model.run()
        raw = coords.reshape(468, 3).astype(np.float64)
        presence = 1.0 / (1.0 + float(np.exp(-np.clip(flag.reshape(-1)[0], -80.0, 80.0))))
        pts = np.empty((468, 3))
        pts[:, :2] = apply_affine(a, raw[:, :2])
        pts[:, 2] = raw[:, 2] * roi.width / MESH_SIZE
        return MeshResult(points=pts, presence=presence, roi=roi, crop=crop,
                          crop_points=raw[:, :2])


def mesh_roi_from_landmarks(points: F64) -> Roi:
    """MediaPipe's tracking step: the next frame's face ROI from this frame's landmarks."""
    return roi_from_points(points[:, :2], points[MESH_EYE_LEFT_OUTER, :2],
                           points[MESH_EYE_RIGHT_OUTER, :2], MESH_ROI_SCALE)


def eye_rois(points: F64) -> tuple[Roi, Roi]:
    """Iris ROIs (image-left eye, image-right eye) from the mesh's eye corners."""
    out = []
    for a, b in ((MESH_EYE_LEFT_OUTER, MESH_EYE_LEFT_INNER),
                 (MESH_EYE_RIGHT_INNER, MESH_EYE_RIGHT_OUTER)):
        pair = points[[a, b], :2]
        out.append(roi_from_points(pair, pair[0], pair[1], IRIS_ROI_SCALE))
    return out[0], out[1]


class IrisModel:
    """Both eyes; the image-right eye is mirrored so it looks like the model's left eye."""

    def __init__(self, model: OnnxModel, batch: int) -> None:
        self._model = model
        self._batch = batch

    def run(self, frame: U8, rois: tuple[Roi, Roi]) -> tuple[EyeResult, EyeResult]:
        h, w = frame.shape[:2]
        maps = [rois[0].crop_to_image(IRIS_SIZE), rois[1].crop_to_image(IRIS_SIZE, flip=True)]
        raw: list[tuple[F64, F64]] = []
        if self._batch == 2:
            for i, a in enumerate(maps):
                self._fill(frame, a, i)
            contours, irises = self._model.run()
            raw = [(contours[i].astype(np.float64), irises[i].astype(np.float64))
                   for i in range(2)]
        else:
            for a in maps:
                self._fill(frame, a, 0)
                contours, irises = self._model.run()
                raw.append((contours[0].astype(np.float64), irises[0].astype(np.float64)))
        eyes = []
        for roi, a, (contour, iris) in zip(rois, maps, raw, strict=True):
            eyes.append(EyeResult(
                contour=apply_affine(a, contour.reshape(71, 3)[:, :2]),
                iris=apply_affine(a, iris.reshape(5, 3)[:, :2]),
                roi=roi, in_frame=0.0 <= roi.cx < w and 0.0 <= roi.cy < h))
        return eyes[0], eyes[1]

    def _fill(self, frame: U8, a: F64, index: int) -> None:
        crop = warp_crop(frame, a, IRIS_SIZE)
        np.multiply(crop.transpose(2, 0, 1)[::-1], np.float32(1.0 / 255.0),
                    out=self._model.input[index], casting="unsafe")
