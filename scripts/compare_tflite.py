#!/usr/bin/env python3
"""Check the built ONNX models against the original .tflite on real photo crops (dev tool).

The reference runs in another Python that has a TFLite interpreter (``ai_edge_litert`` or
``tensorflow``), e.g. the anchor venv of shared/bench/README.md plus ``pip install
ai-edge-litert``; nothing here becomes a runtime dependency.

    .venv/bin/python scripts/compare_tflite.py --tflite-python /work/anchor-venv/bin/python

Inputs: crops of skimage's astronaut photo (whole photo for the detector, the face for the
mesh, both eyes for the iris model, the image-right eye mirrored as the pipeline does).
Prints the largest absolute and relative difference per output; exit 1 above --tolerance.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from skimage.data import astronaut

ROOT = Path(__file__).resolve().parent.parent

_REFERENCE = r"""
import sys, numpy as np
try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:
    from tensorflow.lite import Interpreter
data = dict(np.load(sys.argv[1]))
out = {}
for key in ("detector", "mesh", "iris"):
    it = Interpreter(model_path=sys.argv[2 + ("detector", "mesh", "iris").index(key)])
    it.allocate_tensors()
    x = data[key]  # NCHW batch; the tflite model takes NHWC, one at a time
    res = []
    for i in range(x.shape[0]):
        it.set_tensor(it.get_input_details()[0]["index"], x[i:i+1].transpose(0, 2, 3, 1))
        it.invoke()
        res.append([it.get_tensor(o["index"]).reshape(-1) for o in it.get_output_details()])
    for j in range(len(res[0])):
        out[f"{key}_{j}"] = np.stack([r[j] for r in res])
np.savez(sys.argv[5], **out)
"""


def inputs() -> dict[str, np.ndarray]:
    rgb = astronaut().astype(np.float32) / 255.0
    det = cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_AREA) * 2.0 - 1.0
    face = cv2.resize(rgb[40:210, 140:310], (192, 192), interpolation=cv2.INTER_AREA)
    left = cv2.resize(rgb[80:124, 182:226], (64, 64), interpolation=cv2.INTER_AREA)
    right = cv2.resize(rgb[82:126, 224:268], (64, 64), interpolation=cv2.INTER_AREA)[:, ::-1]
    chw = [a.transpose(2, 0, 1)[None] for a in (det, face)]
    eyes = np.stack([left.transpose(2, 0, 1), right.transpose(2, 0, 1)])
    return {"detector": chw[0], "mesh": chw[1], "iris": np.ascontiguousarray(eyes)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tflite-python", type=Path, required=True)
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max relative difference")
    args = ap.parse_args()
    manifest = json.loads((args.models_dir / "manifest.json").read_text())
    specs = manifest["models"]
    x = inputs()
    with tempfile.TemporaryDirectory() as tmp:
        src, ref_path = Path(tmp) / "in.npz", Path(tmp) / "ref.npz"
        np.savez(src, **x)
        tfl = [str(args.models_dir / specs[k]["tflite"]) for k in ("detector", "mesh", "iris")]
        subprocess.run([str(args.tflite_python), "-c", _REFERENCE, str(src), *tfl,
                        str(ref_path)], check=True)
        ref = dict(np.load(ref_path))
    worst = 0.0
    report = {}
    for key in ("detector", "mesh", "iris"):
        sess = ort.InferenceSession(str(args.models_dir / specs[key]["onnx"]),
                                    providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        rows = [sess.run(None, {name: x[key][i:i + 1]}) for i in range(x[key].shape[0])]
        for j in range(len(rows[0])):
            got = np.stack([r[j].reshape(-1) for r in rows])
            want = ref[f"{key}_{j}"]
            diff = float(np.abs(got - want).max())
            rel = diff / max(float(np.abs(want).max()), 1e-6)
            worst = max(worst, rel)
            report[f"{key}[{j}]"] = {"max_abs": diff, "max_rel": rel,
                                     "range": float(np.abs(want).max())}
    print(json.dumps({"models_dir": str(args.models_dir), "outputs": report,
                      "worst_rel": worst}, indent=2))
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
