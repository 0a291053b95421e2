"""The files of a model directory, named once (a light module: the bundle and the ONNX
query path read them without importing the training-side model stack)."""
from __future__ import annotations

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE"]

#: the model's config and weights inside a model directory
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.pt"
