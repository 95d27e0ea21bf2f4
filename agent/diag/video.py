"""``edge-agent diag video FILE [--json]``: driver monitoring over a video file.

Runs the face pipeline and the DMS state machine on every frame of ``FILE`` as fast as it
decodes, on one thread, with frame times taken from the file (frame index / file fps), and
prints:

* once per ``--every`` seconds of video, the monitor's metrics:
  ``{"t", "faceFound", "pitch", "yaw", "roll", "eyeOpenness": [l, r] (normalised by the
  driver's open-eye baseline), "perclos", "blinksPerMin", "closureS", "leftClosureS",
  "rightClosureS", "distracted", ...}``;
* each vision event the agent would raise: ``{"event": {"type": "MICROSLEEP",
  "visionEventType": 2, "t", "since", "durationS", "visionEvent": {...}}}``;
* finally ``{"summary": {"frames", "fps", "wallS", "videoS", "events": {...}, ...}}``, where
  ``fps`` is frames over wall time with decoding included (model loading excluded).

A video carries no vehicle speed: ``--speed-kmh`` (default 50) stands in for it, so the speed
gate (alerts above ~20 km/h) and calibration (above 13 m/s) behave as on the road;
``--calibrate-parked`` samples the neutral pose at any speed and ``--calib-seconds`` shortens
the 60 s calibration for short clips. ``--set KEY=VALUE`` overrides any ``[dms]`` setting.
Without ``--json`` the same information is printed as text.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import ValidationError

from agent.config import load_config
from agent.dms.policy import DmsEvent, DmsMetrics, DmsStateMachine, to_vision_detail
from agent.dms.settings import DmsSettings
from agent.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file (mp4, avi, ...)")
    parser.add_argument("--json", action="store_true", help="JSON lines (default: text)")
    parser.add_argument("--config", type=Path, default=None, help="TOML config ([dms], [vision])")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="directory with manifest.json and the .onnx models")
    parser.add_argument("--speed-kmh", type=float, default=50.0,
                        help="vehicle speed to assume for the whole video (default 50)")
    parser.add_argument("--calibrate-parked", action="store_true",
                        help="learn the neutral pose at any speed")
    parser.add_argument("--calib-seconds", type=float, default=None,
                        help="seconds of samples before the neutral pose counts as calibrated")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a [dms] setting (repeatable), e.g. closed_fraction=0.6")
    parser.add_argument("--every", type=float, default=1.0,
                        help="seconds of video between metrics lines (default 1)")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after N frames")


def _r(v: float | None, nd: int = 3) -> float | None:
    return None if v is None else round(float(v), nd)


def metrics_to_json(m: DmsMetrics) -> dict[str, Any]:
    n = m.neutral
    return {
        "t": round(m.t, 3), "faceFound": m.face_found, "faceScore": round(m.face_score, 3),
        "pitch": round(m.pitch, 2), "yaw": round(m.yaw, 2), "roll": round(m.roll, 2),
        "neutral": {"pitch": round(n.pitch, 2), "yaw": round(n.yaw, 2), "roll": round(n.roll, 2),
                    "calibrated": n.calibrated, "sampledS": round(n.sampled_s, 1)},
        "offRoadPitch": round(m.off_road_pitch, 2), "offRoadYaw": round(m.off_road_yaw, 2),
        "eyeOpenness": [_r(v) for v in m.eye_openness], "eyeState": m.eye_state.name.lower(),
        "perclos": _r(m.perclos), "perclosCoverage": round(m.perclos_coverage, 3),
        "blinksPerMin": _r(m.blinks_per_min, 1), "blinks": m.blinks_total,
        "longBlinks": m.long_blinks_total, "closureS": round(m.closure_s, 3),
        "leftClosureS": round(m.left_closure_s, 3), "rightClosureS": round(m.right_closure_s, 3),
        "distracted": m.distracted, "distractionLevel": round(m.distraction_level, 3),
        "distractedS": round(m.distracted_s, 2), "glanceS": round(m.glance_s, 2),
        "yawningS": round(m.yawning_s, 2), "noFaceS": round(m.no_face_s, 2),
        "cameraBlockedS": round(m.camera_blocked_s, 2),
    }


def event_to_json(e: DmsEvent, fps: float) -> dict[str, Any]:
    return {"event": {
        "type": e.event_type.name, "visionEventType": int(e.event_type), "t": round(e.t, 3),
        "since": round(e.since, 3), "durationS": round(e.duration_s, 3),
        "visionEvent": to_vision_detail(e, fps).to_wire(),
    }}


def dms_settings(args: argparse.Namespace, base: DmsSettings) -> DmsSettings:
    values: dict[str, Any] = base.model_dump()
    if args.calibrate_parked:
        values["calib_when_parked"] = True
    if args.calib_seconds is not None:
        values["calib_min_s"] = args.calib_seconds
        values["calib_max_s"] = max(values["calib_max_s"], args.calib_seconds)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in DmsSettings.model_fields:
            raise ConfigError(f"--set {item}: expected KEY=VALUE with a [dms] key")
        values[key] = value
    try:
        return DmsSettings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"--set: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def run(args: argparse.Namespace) -> int:
    from agent.vision.pipeline import FacePipeline  # the models are only needed here

    cfg = load_config(args.config)
    settings = dms_settings(args, cfg.dms)
    cap = cv2.VideoCapture(str(args.video))
    if not cap.isOpened():
        print(f"edge-agent: cannot open video {args.video}", file=sys.stderr)
        return 2
    vision = cfg.vision.model_copy(update={"intra_op_threads": 1, "opencv_threads": 1})
    pipeline = FacePipeline.from_settings(vision, models_dir=args.models_dir)
    file_fps = float(cap.get(cv2.CAP_PROP_FPS))
    if not (0 < file_fps <= 240):
        file_fps = 30.0
    sm = DmsStateMachine(settings)
    out = _Printer(args.json)
    counts: Counter[str] = Counter()
    frames = faces = 0
    next_report = 0.0
    last: DmsMetrics | None = None
    start = time.perf_counter()
    while not args.max_frames or frames < args.max_frames:
        ok, image = cap.read()
        if not ok or image is None:
            break
        t = frames / file_fps
        obs = pipeline.process(np.asarray(image, np.uint8), t)
        step = sm.step(obs, args.speed_kmh)
        frames += 1
        faces += step.metrics.face_found
        last = step.metrics
        fps_now = frames / max(time.perf_counter() - start, 1e-9)
        for e in step.events:
            counts[e.event_type.name] += 1
            out.event(e, fps_now)
        if t + 1e-9 >= next_report:
            out.metrics(step.metrics)
            next_report += args.every
    wall = time.perf_counter() - start
    cap.release()
    summary: dict[str, Any] = {
        "frames": frames, "fps": round(frames / wall, 1) if wall > 0 else 0.0,
        "wallS": round(wall, 3), "videoS": round(frames / file_fps, 3),
        "fileFps": round(file_fps, 3), "faceFoundRatio": round(faces / frames, 4) if frames else 0,
        "events": dict(counts), "speedKmh": args.speed_kmh,
    }
    if last is not None:
        summary.update(blinks=last.blinks_total, longBlinks=last.long_blinks_total,
                       perclos=_r(last.perclos), calibrated=last.neutral.calibrated)
    out.summary(summary)
    return 0


class _Printer:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def metrics(self, m: DmsMetrics) -> None:
        if self.as_json:
            print(json.dumps(metrics_to_json(m)), flush=True)
            return
        eyes = "/".join("--" if v is None else f"{v:.2f}" for v in m.eye_openness)
        perclos = "--" if m.perclos is None else f"{m.perclos:.3f}"
        bpm = "--" if m.blinks_per_min is None else f"{m.blinks_per_min:.0f}"
        print(f"{m.t:7.2f}s face={'Y' if m.face_found else 'n'} pitch {m.pitch:+6.1f} "
              f"yaw {m.yaw:+6.1f} roll {m.roll:+6.1f} eyes {eyes} perclos {perclos} "
              f"blinks/min {bpm} closure {m.closure_s:.2f}s "
              f"{'DISTRACTED' if m.distracted else ''}", flush=True)

    def event(self, e: DmsEvent, fps: float) -> None:
        if self.as_json:
            print(json.dumps(event_to_json(e, fps)), flush=True)
        else:
            print(f"{e.t:7.2f}s EVENT {e.event_type.name} ({int(e.event_type)}) since "
                  f"{e.since:.2f}s", flush=True)

    def summary(self, s: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps({"summary": s}), flush=True)
        else:
            print(f"{s['frames']} frames in {s['wallS']} s: {s['fps']} fps (decode included, "
                  f"one thread); events {s['events'] or 'none'}", flush=True)
