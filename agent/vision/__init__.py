"""ONNX face pipeline: detector, mesh, iris, head pose, eye openness, cameras, evidence."""
