"""Shared fixtures. Area fixtures live in the conftest of each tests/<package>/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
# The stand-in cloud lives under scripts/ (it is a tool, not part of the agent package).
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found next to the repo at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def shut_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The known-truth driver video (tests/diag/eyes_shut_video.py): a real face, eyes shut
    on cue (five blinks from 10 s, a 2 s microsleep at 26 s, a slow PERCLOS rise from 32 s)."""
    from agent.vision.pipeline import FacePipeline
    from agent.vision.settings import VisionSettings
    from tests.diag.eyes_shut_video import make_source, make_variant

    d = tmp_path_factory.mktemp("known_truth")
    source = make_source(d / "face.mp4")
    pipeline = FacePipeline.from_settings(VisionSettings(), models_dir=REPO / "models")
    return make_variant(source, d / "eyes_shut.mp4", pipeline)
