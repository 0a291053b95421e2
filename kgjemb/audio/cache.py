"""On-disk cache of log-mel features, keyed by file content and front-end config.

Key = sha256 of the file's bytes (memoised per process by (path, size, mtime_ns), so a
file is hashed once per run and an edited file is re-hashed) + ``FrontendConfig.key()``.
A renamed or copied file hits the same entry; a changed one cannot. Entries are
``<dir>/<config key>/<sha[:2]>/<sha>.npy`` holding the whole file's ``(n_features, T)``
log-mels (+ chroma) as float16 (returned as float32, equal whether computed or read), written
to a temp file and renamed (atomic; concurrent writers race
harmlessly to identical content).

>>> cache = FeatureCache(".kgjemb/cache/audio", FrontendConfig())  # doctest: +SKIP
>>> feats = cache.features("a.wav")  # decodes once, then reads the .npy  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from kgjemb.atomic import atomic_open
from kgjemb.audio.features import Features
from kgjemb.audio.io import AudioDecodeError, load_audio
from kgjemb.audio.config import FrontendConfig

__all__ = ["FeatureCache", "compute_features", "file_sha256"]

logger = logging.getLogger(__name__)

_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file's bytes, memoised by (resolved path, size, mtime_ns)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as err:
        raise AudioDecodeError(f"audio file not found: {p}") from err
    memo_key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    digest = _SHA_MEMO.get(memo_key)
    if digest is None:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        _SHA_MEMO[memo_key] = digest
    return digest


def compute_features(path: str | os.PathLike, cfg: FrontendConfig, extractor: Features | None = None) -> np.ndarray:
    """Decode + log-mel (+ chroma) without any cache → ``(n_features, T)`` float32."""
    y = load_audio(path, sample_rate=cfg.sample_rate, max_seconds=cfg.max_seconds)
    return (extractor or Features(cfg))(y)


class FeatureCache:
    """Log-mel features per audio file, computed once and kept on disk.

    ``directory=None`` keeps nothing on disk (features are recomputed every call).
    ``computed`` / ``hits`` count what happened, for tests and logs.
    """

    def __init__(self, directory: str | os.PathLike | None, cfg: FrontendConfig) -> None:
        self.cfg = cfg
        self.directory = None if directory is None else Path(directory) / cfg.key()
        self.extractor = Features(cfg)
        self.computed = 0
        self.hits = 0

    def entry_path(self, path: str | os.PathLike) -> Path | None:
        """Where the features of ``path`` live (None without a cache directory)."""
        if self.directory is None:
            return None
        sha = file_sha256(path)
        return self.directory / sha[:2] / f"{sha}.npy"

    def features(self, path: str | os.PathLike) -> np.ndarray:
        """``(n_features, T)`` float32 log-mels (+ chroma) of one file (float16-quantised), from the cache
        when present."""
        entry = self.entry_path(path)
        if entry is not None and entry.is_file():
            try:
                stored = np.load(entry, allow_pickle=False)
                if stored.ndim == 2 and stored.shape[0] == self.cfg.n_features and stored.dtype == np.float16:
                    self.hits += 1
                    return stored.astype(np.float32)
            except (OSError, ValueError) as err:
                logger.warning("feature cache entry %s unreadable (%s); recomputing", entry, err)
        # float16 on disk (half the space; ~0.03 dB steps, far below what matters); the
        # fresh result is quantised the same way so a hit and a miss return equal arrays
        stored = compute_features(path, self.cfg, self.extractor).astype(np.float16)
        self.computed += 1
        if entry is not None:
            try:
                _atomic_save(entry, stored)
            except OSError as err:  # read-only or full disk: slower next time, not wrong
                logger.warning("cannot write feature cache entry %s: %s", entry, err)
        return stored.astype(np.float32)


def _atomic_save(target: Path, array: np.ndarray) -> None:
    with atomic_open(target, "wb") as f:
        np.save(f, array, allow_pickle=False)
