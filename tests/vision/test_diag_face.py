"""``edge-agent diag face`` and ``diag snapshot`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.cli import main


def _write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def test_diag_face_json_on_the_astronaut(models_dir: Path, astronaut: np.ndarray,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    img = _write(tmp_path / "astronaut.png", astronaut)
    assert main(["diag", "face", str(img), "--json", "--models-dir", str(models_dir)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["faces"]) == 1
    face = out["faces"][0]
    x, y, w, h = face["box"]
    assert 0 < x < 224 / 512 < x + w < 1 and 0 < y < 122 / 512 < y + h < 1
    assert 0.9 < face["score"] <= 1.0
    assert len(face["landmarks"]) == 468 and all(len(p) == 2 for p in face["landmarks"])
    nose = face["landmarks"][1]
    assert x * 512 < nose[0] < (x + w) * 512  # pixels, inside the normalised box
    for key in ("pitch", "yaw", "roll"):
        assert -90 < face[key] < 90
    left, right = face["eyeOpenness"]
    assert 0.2 < left < 0.6 and 0.2 < right < 0.6


def test_diag_face_json_without_a_face(models_dir: Path, rocket: np.ndarray, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    img = _write(tmp_path / "rocket.jpg", rocket)
    assert main(["diag", "face", str(img), "--json", "--models-dir", str(models_dir)]) == 0
    assert json.loads(capsys.readouterr().out) == {"faces": []}


def test_diag_face_unreadable_image_exits_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    assert main(["diag", "face", str(bad)]) == 2
    assert "cannot read image" in capsys.readouterr().err


def test_diag_face_missing_models_is_a_model_error(tmp_path: Path, astronaut: np.ndarray,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    img = _write(tmp_path / "a.png", astronaut)
    assert main(["diag", "face", str(img), "--models-dir", str(tmp_path / "none")]) == 1
    assert "manifest" in capsys.readouterr().err


def test_diag_snapshot_draws_on_the_face(models_dir: Path, astronaut: np.ndarray,
                                         tmp_path: Path) -> None:
    img = _write(tmp_path / "astronaut.png", astronaut)
    out = tmp_path / "snap.png"
    assert main(["diag", "snapshot", str(img), "-o", str(out),
                 "--models-dir", str(models_dir)]) == 0
    drawn = cv2.imread(str(out))
    assert drawn.shape == astronaut.shape
    changed = np.any(drawn != astronaut, axis=2)
    # Annotations concentrate on the face (box, landmarks, axes), not elsewhere.
    face = changed[70:180, 170:280].mean()
    far = changed[400:, :150].mean()
    assert face > 0.2 and far < 0.01


def test_diag_snapshot_of_a_video_frame(models_dir: Path, astronaut: np.ndarray,
                                        tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30, (512, 512))
    for i in range(8):
        m = np.float32([[1, 0, 2 * i], [0, 1, 0]])
        writer.write(cv2.warpAffine(astronaut, m, (512, 512), borderMode=cv2.BORDER_REPLICATE))
    writer.release()
    out = tmp_path / "snap.png"
    assert main(["diag", "snapshot", str(video), "-o", str(out), "--frame", "5",
                 "--models-dir", str(models_dir)]) == 0
    assert cv2.imread(str(out)).shape == (512, 512, 3)


def test_diag_face_takes_models_dir_from_the_agent_config(
        models_dir: Path, astronaut: np.ndarray, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    img = _write(tmp_path / "a.png", astronaut)
    config = tmp_path / "agent.toml"
    config.write_text(f'[vision]\nmodels_dir = "{models_dir}"\n')
    assert main(["diag", "face", str(img), "--json", "--config", str(config)]) == 0
    assert len(json.loads(capsys.readouterr().out)["faces"]) == 1
    config.write_text(f'[vision]\nmodels_dir = "{tmp_path / "elsewhere"}"\n')
    assert main(["diag", "face", str(img), "--config", str(config)]) == 1
    assert "manifest" in capsys.readouterr().err
