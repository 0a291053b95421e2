"""The files of a model directory, named once (a light module: the bundle and the ONNX
query path read them without importing the training-side model stack)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "sha256_file"]

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
