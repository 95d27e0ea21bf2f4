"""Camera and model settings (the ``[vision]`` section)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class VisionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    models_dir: Path = Path("models")
    driver_camera: str = ""  # V4L2 device, RTSP URL or video file; "" = none
    road_camera: str = ""
    backend: Literal["opencv", "none"] = "opencv"

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
