#!/usr/bin/env python3
"""Driver-monitoring benchmark: the agent's full face pipeline vs the MediaPipe anchor.

Per frame, as in the anchor (shared/bench/anchor_mediapipe_dms.py): decode with
cv2.VideoCapture, then detect-or-track, FaceMesh, Iris (both eyes), head pose, the measures,
the pure DMS state machine (agent.dms) and the evidence ring buffer (agent.vision.ring: JPEG
encode of every third frame at 10 fps; --no-ring to leave it out). Each configuration runs in
its own process (so process-wide settings such as cv2.setNumThreads do not leak between them),
pinned to one core, interleaved with the anchor in the same run so the ratio is measured
under the same load.

    .venv/bin/python scripts/bench_dms.py --anchor-python /work/anchor-venv/bin/python
    .venv/bin/python scripts/bench_dms.py --variants final --repeat 5    # ours only
    .venv/bin/python scripts/bench_dms.py --model-level    # each model call, per option

`fps` includes decoding (frames / wall time); p50/p99 are per-frame processing latency,
decode excluded (the anchor's definitions); `cpu_ms_per_frame` is process CPU time per frame
(decode included), the figure least disturbed by other load on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED_BENCH = ROOT.parent / "shared" / "bench"
DEFAULT_VIDEO = ROOT / "bench-out" / "dms_face.mp4"

# Each step turns one more optimisation on; "final" is the shipped configuration (the
# VisionSettings defaults with the PRelu-rewritten models). The steps before it use models
# built without the rewrite (scripts/fetch_models --out PRELU_DIR --no-prelu-rewrite).
OFF = {"track": False, "iris_batched": False, "io_binding": False,
       "graph_optimization": "basic", "opencv_threads": 0}
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {**OFF, "_prelu_models": True},
    "+graph_all": {**OFF, "graph_optimization": "all", "_prelu_models": True},
    "+track": {**OFF, "graph_optimization": "all", "track": True, "_prelu_models": True},
    "+iris_batch": {**OFF, "graph_optimization": "all", "track": True, "iris_batched": True,
                    "_prelu_models": True},
    "+io_binding": {**OFF, "graph_optimization": "all", "track": True, "iris_batched": True,
                    "io_binding": True, "_prelu_models": True},
    "+cv2_threads1": {"_prelu_models": True},  # all settings at their defaults
    "final": {},  # + the PRelu rewrite: what the agent runs
    "threads2": {"intra_op_threads": 2},  # for the record: 2 ORT threads on one core
}
PRELU_DIR = ROOT / "bench-out" / "models-prelu"


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def worker(video: str, frames: int, variant: str, models_dir: Path,
           ring_on: bool) -> dict[str, Any]:
    """One pass over the video with one configuration (runs in a child process)."""
    import cv2
    import psutil

    from agent.dms.policy import DmsStateMachine
    from agent.vision.pipeline import FacePipeline
    from agent.vision.settings import VisionSettings

    spec = dict(VARIANTS[variant])
    if spec.pop("_prelu_models", False):
        models_dir = PRELU_DIR
    settings = VisionSettings(**spec)
    t0 = time.perf_counter()
    pipeline = FacePipeline.from_settings(settings, models_dir=models_dir)
    dms = DmsStateMachine()
    ring: Any = None
    if ring_on:
        from agent.vision.camera import Frame
        from agent.vision.ring import FrameRing

        ring = FrameRing("cam1")
    init_s = time.perf_counter() - t0
    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {video}")
    fps_in = cap.get(cv2.CAP_PROP_FPS) or 30.0
    proc_ms: list[float] = []
    decode_ms: list[float] = []
    dms_ms: list[float] = []
    ring_ms: list[float] = []
    stages: dict[str, list[float]] = {k: [] for k in ("detect", "mesh", "iris", "pose",
                                                      "measures")}
    found = 0
    events = 0
    t_start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(frames):
        t_a = time.perf_counter()
        ok, frame = cap.read()
        t_b = time.perf_counter()
        if not ok:
            break
        obs = pipeline.process(frame, i / fps_in)
        t_c = time.perf_counter()
        step = dms.step(obs, 50.0)
        t_r = time.perf_counter()
        if ring is not None:
            ring.push(Frame("cam1", i, i / fps_in, frame))
        t_d = time.perf_counter()
        ring_ms.append((t_d - t_r) * 1e3)
        found += obs.face_found
        events += len(step.events)
        decode_ms.append((t_b - t_a) * 1e3)
        proc_ms.append((t_d - t_b) * 1e3)
        dms_ms.append((t_r - t_c) * 1e3)
        for k, values in stages.items():
            values.append(getattr(pipeline.times, k))
    seconds = time.perf_counter() - t_start
    cpu_s = time.process_time() - cpu_start
    cap.release()
    n = len(proc_ms)
    proc = psutil.Process()
    return {
        "variant": variant, "settings": VARIANTS[variant], "frames": n,
        "fps": round(n / seconds, 2), "proc_fps": round(1e3 * n / sum(proc_ms), 2),
        "p50_ms": round(_percentile(proc_ms, 50), 3), "p99_ms": round(_percentile(proc_ms, 99), 3),
        "mean_ms": round(statistics.fmean(proc_ms), 3),
        "decode_ms_mean": round(statistics.fmean(decode_ms), 3),
        "cpu_ms_per_frame": round(1e3 * cpu_s / n, 3),
        "stage_ms_mean": {k: round(statistics.fmean(v), 3) for k, v in stages.items()},
        "dms_ms_mean": round(statistics.fmean(dms_ms), 4),
        "ring_ms_mean": round(statistics.fmean(ring_ms), 4) if ring is not None else None,
        "detections": pipeline.times.detections, "faces_found": found, "dms_events": events,
        "init_s": round(init_s, 3), "rss_mb": round(proc.memory_info().rss / 2**20, 1),
        "threads": proc.num_threads(),
    }


def model_level(models_dir: Path, runs: int = 300) -> dict[str, Any]:
    """CPU ms per model call for each session/model option (one process, one core)."""
    import numpy as np

    from agent.vision.models import OnnxModel, SessionConfig, model_path, read_manifest

    def cpu_ms(model: OnnxModel) -> float:
        for _ in range(30):
            model.run()
        t = time.process_time()
        for _ in range(runs):
            model.run()
        return round((time.process_time() - t) / runs * 1e3, 3)

    out: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    shapes = {"detector": (1, 3, 128, 128), "mesh": (1, 3, 192, 192), "iris": (2, 3, 64, 64)}
    for label, mdir in (("prelu", PRELU_DIR), ("rewritten", models_dir)):
        manifest = read_manifest(mdir)
        for key, shape in shapes.items():
            path = model_path(mdir, manifest, key)
            for opt in ("basic", "all"):
                for binding in (False, True):
                    m = OnnxModel(key, path, shape, SessionConfig(1, opt, binding))
                    m.input[...] = rng.random(shape, dtype=np.float32)
                    out[f"{key}/{label}/{opt}/{'iobinding' if binding else 'run'}"] = cpu_ms(m)
            if key == "iris":  # both eyes: one batch-2 call vs two batch-1 calls
                m1 = OnnxModel(key, path, (1, 3, 64, 64), SessionConfig(1, "all", True))
                m1.input[...] = rng.random((1, 3, 64, 64), dtype=np.float32)
                out[f"iris/{label}/all/2x_batch1"] = round(2 * cpu_ms(m1), 3)
    out.update(preprocess_level(runs))
    return out


def preprocess_level(runs: int) -> dict[str, float]:
    """CPU ms to make the mesh input from a 640x480 BGR frame: naive vs what the pipeline does."""
    import cv2
    import numpy as np

    from agent.vision.geometry import Roi, warp_crop

    frame = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    a = Roi(320.0, 240.0, 220.0, 220.0, 0.2).crop_to_image(192)
    bound = np.zeros((1, 3, 192, 192), np.float32)

    def naive() -> None:  # whole-frame RGB conversion, then a fresh float tensor
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        crop = warp_crop(rgb, a, 192)
        _ = (crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()

    def direct() -> None:  # BGR crop, channel swap + scale written into the bound input
        crop = warp_crop(frame, a, 192)
        np.multiply(crop.transpose(2, 0, 1)[::-1], np.float32(1 / 255), out=bound[0],
                    casting="unsafe")

    res = {}
    for name, fn in (("preprocess/mesh/naive", naive), ("preprocess/mesh/direct", direct)):
        for _ in range(30):
            fn()
        t = time.process_time()
        for _ in range(runs * 3):
            fn()
        res[name] = round((time.process_time() - t) / (runs * 3) * 1e3, 3)
    return res


def _child(args: list[str]) -> dict[str, Any]:
    res = subprocess.run(args, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"benchmark child failed ({res.returncode}): {' '.join(args)}\n"
                         f"{res.stderr[-3000:]}")
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    data: dict[str, Any] = json.loads(line)
    return data


def ensure_video(path: Path) -> None:
    if path.is_file():
        return
    maker = SHARED_BENCH / "make_face_video.py"
    if not maker.is_file():
        raise SystemExit(f"no video at {path} and no {maker} to make one")
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"making {path} with {maker}", file=sys.stderr)
    subprocess.run([sys.executable, str(maker), str(path)], check=True)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import cv2
    import numpy as np
    import onnxruntime as ort

    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
            "affinity": sorted(os.sched_getaffinity(0)), "loadavg": os.getloadavg()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO,
                    help=f"640x480 face video (made if missing; default {DEFAULT_VIDEO})")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=0, help="core to pin to (like taskset -c)")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"comma-separated subset of: {', '.join(VARIANTS)}")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--anchor-python", type=Path, default=None,
                    help="python of the MediaPipe anchor venv (shared/bench/README.md)")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the report here")
    ap.add_argument("--no-ring", action="store_true", help="leave the JPEG ring buffer out")
    ap.add_argument("--model-level", action="store_true",
                    help="only time each model call per option (CPU ms), no video")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    os.sched_setaffinity(0, {args.cpu})  # children inherit the single core
    if args.model_level:
        if not (PRELU_DIR / "manifest.json").is_file():
            subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_models"), "--out",
                            str(PRELU_DIR), "--no-prelu-rewrite"], check=True)
        print(json.dumps({"cpu_ms_per_call": model_level(args.models_dir),
                          "machine": machine()}, indent=2))
        return 0
    if args.worker:
        print(json.dumps(worker(str(args.video), args.frames, args.worker, args.models_dir,
                                not args.no_ring)))
        return 0

    ensure_video(args.video)
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}")
    if any(VARIANTS[v].get("_prelu_models") for v in variants) and not (
            PRELU_DIR / "manifest.json").is_file():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_models"), "--out",
                        str(PRELU_DIR), "--no-prelu-rewrite"], check=True)
    anchor_script = SHARED_BENCH / "anchor_mediapipe_dms.py"
    anchor = None
    note = None
    if args.anchor_python is None:
        note = "anchor skipped: no --anchor-python given"
    elif not args.anchor_python.exists():
        note = f"anchor skipped: {args.anchor_python} does not exist (shared/bench/README.md)"
    elif not anchor_script.is_file():
        note = f"anchor skipped: {anchor_script} not found"
    else:
        anchor = [str(args.anchor_python), str(anchor_script), str(args.video),
                  "--frames", str(args.frames), "--repeat", "1"]
    if note:
        print(note, file=sys.stderr)

    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    anchor_runs: list[dict[str, Any]] = []
    me = [sys.executable, str(Path(__file__).resolve()), "--video", str(args.video),
          "--frames", str(args.frames), "--cpu", str(args.cpu),
          "--models-dir", str(args.models_dir), *(["--no-ring"] if args.no_ring else []),
          "--worker"]
    for r in range(args.repeat):
        for v in variants:  # interleaved: ours, anchor, ours, ... under the same load
            runs[v].append(_child([*me, v]))
            print(f"round {r + 1}/{args.repeat} {v}: {runs[v][-1]['fps']} fps, "
                  f"{runs[v][-1]['cpu_ms_per_frame']} cpu ms/frame", file=sys.stderr)
        if anchor:
            a = _child(anchor)
            a.pop("runs", None)
            anchor_runs.append(a)
            print(f"round {r + 1}/{args.repeat} anchor: {a['fps']} fps, "
                  f"{a['cpu_ms_per_frame']} cpu ms/frame", file=sys.stderr)

    keys = ("fps", "proc_fps", "p50_ms", "p99_ms", "mean_ms", "decode_ms_mean",
            "cpu_ms_per_frame", "rss_mb", "dms_ms_mean", "ring_ms_mean")
    summary: dict[str, Any] = {}
    for v, rs in runs.items():
        summary[v] = {k: round(statistics.median(float(x[k]) for x in rs), 3)
                      for k in keys if rs[0][k] is not None}
        summary[v]["stage_ms_mean"] = {
            k: round(statistics.median(x["stage_ms_mean"][k] for x in rs), 3)
            for k in rs[0]["stage_ms_mean"]}
        summary[v]["detections"] = rs[0]["detections"]
        summary[v]["faces_found"] = min(x["faces_found"] for x in rs)
    report: dict[str, Any] = {"machine": machine(), "video": str(args.video),
                              "models_dir": str(args.models_dir), "frames": args.frames,
                              "repeat": args.repeat, "ring": not args.no_ring,
                              "summary": summary, "runs": runs}
    if anchor_runs:
        akeys = ("fps", "proc_fps", "p50_ms", "p99_ms", "cpu_ms_per_frame")
        report["anchor"] = {k: round(statistics.median(float(a[k]) for a in anchor_runs), 3)
                            for k in akeys}
        report["anchor"]["faces_found"] = min(a["faces_found"] for a in anchor_runs)
        report["anchor_runs"] = anchor_runs
        ref = "final" if "final" in runs else variants[-1]
        # Ratio per round (same load), then the median: ours / anchor, > 1 = faster.
        report["ratio_to_anchor"] = {
            "variant": ref,
            "fps": round(statistics.median(o["fps"] / a["fps"] for o, a in
                                           zip(runs[ref], anchor_runs, strict=True)), 3),
            "cpu_ms_per_frame": round(statistics.median(
                a["cpu_ms_per_frame"] / o["cpu_ms_per_frame"]
                for o, a in zip(runs[ref], anchor_runs, strict=True)), 3),
        }
    else:
        report["anchor"] = note
    text = json.dumps(report, indent=2)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text + "\n")
    print(json.dumps({"summary": summary, "anchor": report["anchor"],
                      "ratio_to_anchor": report.get("ratio_to_anchor"),
                      "machine": report["machine"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
