"""``edge-agent diag face IMAGE [--json]``: faces, landmarks, head pose and eyes in one image.

JSON: ``{"faces": [{"box": [x, y, w, h] (normalised 0..1), "score", "landmarks": [[x, y], ...]
(468, pixels), "pitch", "yaw", "roll" (degrees), "eyeOpenness": [left, right], ...}]}``;
``{"faces": []}`` when there is none. Left/right are the image's sides. Exit 2 if the image
cannot be read; a missing or corrupt model is a ``ModelError`` (exit 1, message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.config import load_config
from agent.vision.pipeline import FaceAnalysis, FacePipeline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="photo (PNG, JPEG, ...)")
    parser.add_argument("--json", action="store_true", help="print JSON (default: a summary)")
    parser.add_argument("--config", type=Path, default=None,
                        help="agent config (its [vision] settings and models_dir)")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="directory with manifest.json and the .onnx models")
    parser.add_argument("--max-faces", type=int, default=4)


def _r(v: float | None, nd: int = 3) -> float | None:
    return None if v is None else round(float(v), nd)


def face_to_json(face: FaceAnalysis) -> dict[str, Any]:
    obs = face.observation
    return {
        "box": [round(v, 4) for v in obs.box],
        "score": round(obs.face_score, 4),
        "landmarks": np.round(face.landmarks[:, :2], 2).tolist(),
        "pitch": round(obs.pitch, 2), "yaw": round(obs.yaw, 2), "roll": round(obs.roll, 2),
        "eyeOpenness": [_r(v) for v in obs.eye_openness],
        "gazeYaw": round(obs.gaze_yaw, 2), "gazePitch": round(obs.gaze_pitch, 2),
        "gazeConfidence": round(obs.gaze_confidence, 3),
        "mouthOpenness": round(obs.mouth_openness, 3),
        "glassesConfidence": round(obs.glasses_confidence, 3),
        "maskConfidence": round(obs.mask_confidence, 3),
        "iris": [np.round(e.iris[0], 2).tolist() for e in face.eyes],
    }


def run(args: argparse.Namespace) -> int:
    loaded = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if loaded is None:
        print(f"edge-agent: cannot read image {args.image}", file=sys.stderr)
        return 2
    image = np.asarray(loaded, np.uint8)
    pipeline = FacePipeline.from_settings(load_config(args.config).vision,
                                         models_dir=args.models_dir)
    faces = pipeline.analyse_image(image, max_faces=args.max_faces)
    if args.json:
        print(json.dumps({"faces": [face_to_json(f) for f in faces]}))
        return 0
    h, w = image.shape[:2]
    print(f"{args.image}: {w}x{h}, {len(faces)} face(s)")
    for i, face in enumerate(faces):
        o = face.observation
        eyes = ", ".join("n/a" if v is None else f"{v:.2f}" for v in o.eye_openness)
        print(f"  face {i}: box {tuple(round(v, 3) for v in o.box)} score {o.face_score:.2f} "
              f"pitch {o.pitch:+.1f} yaw {o.yaw:+.1f} roll {o.roll:+.1f} eyes [{eyes}] "
              f"mouth {o.mouth_openness:.2f} glasses {o.glasses_confidence:.2f} "
              f"mask {o.mask_confidence:.2f}")
    return 0
