"""Crop <-> frame affine maps, including the mirrored crop used for the image-right eye."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.vision.geometry import Roi, apply_affine, roi_from_points, warp_crop


def test_crop_corners_and_centre_map_onto_the_roi() -> None:
    roi = Roi(100.0, 50.0, 40.0, 40.0, rotation=0.0)
    a = roi.crop_to_image(64)
    pts = apply_affine(a, np.array([[0.0, 0.0], [32.0, 32.0], [64.0, 64.0]]))
    assert np.allclose(pts, [[80, 30], [100, 50], [120, 70]])


def test_rotation_is_clockwise_on_screen() -> None:
    roi = Roi(0.0, 0.0, 2.0, 2.0, rotation=math.pi / 2)
    a = roi.crop_to_image(2)
    # The crop's +u axis (right) points down the image after a +90 degree rotation.
    assert np.allclose(apply_affine(a, np.array([[2.0, 1.0]])), [[0.0, 1.0]])


def test_flipped_crop_is_the_mirror_image() -> None:
    frame = np.zeros((50, 50, 3), np.uint8)
    frame[20:30, 10:20] = 255  # a white square left of centre
    roi = Roi(25.0, 25.0, 50.0, 50.0)
    plain = warp_crop(frame, roi.crop_to_image(50), 50)
    flipped = warp_crop(frame, roi.crop_to_image(50, flip=True), 50)
    assert np.array_equal(flipped, plain[:, ::-1])
    # And points found in the flipped crop map back to where they are in the frame.
    a = roi.crop_to_image(50, flip=True)
    assert np.allclose(apply_affine(a, np.array([[34.0, 25.0]])), [[15.0, 25.0]])


def test_roi_from_points_is_square_scaled_and_rotated() -> None:
    pts = np.array([[0.0, 0.0], [10.0, 4.0]])
    roi = roi_from_points(pts, pts[0], pts[1], scale=2.0)
    assert (roi.cx, roi.cy, roi.width, roi.height) == pytest.approx((5.0, 2.0, 20.0, 20.0))
    assert roi.rotation == pytest.approx(math.atan2(4.0, 10.0))
