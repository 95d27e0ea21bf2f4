"""Head pose from six mesh landmarks with cv2.solvePnP against a generic 3D face.

Angles in degrees, in the camera image's terms (so they are easy to check on a picture):

* ``yaw``   > 0 when the nose turns towards the image's right side (a mirrored image flips it);
* ``pitch`` > 0 when the face tilts up (nose towards the top of the image);
* ``roll``  > 0 when the face rotates counter-clockwise on screen (the same sense as a positive
  angle in ``cv2.getRotationMatrix2D``).

A generic face never fits a real one exactly (DESIGN-NOTES §2 saw pitch 15-30 degrees off
with a 6-point model); this uses nine points of the canonical face the mesh was trained on,
and the DMS state machine still learns each driver's neutral pose, so only changes matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from agent.vision.arrays import F64

# Points of MediaPipe's canonical face model (face_geometry/data/canonical_face_model.obj,
# Apache-2.0), converted to mm with x to the image right, y down, z away from the camera.
# Nose tip, nose bridge, between the eyes, forehead top, chin, outer eye corners, mouth corners.
POSE_IDS = (1, 6, 168, 10, 152, 33, 263, 61, 291)
_CANONICAL_CM = ((0.0, -1.126865, 7.475604), (0.0, 2.473255, 5.788627),
                 (0.0, 3.271027, 5.236015), (0.0, 8.261778, 4.481535),
                 (0.0, -9.403378, 4.264492), (-4.445859, 2.663991, 3.173422),
                 (4.445859, 2.663991, 3.173422), (-2.456206, -4.342621, 4.283884),
                 (2.456206, -4.342621, 4.283884))
POSE_MODEL = np.array(_CANONICAL_CM, dtype=np.float64) * np.array([10.0, -10.0, -10.0])


@dataclass(frozen=True, slots=True)
class HeadPose:
    pitch: float
    yaw: float
    roll: float
    rvec: F64  # for drawing the axes
    tvec: F64


def camera_matrix(width: int, height: int, hfov_deg: float) -> F64:
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def angles_from_rotation(r: F64) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees from the model-to-camera rotation (conventions above).

    Decomposed as R = Rz(roll) Ry(yaw) Rx(pitch) with roll outermost, so rotating the image
    in its plane changes roll only, and mirroring it flips yaw and roll but not pitch.
    """
    yaw = math.asin(float(np.clip(-r[2, 0], -1.0, 1.0)))
    pitch = math.atan2(float(r[2, 1]), float(r[2, 2]))
    roll = math.atan2(float(r[1, 0]), float(r[0, 0]))
    # Signs: the model's +yaw turns the nose to the image left, +pitch tips it down and +roll
    # is clockwise on screen (y points down); the public conventions are the opposite.
    return -math.degrees(pitch), -math.degrees(yaw), -math.degrees(roll)


def head_pose(points: F64, camera: F64) -> HeadPose | None:
    """Pose from (468, 2+) landmarks in pixels; None when solvePnP fails."""
    image_pts = np.ascontiguousarray(points[list(POSE_IDS), :2], dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(POSE_MODEL, image_pts, camera, np.zeros(4),
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return None
    rot = np.asarray(cv2.Rodrigues(rvec)[0], np.float64)
    pitch, yaw, roll = angles_from_rotation(rot)
    return HeadPose(pitch, yaw, roll, np.asarray(rvec, np.float64).reshape(3),
                    np.asarray(tvec, np.float64).reshape(3))
