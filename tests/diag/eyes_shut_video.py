"""A known-truth driver video: the bench's real-face video with the eyes painted shut on cue.

``/work/shared/bench/make_face_video.py`` renders a real face (scikit-image's astronaut photo)
moving slowly for 20 s at 30 fps. :func:`make_variant` replays it at 15 fps for 80 s (source
frame ``2j mod 600``) and, on the frames where :data:`SCHEDULE` says the eyes are shut, finds
both eyes with the face pipeline on the source frame, inpaints each eye (lid contour, dilated)
from the skin around it and draws the closed lid line along the lower lid.

Schedule (seconds of the variant; the frame grid is 1/15 s):

* 10, 13, 16, 19, 22 s: five 200 ms blinks (3 frames each);
* 26-28 s: a 2 s microsleep;
* from 32 s every 3 s: closures growing from 0.4 s to 1.2 s (a slow PERCLOS rise).

Usage: ``python -m tests.diag.eyes_shut_video SOURCE.mp4 OUT.mp4``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from agent.vision.pipeline import FacePipeline

FPS = 15.0
DURATION_S = 80.0
SOURCE_FPS = 30.0
SOURCE_FRAMES = 600
BENCH_SCRIPT = Path(__file__).resolve().parents[3] / "shared" / "bench" / "make_face_video.py"


def _schedule() -> tuple[tuple[float, float], ...]:
    out = [(10.0 + 3 * k, 0.2) for k in range(5)]
    out.append((26.0, 2.0))
    out += [(32.0 + 3 * k, 0.4 + 0.8 * k / 15) for k in range(16)]
    return tuple(out)


SCHEDULE = _schedule()  # (start s, duration s) of each closure


def frame_time(j: int) -> float:
    return j / FPS


def n_frames() -> int:
    return round(DURATION_S * FPS)


def closed_frames() -> set[int]:
    """Variant frame numbers with the eyes shut."""
    out: set[int] = set()
    for start, dur in SCHEDULE:
        j0 = round(start * FPS)
        out.update(range(j0, j0 + round(dur * FPS)))
    return out


@dataclass(frozen=True, slots=True)
class TruthClosure:
    start: float  # first shut frame
    end: float  # first open frame after it

    @property
    def duration_s(self) -> float:
        return self.end - self.start


def truth_closures() -> list[TruthClosure]:
    shut = closed_frames()
    out: list[TruthClosure] = []
    j = 0
    while j < n_frames():
        if j in shut:
            k = j
            while k in shut:
                k += 1
            out.append(TruthClosure(frame_time(j), frame_time(k)))
            j = k
        else:
            j += 1
    return out


def truth_perclos(t: float, valid_from: float, window_s: float = 60.0) -> float:
    """Shut frames / frames with a valid eye measurement in the window ending at ``t``."""
    shut = closed_frames()
    frames = [j for j in range(n_frames())
              if max(valid_from, t - window_s) < frame_time(j) <= t + 1e-9]
    return sum(j in shut for j in frames) / len(frames)


def make_source(out: Path) -> Path:
    """Runs the bench script (deterministic: seeded) into ``out``."""
    subprocess.run([sys.executable, str(BENCH_SCRIPT), str(out)], check=True,
                   capture_output=True)
    return out


def paint_eyes_shut(frame: np.ndarray, pipeline: FacePipeline) -> np.ndarray:
    faces = pipeline.analyse_image(frame, max_faces=1)
    if not faces:
        raise RuntimeError("no face in a source frame: cannot find the eyes")
    eyes = faces[0].eyes
    mask = np.zeros(frame.shape[:2], np.uint8)
    for eye in eyes:
        cv2.fillPoly(mask, [eye.contour[:16].round().astype(np.int32)], 255)  # the lid ring
    mask = cv2.dilate(mask, np.ones((7, 7), np.uint8))
    out = cv2.inpaint(frame, mask, 5, cv2.INPAINT_TELEA)
    for eye in eyes:
        lid = eye.contour[0:9].round().astype(np.int32)  # outer corner, lower lid, inner corner
        cv2.polylines(out, [lid], False, (40, 40, 60), 1, cv2.LINE_AA)
    return np.asarray(out, np.uint8)


def make_variant(source: Path, out: Path, pipeline: FacePipeline) -> Path:
    cap = cv2.VideoCapture(str(source))
    writer: cv2.VideoWriter | None = None
    shut = closed_frames()
    pos = 0  # next source frame the capture will return
    try:
        for j in range(n_frames()):
            want = round(frame_time(j) * SOURCE_FPS) % SOURCE_FRAMES
            if want < pos:  # wrapped: read the source again from the start
                cap.release()
                cap = cv2.VideoCapture(str(source))
                pos = 0
            frame = None
            while pos <= want:
                ok, frame = cap.read()
                if not ok:
                    raise RuntimeError(f"{source}: ended at frame {pos}")
                pos += 1
            assert frame is not None
            if j in shut:
                frame = paint_eyes_shut(frame, pipeline)
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (w, h))
                if not writer.isOpened():
                    raise RuntimeError(f"cannot write {out}")
            writer.write(frame)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    return out


if __name__ == "__main__":
    from agent.vision.settings import VisionSettings

    if len(sys.argv) != 3:
        sys.exit(__doc__)
    make_variant(Path(sys.argv[1]), Path(sys.argv[2]),
                 FacePipeline.from_settings(VisionSettings()))
