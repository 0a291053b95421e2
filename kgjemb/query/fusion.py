"""Score fusion: every candidate scored on every signal, normalised, then combined.

Per-signal top-k ranks from the ANN are only used to *find* candidates; the scores here are
exact dot products between each candidate's stored vector and each signal's query vector,
so a candidate found by one signal is still scored fairly on all the others.

>>> import numpy as np
>>> cands = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
>>> sig = [Signal("text:a", "text", np.array([1.0, 0.0], dtype=np.float32), 1.0)]
>>> scores, parts = fuse(cands, sig)
>>> scores.tolist(), parts.tolist()
([1.0, 0.0], [[1.0], [0.0]])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kgjemb.query.config import FUSION_METHODS, NORMALISATIONS

__all__ = ["Signal", "fuse", "normalise", "ranks"]

#: signal kinds whose contribution is subtracted
NEGATIVE_KINDS = frozenset({"negation"})


@dataclass(frozen=True)
class Signal:
    """One routed part of a query: ``name`` (shown in hits, e.g. ``text:on strings``),
    ``kind`` (entity, audio, text, negation), the query ``vector`` ``(dim,)`` and its
    ``weight`` (≥ 0; negations are subtracted by :func:`fuse`). ``ref`` is the graph node
    (``Label:id``) an entity/audio signal stands for."""

    name: str
    kind: str
    vector: np.ndarray
    weight: float
    ref: str | None = None

    @property
    def negative(self) -> bool:
        return self.kind in NEGATIVE_KINDS


def normalise(raw: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Rescale each column of ``raw`` ``(n, s)`` over the ``n`` candidates.

    ``minmax``: (x − min) / (max − min); ``zscore``: (x − mean) / std; ``none``: x.
    A column with no spread (all equal, or a single candidate) becomes 0: it cannot tell
    candidates apart, so it must not shift the ranking.
    """
    if method not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {method!r}; choose from {list(NORMALISATIONS)}")
    raw = np.asarray(raw, dtype=np.float64)
    if method == "none" or raw.size == 0:
        return raw.copy()
    if method == "minmax":
        lo, hi = raw.min(axis=0), raw.max(axis=0)  # (s,)
        span = hi - lo
        return np.where(span > 1e-12, (raw - lo) / np.where(span > 1e-12, span, 1.0), 0.0)
    mean, std = raw.mean(axis=0), raw.std(axis=0)  # (s,)
    return np.where(std > 1e-12, (raw - mean) / np.where(std > 1e-12, std, 1.0), 0.0)


def ranks(raw: np.ndarray) -> np.ndarray:
    """1-based rank of each candidate per column, best (highest) first; ties keep row order."""
    order = np.argsort(-raw, axis=0, kind="stable")  # (n, s)
    out = np.empty_like(order)
    rows = np.arange(1, raw.shape[0] + 1)
    for j in range(raw.shape[1]):
        out[order[:, j], j] = rows
    return out


def fuse(
    candidates: np.ndarray,
    signals: list[Signal],
    *,
    method: str = "weighted",
    norm: str = "minmax",
    rrf_k: int = 60,
) -> tuple[np.ndarray, np.ndarray]:
    """Fused scores ``(n,)`` and per-signal contributions ``(n, s)`` (their row sums are the
    scores) for candidate vectors ``(n, dim)``.

    ``weighted``: contribution = ±weight × normalise(cosine); ``rrf``: ±weight / (rrf_k +
    rank). Negative kinds (negation) contribute with a minus sign.
    """
    if method not in FUSION_METHODS:
        raise ValueError(f"unknown fusion {method!r}; choose from {list(FUSION_METHODS)}")
    n = candidates.shape[0]
    if not signals or n == 0:
        return np.zeros(n), np.zeros((n, len(signals)))
    q = np.stack([s.vector for s in signals]).astype(np.float32)  # (s, dim)
    raw = candidates @ q.T  # (n, s) cosines: both sides are L2-normalised
    sign = np.array([-1.0 if s.negative else 1.0 for s in signals])  # (s,)
    weight = np.array([s.weight for s in signals], dtype=np.float64) * sign  # (s,)
    if method == "weighted":
        parts = normalise(raw, norm) * weight  # (n, s)
    else:
        parts = weight / (rrf_k + ranks(raw))  # (n, s)
    return parts.sum(axis=1), parts
