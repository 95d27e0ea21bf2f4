"""The face pipeline on real photos: where the face is, landmark topology, pose conventions,
non-faces, tracking across frames, and "no face" never reading as closed eyes."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from agent.dms.observation import FaceObservation
from agent.vision.pipeline import FaceAnalysis, FacePipeline
from tests.vision.conftest import ASTRONAUT_FACE_CENTRE, PipelineFactory


def _one_face(pipeline: FacePipeline, image: np.ndarray) -> FaceAnalysis:
    faces = pipeline.analyse_image(image)
    assert len(faces) == 1
    return faces[0]


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the image centre (the principal point): exactly a camera roll."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)  # + = counter-clockwise
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def test_astronaut_face_box_and_score(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    obs = _one_face(pipeline, astronaut).observation
    x, y, w, h = obs.box
    cx, cy = ASTRONAUT_FACE_CENTRE
    assert x * 512 < cx < (x + w) * 512 and y * 512 < cy < (y + h) * 512
    assert 0.12 < w < 0.3 and 0.12 < h < 0.3  # a ~100 px face in a 512 px photo
    assert obs.face_found and obs.face_score > 0.9


def test_landmarks_sit_on_eyes_nose_and_mouth(pipeline: FacePipeline,
                                              astronaut: np.ndarray) -> None:
    face = _one_face(pipeline, astronaut)
    pts = face.landmarks[:, :2]
    assert face.landmarks.shape == (468, 3)
    # Cross-check against BlazeFace's own keypoints (a separate model): eyes, nose, mouth.
    det = pipeline.detect(astronaut)[0]
    kp = det.keypoints
    face_w = float(np.linalg.norm(pts[234] - pts[454]))  # cheek to cheek
    tol = 0.12 * face_w
    left_eye = pts[[33, 133, 159, 145]].mean(axis=0)
    right_eye = pts[[362, 263, 386, 374]].mean(axis=0)
    assert np.linalg.norm(left_eye - kp[0]) < tol
    assert np.linalg.norm(right_eye - kp[1]) < tol
    assert np.linalg.norm(pts[1] - kp[2]) < tol  # nose tip
    assert np.linalg.norm(pts[[13, 14]].mean(axis=0) - kp[3]) < tol  # mouth centre
    # Topology: image-left eye left of the image-right eye; forehead > eyes > nose > mouth > chin
    assert pts[33, 0] < pts[133, 0] < pts[362, 0] < pts[263, 0]
    assert pts[10, 1] < left_eye[1] < pts[1, 1] < pts[13, 1] < pts[14, 1] < pts[152, 1]
    assert pts[61, 0] < pts[13, 0] < pts[291, 0]
    # The iris model's irises sit inside each eye's corners.
    for eye, (a, b) in zip(face.eyes, ((33, 133), (362, 263)), strict=True):
        assert pts[a, 0] < eye.iris[0, 0] < pts[b, 0]


def test_roll_follows_an_in_plane_rotation(pipeline: FacePipeline,
                                           astronaut: np.ndarray) -> None:
    base = _one_face(pipeline, astronaut).observation
    for angle in (15.0, -15.0):
        obs = _one_face(pipeline, _rotate(astronaut, angle)).observation
        assert obs.roll - base.roll == pytest.approx(angle, abs=3.0)
        # Pitch/yaw stay put up to landmark noise (resampled pixels move the PnP fit a bit).
        assert abs(obs.yaw - base.yaw) < 5.0 and abs(obs.pitch - base.pitch) < 5.0


def test_yaw_changes_sign_on_a_mirrored_copy(pipeline: FacePipeline,
                                             astronaut: np.ndarray) -> None:
    base = _one_face(pipeline, astronaut).observation
    mirrored = _one_face(pipeline, cv2.flip(astronaut, 1)).observation
    assert abs(base.yaw) > 2.0  # the face sits left of the optical axis: not a zero yaw
    assert math.copysign(1, base.yaw) != math.copysign(1, mirrored.yaw)
    assert base.yaw + mirrored.yaw == pytest.approx(0.0, abs=3.0)
    assert mirrored.roll == pytest.approx(-base.roll, abs=3.0)
    assert mirrored.pitch == pytest.approx(base.pitch, abs=5.0)
    assert base.gaze_yaw + mirrored.gaze_yaw == pytest.approx(0.0, abs=4.0)


@pytest.mark.parametrize("name", ["rocket", "cat"])
def test_non_faces_give_no_face(pipeline_factory: PipelineFactory,
                                request: pytest.FixtureRequest, name: str) -> None:
    image = request.getfixturevalue(name)
    fresh: FacePipeline = pipeline_factory()
    assert fresh.analyse_image(image) == []
    obs = fresh.process(image, 12.5)
    assert isinstance(obs, FaceObservation)
    assert not obs.face_found and obs.t == 12.5
    assert obs.eye_openness == (None, None)  # never "closed" when nothing was measured
    assert obs.frame_brightness > 0 and obs.frame_contrast > 0


def test_blank_frame_reports_dark_flat_luma_and_unknown_eyes(
        pipeline_factory: PipelineFactory) -> None:
    obs = pipeline_factory().process(np.zeros((480, 640, 3), np.uint8), 1.0)
    assert not obs.face_found and obs.eye_openness == (None, None)
    assert obs.frame_brightness == 0.0 and obs.frame_contrast == 0.0


def _frames(astronaut: np.ndarray, n: int) -> list[np.ndarray]:
    """A 640x480 camera view of the face drifting and turning a little (like the bench video)."""
    out = []
    for i in range(n):
        m = cv2.getRotationMatrix2D(ASTRONAUT_FACE_CENTRE, 6.0 * math.sin(i / 5), 1.3)
        m[:, 2] += (320 - ASTRONAUT_FACE_CENTRE[0] + 3 * i, 240 - ASTRONAUT_FACE_CENTRE[1])
        out.append(cv2.warpAffine(astronaut, m, (640, 480), borderMode=cv2.BORDER_REPLICATE))
    return out


def test_video_tracks_after_one_detection(pipeline_factory: PipelineFactory,
                                          astronaut: np.ndarray) -> None:
    p: FacePipeline = pipeline_factory()
    frames = _frames(astronaut, 12)
    analyses = [p.analyse(f, i / 30) for i, f in enumerate(frames)]
    assert all(a is not None for a in analyses)
    assert p.times.detections == 1  # BlazeFace ran on the first frame only
    assert [a.detected for a in analyses if a] == [True] + [False] * 11
    # Tracked landmarks follow the face: the nose moves 3 px right per frame.
    noses = np.array([a.landmarks[1, 0] for a in analyses if a])
    assert np.diff(noses).mean() == pytest.approx(3.0, abs=1.5)
    # A frame without the face: lost, then found again by a new detection.
    assert p.process(np.zeros((480, 640, 3), np.uint8), 1.0).face_found is False
    assert p.process(frames[0], 1.1).face_found is True
    # The black frame: tracking fails, the detector retries at once on that frame, finds
    # nothing; the next frame detects again.
    assert p.times.detections == 3


def test_tracking_off_detects_every_frame_with_the_same_result(
        pipeline_factory: PipelineFactory, astronaut: np.ndarray) -> None:
    tracked: FacePipeline = pipeline_factory()
    redetect: FacePipeline = pipeline_factory(track=False)
    frames = _frames(astronaut, 6)
    a = [tracked.process(f, i) for i, f in enumerate(frames)]
    b = [redetect.process(f, i) for i, f in enumerate(frames)]
    assert redetect.times.detections == 6 and tracked.times.detections == 1
    for x, y in zip(a, b, strict=True):
        assert x.face_found and y.face_found
        assert abs(x.yaw - y.yaw) < 4 and abs(x.roll - y.roll) < 4


def test_iris_batched_and_two_runs_agree(pipeline_factory: PipelineFactory,
                                         astronaut: np.ndarray) -> None:
    one = _one_face(pipeline_factory(iris_batched=True), astronaut)
    two = _one_face(pipeline_factory(iris_batched=False, io_binding=False), astronaut)
    for e1, e2 in zip(one.eyes, two.eyes, strict=True):
        assert np.allclose(e1.contour, e2.contour, atol=1e-3)
        assert np.allclose(e1.iris, e2.iris, atol=1e-3)


def test_gray_infrared_style_frames_work(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)  # IR driver cameras are monochrome
    face = _one_face(pipeline, gray)
    colour = _one_face(pipeline, astronaut)
    assert np.abs(face.landmarks[:, :2] - colour.landmarks[:, :2]).mean() < 3.0
    left, right = face.observation.eye_openness
    assert left is not None and right is not None and left > 0.2 and right > 0.2


def _load_video_maker(shared_dir: Path) -> ModuleType:
    path = shared_dir / "bench" / "make_face_video.py"
    spec = importlib.util.spec_from_file_location("make_face_video", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_roll_tracks_the_known_head_motion_of_the_bench_video(
        pipeline_factory: PipelineFactory, astronaut: np.ndarray, shared_dir: Path) -> None:
    """The benchmark video's frames, made in memory with its own generator: its in-plane
    rotation is known per frame, so tracked roll can be checked frame by frame."""
    mfv = _load_video_maker(shared_dir)
    rng = np.random.default_rng(mfv.SEED)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=4)
    freqs = rng.uniform(0.05, 0.25, size=4)
    mirrored = mfv.mirrored_frames(rng, mfv.FPS * mfv.SECONDS)
    base = np.vstack([mfv.base_matrix(), [0.0, 0.0, 1.0]])
    p = pipeline_factory()
    truth, roll, eyes = [], [], []
    for i in range(0, mfv.FPS * mfv.SECONDS, 3):
        t = i / mfv.FPS
        m = (mfv.motion_matrix(t, phases, freqs) @ base)[:2]
        frame = cv2.warpAffine(astronaut, m, (640, 480), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        obs = p.process(cv2.flip(frame, 1) if i in mirrored else frame, t)
        assert obs.face_found
        eyes.extend(obs.eye_openness)
        if i not in mirrored:
            truth.append(10.0 * math.sin(2.0 * math.pi * freqs[2] * t + phases[2]))
            roll.append(obs.roll)
    err = np.array(roll) - np.array(truth)
    err -= np.median(err)  # the face's own tilt in the photo
    assert float(np.sqrt(np.mean(err**2))) < 2.0  # measured 0.6 degrees RMS
    assert float(np.percentile(np.abs(err), 95)) < 3.0
    assert all(e is not None and 0.25 < e < 0.5 for e in eyes)  # open all along
    assert p.times.detections <= 3  # tracked through the motion (and the mirrored runs)
