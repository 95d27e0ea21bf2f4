"""Camera and model settings (the ``[vision]`` section)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict


class VisionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    models_dir: Path = Path("models")
    driver_camera: str = ""  # V4L2 device, RTSP URL or video file; "" = none
    road_camera: str = ""
    backend: Literal["opencv", "none"] = "opencv"
