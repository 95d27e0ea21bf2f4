"""``edge-agent diag snapshot IMAGE_OR_VIDEO -o out.png``: an annotated picture of the driver.

Box, 468 landmarks, eye contours and irises, head-pose axes (red: image right, green: up the
face, blue: out of the face) and the read-outs, to check the camera mount at a glance. For a
video, the pipeline tracks through the first ``--frame`` frames and draws that one (tracking
quality, as the agent sees it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from agent.config import load_config
from agent.vision.annotate import annotate
from agent.vision.arrays import U8
from agent.vision.pipeline import FaceAnalysis, FacePipeline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="image or video file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    parser.add_argument("--frame", type=int, default=30,
                        help="video only: frame index to draw (default 30)")
    parser.add_argument("--config", type=Path, default=None,
                        help="agent config (its [vision] settings and models_dir)")
    parser.add_argument("--models-dir", type=Path, default=None)


def _video_frame(path: Path, index: int, pipeline: FacePipeline
                 ) -> tuple[U8, FaceAnalysis | None] | None:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        frame: U8 | None = None
        analysis = None
        for i in range(index + 1):
            ok, img = cap.read()
            if not ok:
                break
            frame = np.asarray(img, np.uint8)
            analysis = pipeline.analyse(frame, i / fps)
        return None if frame is None else (frame, analysis)
    finally:
        cap.release()


def run(args: argparse.Namespace) -> int:
    pipeline = FacePipeline.from_settings(load_config(args.config).vision,
                                         models_dir=args.models_dir)
    image = cv2.imread(str(args.source), cv2.IMREAD_COLOR)
    if image is not None:
        frame: U8 = np.asarray(image, np.uint8)
        faces = pipeline.analyse_image(frame)
    else:
        got = _video_frame(args.source, max(0, args.frame), pipeline)
        if got is None:
            print(f"edge-agent: cannot read {args.source} as an image or a video",
                  file=sys.stderr)
            return 2
        frame, analysis = got
        faces = [analysis] if analysis is not None else []
    out = annotate(frame, faces, pipeline.camera_for(frame))
    if not cv2.imwrite(str(args.output), out):
        print(f"edge-agent: cannot write {args.output}", file=sys.stderr)
        return 2
    print(f"{args.output}: {len(faces)} face(s) annotated")
    return 0
