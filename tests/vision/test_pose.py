"""Head-pose conventions, checked on the 3D face model projected with known rotations."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from agent.vision.pose import POSE_IDS, POSE_MODEL, camera_matrix, head_pose


def _project(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """Landmarks (468, 2) of the model face seen with the given angles (public conventions)."""
    p, y, r = (math.radians(-a) for a in (pitch, yaw, roll))  # model-frame signs
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    rot = rz @ ry @ rx
    rvec, _ = cv2.Rodrigues(rot)
    cam = camera_matrix(640, 480, 60.0)
    img, _ = cv2.projectPoints(POSE_MODEL, rvec, np.array([0.0, 0.0, 600.0]), cam, np.zeros(4))
    pts = np.zeros((468, 2))
    pts[list(POSE_IDS)] = img.reshape(-1, 2)
    return pts


def _pose(pts: np.ndarray) -> tuple[float, float, float]:
    pose = head_pose(pts, camera_matrix(640, 480, 60.0))
    assert pose is not None
    return pose.pitch, pose.yaw, pose.roll


@pytest.mark.parametrize("angles", [(0, 0, 0), (20, 0, 0), (-15, 0, 0), (0, 25, 0),
                                    (0, -25, 0), (0, 0, 15), (10, -20, 8)])
def test_recovers_known_angles(angles: tuple[float, float, float]) -> None:
    assert _pose(_project(*angles)) == pytest.approx(angles, abs=0.5)


def test_sign_conventions_on_the_picture() -> None:
    front = _project(0, 0, 0)
    nose, chin = 1, 152
    # yaw > 0: the nose moves towards the image's right, relative to the face.
    turned = _project(0, 20, 0)
    assert turned[nose, 0] - turned[chin, 0] > front[nose, 0] - front[chin, 0]
    # pitch > 0: looking up, the nose rises towards the forehead (top of the image).
    up = _project(20, 0, 0)
    assert up[nose, 1] - up[10, 1] < front[nose, 1] - front[10, 1]
    # roll > 0: counter-clockwise on screen, the image-right eye is higher than the left.
    rolled = _project(0, 0, 15)
    assert rolled[263, 1] < rolled[33, 1]


def test_mirroring_flips_yaw_and_roll_but_not_pitch() -> None:
    pts = _project(12, 18, 7)
    mirrored = pts.copy()
    mirrored[:, 0] = 640 - pts[:, 0]
    # In a mirror the image-left and image-right points swap roles.
    for a, b in ((33, 263), (61, 291)):
        mirrored[[a, b]] = mirrored[[b, a]]
    pitch, yaw, roll = _pose(mirrored)
    assert (pitch, yaw, roll) == pytest.approx((12, -18, -7), abs=0.5)
