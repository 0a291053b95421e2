"""MFCC statistics of a track: the classic timbre baseline for track → track retrieval.

``mfcc_stats(log_mel_db)`` takes the log-mel rows of the project's own front end
(:class:`kgjemb.audio.features.Features`, dB) and returns the mean and standard deviation
over time of the first ``n_mfcc`` cepstral coefficients (type-II orthonormal DCT of the
log-mel bands, :func:`dct_matrix`, as ``librosa.feature.mfcc`` computes them): a
``(2 * n_mfcc,)`` vector. The audio tower's dynamics branch uses the same DCT.
Reusing the cached log-mels means the baseline hears exactly what the model hears.

>>> feats = FeatureCache(None, FrontendConfig()).features("a.ogg")  # doctest: +SKIP
>>> mfcc_stats(feats[:64]).shape  # doctest: +SKIP
(40,)
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["dct_matrix", "mfcc_stats"]


@functools.lru_cache(maxsize=8)
def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """The first ``n_mfcc`` rows of the orthonormal type-II DCT over ``n_mels`` bands,
    float64 ``(n_mfcc, n_mels)``: ``dct_matrix(k, m) @ log_mel`` equals
    ``scipy.fft.dct(log_mel, axis=0, type=2, norm="ortho")[:k]``. Read-only (cached)."""
    k = np.arange(n_mfcc, dtype=np.float64)[:, None]
    n = np.arange(n_mels, dtype=np.float64)[None, :]
    d = np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels)) * np.sqrt(2.0 / n_mels)
    d[0] /= np.sqrt(2.0)
    d.setflags(write=False)
    return d


def mfcc_stats(log_mel_db: np.ndarray, *, n_mfcc: int = 20) -> np.ndarray:
    """Mean and sd over frames of ``n_mfcc`` MFCCs of ``log_mel_db`` ``(n_mels, T)``
    → float32 ``(2 * n_mfcc,)`` (default 20 coefficients → 40 numbers).

    Raises ``ValueError`` when there are fewer mel bands than coefficients or no frames.
    """
    s = np.asarray(log_mel_db, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] == 0:
        raise ValueError(f"need a (n_mels, T) log-mel matrix with T > 0, got shape {s.shape}")
    if not 0 < n_mfcc <= s.shape[0]:
        raise ValueError(f"n_mfcc must be in 1..{s.shape[0]} (the mel bands), got {n_mfcc}")
    mfcc = dct_matrix(n_mfcc, s.shape[0]) @ s  # (n_mfcc, T)
    return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]).astype(np.float32)
