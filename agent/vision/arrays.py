"""The vision code's array types (numpy typing aliases), named once for every module."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]  # what the ONNX models take and give
U8 = npt.NDArray[np.uint8]
Image = U8  # a camera frame: BGR (H, W, 3), or (H, W) from a gray/IR camera
