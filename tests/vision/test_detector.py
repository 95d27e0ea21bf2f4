"""BlazeFace on real photos: the astronaut's face where it is, nothing on a rocket or a cat."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from agent.vision.detector import ANCHORS, FaceDetector
from agent.vision.models import ModelSet, SessionConfig
from tests.vision.conftest import ASTRONAUT_FACE_CENTRE


def _detector(models_dir: Path) -> FaceDetector:
    return FaceDetector(ModelSet.load(models_dir, SessionConfig()).detector)


def test_anchor_layout_is_mediapipe_short_range() -> None:
    assert ANCHORS.shape == (896, 2)
    # 16x16 cells x 2 anchors at stride 8, then 8x8 cells x 6 anchors at stride 16.
    assert np.allclose(ANCHORS[0], (0.5 / 16, 0.5 / 16))
    assert np.allclose(ANCHORS[512], (0.5 / 8, 0.5 / 8))
    assert np.allclose(ANCHORS[-1], (7.5 / 8, 7.5 / 8))


def test_astronaut_face_is_found_where_it_is(models_dir: Path, astronaut: np.ndarray) -> None:
    faces = _detector(models_dir).detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    x0, y0, x1, y1 = face.box
    cx, cy = ASTRONAUT_FACE_CENTRE
    assert x0 < cx < x1 and y0 < cy < y1
    assert 60 < x1 - x0 < 140 and 60 < y1 - y0 < 140  # the face is ~100 px wide
    assert face.score > 0.8
    left_eye, right_eye, nose, mouth = face.keypoints[:4]
    assert left_eye[0] < nose[0] < right_eye[0]  # keypoint 0 is the image-left eye
    assert max(left_eye[1], right_eye[1]) < nose[1] < mouth[1]


def test_letterbox_maps_back_to_frame_pixels(models_dir: Path, astronaut: np.ndarray) -> None:
    # The same face on wide and tall canvases: the box moves with it, in canvas pixels
    # (within resampling noise, ~5 % of the face; a letterbox bug is off by 30+ px).
    det = _detector(models_dir)
    ref = det.detect(astronaut)[0]
    wide = np.full((512, 600, 3), 128, np.uint8)
    wide[:, 60:572] = astronaut
    tall = np.full((600, 512, 3), 128, np.uint8)
    tall[70:582] = astronaut
    assert np.allclose(det.detect(wide)[0].box, ref.box + np.array([60, 0, 60, 0]), atol=10)
    assert np.allclose(det.detect(tall)[0].box, ref.box + np.array([0, 70, 0, 70]), atol=10)


def test_no_face_on_a_rocket_or_a_blank_frame(models_dir: Path, rocket: np.ndarray) -> None:
    # (The cat's face may pass BlazeFace at ~0.6; FaceMesh's face flag rejects it: see
    # test_pipeline's non-face tests.)
    det = _detector(models_dir)
    assert det.detect(rocket) == []
    assert det.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert det.detect(cv2.GaussianBlur(rocket, (0, 0), 3)) == []
