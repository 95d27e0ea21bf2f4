"""Face-pipeline fixtures: the real ONNX models and real photos (scikit-image's bundled data).

The models are built by scripts/bootstrap (scripts/fetch_models). If they are missing the
tests FAIL with the command to run: a vision suite that silently skips proves nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.errors import ModelError
from agent.vision.pipeline import FacePipeline
from agent.vision.settings import VisionSettings

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"

# Where the face is in skimage.data.astronaut() (512x512): checked by eye on the annotated
# snapshot, and independently by BlazeFace's keypoints in test_detector.
ASTRONAUT_FACE_CENTRE = (224.0, 122.0)

PipelineFactory = Callable[..., FacePipeline]  # VisionSettings overrides -> a fresh pipeline


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not (MODELS / "manifest.json").is_file():
        pytest.fail(f"{MODELS}/manifest.json missing: the repository checkout is incomplete")
    missing = [p.name for p in (MODELS / n for n in (
        "face_detection_short_range.onnx", "face_landmark.onnx", "iris_landmark.onnx"))
        if not p.is_file()]
    if missing:
        pytest.fail(f"face models not built ({', '.join(missing)} missing in {MODELS}); run "
                    "scripts/bootstrap or .venv/bin/python scripts/fetch_models")
    return MODELS


@pytest.fixture(scope="session")
def pipeline_factory(models_dir: Path) -> PipelineFactory:
    def make(**overrides: object) -> FacePipeline:
        try:
            return FacePipeline.from_settings(VisionSettings(**overrides), models_dir=models_dir)
        except ModelError as exc:
            pytest.fail(f"face models unusable: {exc}; run .venv/bin/python scripts/fetch_models")
    return make


@pytest.fixture(scope="session")
def pipeline(pipeline_factory: PipelineFactory) -> FacePipeline:
    """A shared pipeline for still-image tests (``analyse_image`` keeps no state)."""
    return pipeline_factory()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage.data import astronaut

    return _bgr(astronaut())


@pytest.fixture(scope="session")
def rocket() -> np.ndarray:
    from skimage.data import rocket

    return _bgr(rocket())


@pytest.fixture(scope="session")
def cat() -> np.ndarray:
    from skimage.data import chelsea

    return _bgr(chelsea())
