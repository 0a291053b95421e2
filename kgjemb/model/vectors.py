"""Audio vectors a model directory carries next to its weights, so that building an index
does not embed every track a second time.

The trainer's last pass over the audio (diagnostics and the final validation) embeds every
track with the final weights; :func:`save_audio_vectors` keeps those joint-space vectors
in ``audio_vectors.npz`` with everything they are a function of: the weights' sha256, the
model config, the device type, the files per forward batch, and each track's id and the
sha256 of the very feature matrix the model read (a feature cache filled by other code
holds other features for the same audio file). :func:`stored_audio_vectors` hands them
back only when all of it matches what an index build would use, so a reused vector is the
very vector ``embed_audio`` would return (anything else: None, and the caller embeds).

>>> save_audio_vectors(model_dir, model=m, ids=ids, features=feats, vectors=v, batch_size=16)  # doctest: +SKIP
>>> stored_audio_vectors(model_dir, model=m, ids=ids, paths=paths, batch_size=16)  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from kgjemb.atomic import atomic_path

__all__ = ["AUDIO_VECTORS_FILE", "feature_digest", "read_audio_vectors", "save_audio_vectors", "stored_audio_vectors"]

logger = logging.getLogger(__name__)

#: the stored vectors inside a model directory
AUDIO_VECTORS_FILE = "audio_vectors.npz"


def feature_digest(features: np.ndarray) -> str:
    """sha256 of a feature matrix as the feature cache stores it (float16, shape included)."""
    x = np.ascontiguousarray(features, dtype=np.float16)
    return hashlib.sha256(repr(x.shape).encode() + x.tobytes()).hexdigest()


def _recipe(model, batch_size: int) -> dict:
    """What the vectors depend on besides the features: weights, config, device, batching."""
    return {"weights": model.checksum(), "config": model.config.to_dict(), "device": model.device.type,
            "batch_size": int(batch_size)}


def save_audio_vectors(
    model_dir: str | os.PathLike,
    *,
    model,
    ids: Sequence[str],
    features: Iterable[np.ndarray],
    vectors: np.ndarray,
    batch_size: int,
) -> Path:
    """Write ``vectors`` ``(len(ids), dim)``: ``model``'s joint-space ``embed_audio`` of the
    tracks ``ids`` in this order, ``batch_size`` files per batch, from the feature matrices
    ``features`` (one per id). ``model`` must be saved already (its checksum is the saved
    weights'). Atomic (temp file + rename)."""
    digests = [feature_digest(f) for f in features]
    if vectors.shape[0] != len(ids) or len(ids) != len(digests):
        raise ValueError(f"need one vector and one feature matrix per id: {len(ids)} ids, {len(digests)} "
                         f"feature matrices, vectors {vectors.shape}")
    target = Path(model_dir) / AUDIO_VECTORS_FILE
    with atomic_path(target) as tmp:
        np.savez(tmp, vectors=np.asarray(vectors, dtype=np.float32), ids=np.asarray(list(ids), dtype=str),
                 features=np.asarray(digests, dtype=str),
                 recipe=np.asarray(json.dumps(_recipe(model, batch_size), sort_keys=True, default=str)))
    return target


def read_audio_vectors(model_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of ``model_dir``'s stored vectors as written, unchecked: ``vectors``
    ``(n, dim)``, ``ids``, ``features`` (digests) and ``recipe``. Raises OSError when the
    file is missing, ValueError when it is not such a file."""
    path = Path(model_dir) / AUDIO_VECTORS_FILE
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in ("vectors", "ids", "features", "recipe")}
    except (KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: {err}") from err


def stored_audio_vectors(
    model_dir: str | os.PathLike,
    *,
    model,
    ids: Sequence[str],
    paths: Sequence[str | os.PathLike],
    batch_size: int,
) -> np.ndarray | None:
    """The stored vectors ``(len(ids), dim)`` float32 when ``model_dir`` holds some of
    ``model`` (weights, config, device type) for these track ids in this order, with
    ``batch_size`` files per batch, computed from the features ``model`` reads for
    ``paths`` now; else None (a missing, stale or unreadable file is not an error)."""
    path = Path(model_dir) / AUDIO_VECTORS_FILE
    if not path.is_file():
        return None
    try:
        stored = read_audio_vectors(model_dir)
    except (OSError, ValueError) as err:
        logger.warning("stored audio vectors %s unreadable (%s); embedding the audio", path, err)
        return None
    why = None
    if str(stored["recipe"]) != json.dumps(_recipe(model, batch_size), sort_keys=True, default=str):
        why = "other weights, config, device or batch size"
    elif stored["ids"].tolist() != list(ids):
        why = "other tracks"
    elif stored["features"].tolist() != [feature_digest(model.features.features(p)) for p in paths]:
        why = "other audio features"
    if why is not None:
        logger.info("stored audio vectors %s not used (%s)", path, why)
        return None
    return stored["vectors"].astype(np.float32, copy=False)
