"""Draw a :class:`FaceAnalysis` on a frame (diag snapshot: check the camera mount at a glance)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from agent.vision.arrays import U8
from agent.vision.landmarks import EYE_CONTOUR_POINTS
from agent.vision.pipeline import FaceAnalysis
from agent.vision.pose import POSE_IDS, POSE_MODEL

GREEN = (80, 220, 80)
YELLOW = (0, 220, 255)
CYAN = (255, 220, 0)
WHITE = (255, 255, 255)
RED = (60, 60, 255)
BLUE = (255, 120, 40)


def _text(img: U8, text: str, org: tuple[int, int], scale: float) -> None:
    (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 3)
    org = (max(2, min(org[0], img.shape[1] - tw - 2)), org[1])  # keep it inside the frame
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, WHITE, 1, cv2.LINE_AA)


def annotate(frame: U8, faces: list[FaceAnalysis], camera: npt.NDArray[np.float64]) -> U8:
    """A copy of ``frame`` with each face's box, landmarks, eyes, pose axes and read-outs."""
    out = frame.copy()
    h, w = out.shape[:2]
    scale = max(0.4, min(w, h) / 900.0)
    dot = max(1, round(min(w, h) / 500))
    for face in faces:
        obs = face.observation
        bx, by, bw, bh = obs.box
        p0 = (round(bx * w), round(by * h))
        p1 = (round((bx + bw) * w), round((by + bh) * h))
        cv2.rectangle(out, p0, p1, GREEN, 2 * dot)
        roi = np.round(face.roi.corners()).astype(np.int32)
        cv2.polylines(out, [roi], True, BLUE, dot)
        for x, y in np.round(face.landmarks[:, :2]).astype(int):
            cv2.circle(out, (int(x), int(y)), dot, YELLOW, -1)
        for eye in face.eyes:
            ring = np.round(eye.contour[:EYE_CONTOUR_POINTS]).astype(np.int32)
            cv2.polylines(out, [ring[:9], ring[[0, *range(9, 16), 8]]], False, CYAN, dot)
            iris = eye.iris
            radius = float(np.linalg.norm(iris[1:] - iris[0], axis=1).mean())
            centre = (round(iris[0, 0]), round(iris[0, 1]))
            cv2.circle(out, centre, max(1, round(radius)), RED, dot)
        if face.pose is not None:
            origin = POSE_MODEL[POSE_IDS.index(1)]
            length = float(np.ptp(POSE_MODEL[:, 1])) * 0.5
            axes = origin + np.array([(0.0, 0.0, 0.0), (length, 0.0, 0.0),
                                      (0.0, -length, 0.0), (0.0, 0.0, -length)])
            pts, _ = cv2.projectPoints(axes, face.pose.rvec, face.pose.tvec, camera,
                                       np.zeros(4))
            o, x_end, y_end, z_end = (tuple(int(v) for v in np.round(p.ravel()))
                                      for p in pts)
            cv2.arrowedLine(out, o, x_end, RED, 2 * dot, tipLength=0.15)  # to image right
            cv2.arrowedLine(out, o, y_end, GREEN, 2 * dot, tipLength=0.15)  # up the face
            cv2.arrowedLine(out, o, z_end, BLUE, 2 * dot, tipLength=0.15)  # out of the face
        left, right = obs.eye_openness
        lines = [
            f"score {obs.face_score:.2f}  pitch {obs.pitch:+.1f}  yaw {obs.yaw:+.1f}  "
            f"roll {obs.roll:+.1f}",
            "eyes " + " / ".join("n/a" if v is None else f"{v:.2f}" for v in (left, right))
            + f"  mouth {obs.mouth_openness:.2f}  gaze {obs.gaze_yaw:+.0f},"
            f"{obs.gaze_pitch:+.0f} ({obs.gaze_confidence:.1f})",
            f"glasses {obs.glasses_confidence:.2f}  mask {obs.mask_confidence:.2f}",
        ]
        y0 = p1[1] + round(22 * scale * 1.6)
        if y0 + 3 * round(26 * scale * 1.6) > h:
            y0 = max(round(22 * scale * 1.6), p0[1] - 3 * round(26 * scale * 1.6))
        for i, line in enumerate(lines):
            _text(out, line, (max(4, p0[0] - 40), y0 + i * round(26 * scale * 1.6)), scale)
    if not faces:
        _text(out, "no face", (10, round(40 * scale * 1.6)), scale * 1.5)
    return out
