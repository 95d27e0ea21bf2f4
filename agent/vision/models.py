"""ONNX model files and sessions: manifest check, session options, preallocated I/O.

Every failure to find, verify or load a model raises :class:`agent.errors.ModelError` with a
message a technician can act on (the app turns it into a model-fault hardware event).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agent.errors import ModelError
from agent.vision.arrays import F32

MODEL_KEYS = ("detector", "mesh", "iris")
_FIX = "run scripts/bootstrap (or .venv/bin/python scripts/fetch_models) to build them"

OptLevel = Literal["disable", "basic", "extended", "all"]


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """onnxruntime knobs; defaults are the measured best on one core (docs/vision.md)."""

    intra_op_threads: int = 1
    graph_optimization: OptLevel = "all"
    io_binding: bool = True


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_models_dir(path: Path) -> Path:
    """An absolute ``path`` as is; a relative one from the working directory if it exists
    there, else from the source checkout (so ``diag`` works from any directory)."""
    if path.is_absolute() or path.exists():
        return path
    checkout = Path(__file__).resolve().parent.parent.parent / path
    return checkout if checkout.exists() else path


def read_manifest(models_dir: Path) -> dict[str, Any]:
    path = models_dir / "manifest.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelError(f"model manifest {path} not found; {_FIX}") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"model manifest {path} unreadable: {exc}") from exc
    if not isinstance(data.get("models"), dict):
        raise ModelError(f"model manifest {path} has no 'models' table")
    return data


def model_path(models_dir: Path, manifest: dict[str, Any], key: str,
               verify: bool = True) -> Path:
    """The .onnx file for ``key``, checked to exist and (``verify``) to match its sha256."""
    spec = manifest["models"].get(key)
    if not isinstance(spec, dict) or "onnx" not in spec:
        raise ModelError(f"model manifest has no entry for the {key} model")
    path = models_dir / str(spec["onnx"])
    if not path.is_file():
        raise ModelError(f"{key} model {path} is missing; {_FIX}")
    if verify:
        want = spec.get("onnx_sha256")
        got = _sha256(path)
        if got != want:
            raise ModelError(f"{key} model {path} is corrupt (sha256 {got[:12]}... does not "
                             f"match the manifest); {_FIX}")
    return path


class OnnxModel:
    """One onnxruntime session with a fixed input shape and (optionally) bound buffers.

    With ``io_binding`` the input and output arrays are allocated once and bound to the
    session; :meth:`run` then reads the caller-filled :attr:`input` and writes the outputs in
    place, so a frame allocates nothing here. The returned arrays are overwritten by the next
    run: copy what must outlive it.
    """

    def __init__(self, name: str, path: Path, input_shape: tuple[int, ...],
                 config: SessionConfig) -> None:
        import onnxruntime as ort

        self.name = name
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = config.intra_op_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[config.graph_optimization]
        opts.enable_cpu_mem_arena = True
        opts.log_severity_level = 3
        # A spinning worker thread would burn the single core we share with the camera.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ModelError(f"{name} model {path} failed to load: {exc}") from exc
        inputs = self._sess.get_inputs()
        self._input_name: str = inputs[0].name
        self._output_names: list[str] = [o.name for o in self._sess.get_outputs()]
        self.input: F32 = np.zeros(input_shape, np.float32)
        self._binding: Any = None
        self._outputs: list[F32] = []
        try:
            first = self._sess.run(None, {self._input_name: self.input})
        except Exception as exc:
            raise ModelError(f"{name} model {path} does not accept input {input_shape}: "
                             f"{exc}") from exc
        if config.io_binding:
            self._outputs = [np.empty(np.asarray(o).shape, np.float32) for o in first]
            binding = self._sess.io_binding()
            binding.bind_input(self._input_name, "cpu", 0, np.float32, list(input_shape),
                               self.input.ctypes.data)
            for out_name, arr in zip(self._output_names, self._outputs, strict=True):
                binding.bind_output(out_name, "cpu", 0, np.float32, list(arr.shape),
                                    arr.ctypes.data)
            self._binding = binding

    def run(self) -> list[F32]:
        """Run on :attr:`input`; outputs in the model's order."""
        if self._binding is not None:
            self._sess.run_with_iobinding(self._binding)
            return self._outputs
        outs = self._sess.run(self._output_names, {self._input_name: self.input})
        return [np.asarray(o, np.float32) for o in outs]


@dataclass(frozen=True, slots=True)
class ModelSet:
    """The three sessions of the face pipeline."""

    detector: OnnxModel
    mesh: OnnxModel
    iris: OnnxModel  # batch of two eyes when ``iris_batch == 2``
    iris_batch: int

    @classmethod
    def load(cls, models_dir: Path, config: SessionConfig, iris_batch: int = 2,
             verify: bool = True) -> ModelSet:
        manifest = read_manifest(models_dir)
        paths = {k: model_path(models_dir, manifest, k, verify) for k in MODEL_KEYS}
        return cls(
            detector=OnnxModel("detector", paths["detector"], (1, 3, 128, 128), config),
            mesh=OnnxModel("mesh", paths["mesh"], (1, 3, 192, 192), config),
            iris=OnnxModel("iris", paths["iris"], (iris_batch, 3, 64, 64), config),
            iris_batch=iris_batch,
        )
