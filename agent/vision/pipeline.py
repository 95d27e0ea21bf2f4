"""The face pipeline: one BGR frame in, one :class:`FaceObservation` out.

Per frame (MediaPipe's face-mesh tracking scheme):

1. if no face is being tracked: BlazeFace on the whole frame, keep the largest face, ROI from
   its box and eye keypoints; otherwise the ROI comes from the previous frame's landmarks;
2. FaceMesh (468 points) on the rotated 192x192 crop; its face flag below
   ``mesh_min_presence`` means the face is lost (detect again on the next frame);
3. Iris on both eyes (one batched run): eye contour -> eye openness, iris -> gaze;
4. head pose (solvePnP), mouth openness, glasses/mask hints, frame luma.

Not thread-safe: one instance per camera, called from that camera's worker thread (the
sessions run on the calling thread). Blocking: call it through an executor from asyncio.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from agent.dms.observation import FaceObservation
from agent.vision.arrays import F64, U8
from agent.vision.detector import Detection, FaceDetector
from agent.vision.geometry import Roi, roi_from_box
from agent.vision.landmarks import (
    MESH_ROI_SCALE,
    EyeResult,
    FaceMesh,
    IrisModel,
    MeshResult,
    eye_rois,
    mesh_roi_from_landmarks,
)
from agent.vision.measures import (
    eye_openness,
    frame_luma,
    gaze,
    glasses_confidence,
    mask_confidence,
    mouth_openness,
)
from agent.vision.models import ModelSet, SessionConfig, resolve_models_dir
from agent.vision.pose import HeadPose, camera_matrix, head_pose
from agent.vision.settings import VisionSettings


def as_bgr(frame: npt.NDArray[np.uint8]) -> U8:
    """3-channel BGR view of a camera frame; IR cameras often deliver one gray channel."""
    if frame.ndim == 2:
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), np.uint8)
    if frame.shape[2] == 4:
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR), np.uint8)
    return frame


@dataclass(frozen=True, slots=True)
class FaceAnalysis:
    """Everything measured on one face in one frame (diag, snapshot, tests)."""

    observation: FaceObservation
    landmarks: F64  # (468, 3) frame pixels
    eyes: tuple[EyeResult, EyeResult]  # image-left eye, image-right eye
    pose: HeadPose | None
    roi: Roi
    detected: bool  # this frame ran the detector (False: tracked from the previous frame)


@dataclass(slots=True)
class StageTimes:
    """Wall-clock milliseconds of the last frame's stages (for the benchmark)."""

    detect: float = 0.0
    mesh: float = 0.0
    iris: float = 0.0
    pose: float = 0.0
    measures: float = 0.0
    detections: int = 0  # detector runs since the pipeline was built


@dataclass(slots=True)
class _Track:
    roi: Roi | None = None


@dataclass(slots=True)
class PipelineOptions:
    track: bool = True
    iris_batched: bool = True
    detect_min_score: float = 0.5
    mesh_min_presence: float = 0.5
    camera_hfov_deg: float = 60.0
    session: SessionConfig = field(default_factory=SessionConfig)


class FacePipeline:
    """Driver face pipeline on ONNX Runtime. Build with :meth:`from_settings`."""

    def __init__(self, models: ModelSet, options: PipelineOptions) -> None:
        self._opts = options
        self._detector = FaceDetector(models.detector, options.detect_min_score)
        self._mesh = FaceMesh(models.mesh)
        self._iris = IrisModel(models.iris, models.iris_batch)
        self._track = _Track()
        self._camera: F64 | None = None
        self._camera_size: tuple[int, int] = (0, 0)
        self.times = StageTimes()

    @classmethod
    def from_settings(cls, settings: VisionSettings, models_dir: Path | None = None,
                      verify: bool = True) -> FacePipeline:
        """Load the models (``ModelError`` if missing/corrupt) and apply the thread settings.

        ``models_dir`` overrides ``settings.models_dir`` (which is relative to the working
        directory when not absolute).
        """
        if settings.opencv_threads:
            cv2.setNumThreads(settings.opencv_threads)
        session = SessionConfig(intra_op_threads=settings.intra_op_threads,
                                graph_optimization=settings.graph_optimization,
                                io_binding=settings.io_binding)
        options = PipelineOptions(track=settings.track, iris_batched=settings.iris_batched,
                                  detect_min_score=settings.detect_min_score,
                                  mesh_min_presence=settings.mesh_min_presence,
                                  camera_hfov_deg=settings.camera_hfov_deg, session=session)
        models = ModelSet.load(resolve_models_dir(models_dir or settings.models_dir), session,
                               iris_batch=2 if settings.iris_batched else 1, verify=verify)
        return cls(models, options)

    def reset(self) -> None:
        """Forget the tracked face (e.g. after a camera switch or a gap in frames)."""
        self._track.roi = None

    def process(self, frame_bgr: U8, t: float) -> FaceObservation:
        """One video frame (BGR, gray or BGRA uint8) -> one observation (tracks across calls)."""
        frame_bgr = as_bgr(frame_bgr)
        analysis = self.analyse(frame_bgr, t)
        if analysis is None:
            brightness, contrast = frame_luma(frame_bgr)
            return FaceObservation(t=t, face_found=False, frame_brightness=brightness,
                                   frame_contrast=contrast)
        return analysis.observation

    def analyse(self, frame_bgr: U8, t: float) -> FaceAnalysis | None:
        """Like :meth:`process` but with landmarks, eyes and pose; None when no face."""
        frame_bgr = as_bgr(frame_bgr)
        roi = self._track.roi if self._opts.track else None
        detected = roi is None
        if roi is None:
            t0 = time.perf_counter()
            faces = self._detector.detect(frame_bgr)
            self.times.detect = (time.perf_counter() - t0) * 1e3
            self.times.detections += 1
            if not faces:
                self._track.roi = None
                return None
            roi = self._roi_from_detection(faces[0])
        else:
            self.times.detect = 0.0
        result = self._analyse_roi(frame_bgr, roi, t, detected)
        if result is None and not detected:
            # Lost while tracking (a fast move, a hand): detect again on this same frame
            # rather than losing a whole frame.
            self._track.roi = None
            return self.analyse(frame_bgr, t)
        self._track.roi = (mesh_roi_from_landmarks(result.landmarks)
                           if result is not None else None)
        return result

    def analyse_image(self, image_bgr: U8, max_faces: int = 4) -> list[FaceAnalysis]:
        """A still image: every detected face (largest first), each refined once.

        The mesh runs on the detector's ROI, then again on the ROI from its own landmarks
        (what the second frame of a video would do), so a still gets tracking-quality points.
        """
        out = []
        image_bgr = as_bgr(image_bgr)
        for det in self._detector.detect(image_bgr)[:max_faces]:
            first = self._analyse_roi(image_bgr, self._roi_from_detection(det), 0.0, True)
            if first is None:
                continue
            refined = self._analyse_roi(image_bgr, mesh_roi_from_landmarks(first.landmarks),
                                        0.0, True)
            out.append(refined if refined is not None else first)
        return out

    def detect(self, frame_bgr: U8) -> list[Detection]:
        """BlazeFace alone on a whole frame: every face above the score, largest first."""
        return self._detector.detect(frame_bgr)

    @staticmethod
    def _roi_from_detection(det: Detection) -> Roi:
        return roi_from_box(det.box, det.keypoints[0], det.keypoints[1], MESH_ROI_SCALE)

    def camera_for(self, frame: U8) -> F64:
        """The pinhole camera matrix used for head pose on frames of this size."""
        h, w = frame.shape[:2]
        if self._camera is None or self._camera_size != (w, h):
            self._camera = camera_matrix(w, h, self._opts.camera_hfov_deg)
            self._camera_size = (w, h)
        return self._camera

    def _analyse_roi(self, frame: U8, roi: Roi, t: float, detected: bool) -> FaceAnalysis | None:
        times = self.times
        t0 = time.perf_counter()
        mesh: MeshResult = self._mesh.run(frame, roi)
        t1 = time.perf_counter()
        times.mesh = (t1 - t0) * 1e3
        if mesh.presence < self._opts.mesh_min_presence:
            times.iris = times.pose = times.measures = 0.0
            return None
        pts = mesh.points
        eyes = self._iris.run(frame, eye_rois(pts))
        t2 = time.perf_counter()
        times.iris = (t2 - t1) * 1e3
        pose = head_pose(pts, self.camera_for(frame))
        t3 = time.perf_counter()
        times.pose = (t3 - t2) * 1e3
        openness = (eye_openness(eyes[0]), eye_openness(eyes[1]))
        gaze_yaw, gaze_pitch, gaze_conf = gaze(eyes, openness)
        h, w = frame.shape[:2]
        lo = np.clip(pts[:, :2].min(axis=0) / (w, h), 0.0, 1.0)
        hi = np.clip(pts[:, :2].max(axis=0) / (w, h), 0.0, 1.0)
        brightness, contrast = frame_luma(frame)
        obs = FaceObservation(
            t=t, face_found=True, face_score=mesh.presence,
            box=(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])),
            pitch=pose.pitch if pose else 0.0, yaw=pose.yaw if pose else 0.0,
            roll=pose.roll if pose else 0.0, eye_openness=openness,
            gaze_yaw=gaze_yaw, gaze_pitch=gaze_pitch, gaze_confidence=gaze_conf,
            mouth_openness=mouth_openness(pts),
            glasses_confidence=glasses_confidence(mesh.crop, mesh.crop_points),
            mask_confidence=mask_confidence(mesh.crop, mesh.crop_points),
            frame_brightness=brightness, frame_contrast=contrast)
        times.measures = (time.perf_counter() - t3) * 1e3
        return FaceAnalysis(observation=obs, landmarks=pts, eyes=eyes, pose=pose, roi=roi,
                            detected=detected)
