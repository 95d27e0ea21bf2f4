"""Camera and model settings (the ``[vision]`` section).

Every duration, rate and size has both bounds (a ring of hours or an evidence clip longer than
the seed's 3-minute video maximum cannot be stored; a frame rate above 120/s no camera gives).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EvidenceSettings(BaseModel):
    """``[vision.evidence]``: ring buffer bounds and evidence shape (agent/vision/evidence.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ring_seconds: float = Field(190.0, ge=10, le=3600)  # >= the 180 s demand.video maximum + margin
    ring_fps: float = Field(10.0, gt=0, le=30)  # frames kept per second per camera
    # per camera, hard bound
    ring_max_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024, le=4 * 1024**3)
    jpeg_quality: int = Field(80, ge=30, le=100)
    clip_before_s: float = Field(5.0, ge=0, le=180)  # JC400-class: 5 s before ...
    clip_after_s: float = Field(5.0, ge=0, le=180)  # ... and 5 s after the event
    snapshot_max_distance_s: float = Field(1.0, gt=0, le=60)  # nearest frame must be this close
    thumbnail_max_px: int = Field(320, ge=32, le=4096)  # CONTRACT §2: longest side <= 320 px
    face_crop_margin: float = Field(0.25, ge=0, le=1)  # of the box size, each side
    max_video_s: float = Field(180.0, gt=0, le=180)  # seed: "Maximum video duration is 3 minutes"
    wait_grace_s: float = Field(2.0, ge=0, le=60)  # extra wait for late frames before cutting
    # Telemetry alarms that carry the cameras' images and clip (agent/vision/alarm_evidence.py),
    # by TelemetryEventType name; () = none.
    telemetry_alarms: tuple[str, ...] = (
        "HARSH_ACCELERATION", "HARSH_BRAKING", "HARSH_CORNERING", "COLLISION", "SOS",
        "SPEEDING_STARTED",
    )

    @field_validator("telemetry_alarms")
    @classmethod
    def _known_types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from agent.events import TelemetryEventType

        unknown = [name for name in v if name not in TelemetryEventType.__members__]
        if unknown:
            raise ValueError(f"unknown telemetry event type(s): {', '.join(unknown)}")
        return v


class VisionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = False
    models_dir: Path = Path("models")
    driver_camera: str = ""  # V4L2 device, RTSP URL or video file; "" = none
    road_camera: str = ""
    camera_loop: bool = False  # video-file cameras start again at the end (demo driver)
    max_fps: float = Field(0.0, ge=0, le=120)  # cap on processed frames/s; 0 = camera rate
    backend: Literal["opencv", "none"] = "opencv"
    # Automatic driver recognition (the Management API's "S"/"N", order automaticrecognition):
    # kept and reported; no recognition model ships yet, so it changes no behaviour today.
    automaticrecognition: bool = False

    # Face pipeline (agent/vision/pipeline.py). Defaults are the measured best on one core
    # (docs/vision.md, "Benchmark").
    intra_op_threads: int = Field(1, ge=1, le=8)  # onnxruntime threads per model
    opencv_threads: int = Field(1, ge=0, le=8)  # cv2.setNumThreads; 0 = OpenCV's default
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    track: bool = True  # next face ROI from the previous landmarks; detect only when lost
    iris_batched: bool = True  # both eyes in one iris-model run
    io_binding: bool = True  # preallocated onnxruntime inputs/outputs
    detect_min_score: float = Field(0.5, gt=0, lt=1)  # BlazeFace score to accept a face
    mesh_min_presence: float = Field(0.5, gt=0, lt=1)  # FaceMesh face flag; below = face lost
    camera_hfov_deg: float = Field(60.0, gt=10, lt=170)  # for solvePnP's focal length
    evidence: EvidenceSettings = EvidenceSettings()
