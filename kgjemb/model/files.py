"""The files of a model directory, named once (a light module: the bundle and the ONNX
query path read them without importing the training-side model stack)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from kgjemb.errors import BundleError
from kgjemb.model.config import ModelConfig

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "read_model_dir", "sha256_file"]

#: the model's config and weights inside a model directory
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.pt"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20, *, follow_symlinks: bool = True) -> str:
    """sha256 of the file at ``path`` (a model's checksum, a bundle file's entry);
    ``follow_symlinks=False`` refuses a symlink (``O_NOFOLLOW``) instead of reading what it
    points at (bundle verification)."""
    h = hashlib.sha256()
    fd = os.open(Path(path), os.O_RDONLY | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0)))
    with os.fdopen(fd, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_model_dir(model_dir: str | os.PathLike) -> tuple[ModelConfig, Path]:
    """The :class:`ModelConfig` of a model directory and the path of its weights.

    Raises :class:`BundleError` naming the file when ``config.json`` or ``model.pt`` is
    missing or the config is unreadable (the weights are only checked to exist)."""
    root = Path(model_dir)
    cfg_path, weights = root / CONFIG_FILE, root / WEIGHTS_FILE
    for p in (cfg_path, weights):
        if not p.is_file():
            raise BundleError(f"model file missing: {p}")
    try:
        config = ModelConfig.from_dict(json.loads(cfg_path.read_text())["model"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BundleError(f"model config unreadable: {cfg_path}: {err}") from err
    return config, weights
