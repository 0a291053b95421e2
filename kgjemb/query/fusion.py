"""Score fusion: every candidate scored on every signal, normalised, then combined.

Per-signal top-k ranks from the ANN or the graph walk are only used to *find* candidates;
the scores here are exact over the candidate union: a vector signal (entity, audio, text,
negation) is the dot product of each candidate's stored vector with the signal's query
vector; a graph signal (proximity, attribute fact) reads each candidate's score from the
graph snapshot through its ``score`` function. A candidate found by one signal is still
scored fairly on all the others.

>>> import numpy as np
>>> cands = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
>>> sig = [Signal("text:a", "text", 1.0, vector=np.array([1.0, 0.0], dtype=np.float32))]
>>> scores, parts = fuse(raw_scores(cands, np.arange(2), sig), sig)
>>> scores.tolist(), parts.tolist()
([1.0, 0.0], [[1.0], [0.0]])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from kgjemb.query.config import FUSION_METHODS, NORMALISATIONS

__all__ = ["Signal", "SIGNAL_KINDS", "fuse", "normalise", "ranks", "raw_scores"]

#: every kind of signal, in the order :class:`~kgjemb.query.config.SignalWeights` lists them
SIGNAL_KINDS = ("entity", "audio", "text", "negation", "graph", "fact")


@dataclass(frozen=True)
class Signal:
    """One routed part of a query: ``name`` (shown in hits, e.g. ``text:on strings``),
    ``kind`` (one of :data:`SIGNAL_KINDS`) and ``weight`` (≥ 0). Exactly one of ``vector``
    (the query vector ``(dim,)``, scored by dot product with each candidate's stored
    vector) or ``score`` (index rows ``(n,)`` → raw scores ``(n,)``, read from the graph)
    is set. ``negative`` signals are subtracted by :func:`fuse` (negated phrases and
    negated attributes). ``ref`` is the graph node (``Label:id``) an entity, audio or
    graph signal stands for."""

    name: str
    kind: str
    weight: float
    vector: np.ndarray | None = None
    score: Callable[[np.ndarray], np.ndarray] | None = None
    ref: str | None = None
    negative: bool = False

    def __post_init__(self) -> None:
        if self.kind not in SIGNAL_KINDS:
            raise ValueError(f"unknown signal kind {self.kind!r}; choose from {list(SIGNAL_KINDS)}")
        if (self.vector is None) == (self.score is None):
            raise ValueError(f"signal {self.name!r} needs exactly one of vector and score")


def raw_scores(vectors: np.ndarray, rows: np.ndarray, signals: list[Signal]) -> np.ndarray:
    """Raw score of each candidate on each signal ``(n, s)``: candidate ``vectors``
    ``(n, dim)`` (the stored vectors of index ``rows`` ``(n,)``) dotted with the vector
    signals, graph signals read at ``rows``."""
    n = len(rows)
    raw = np.zeros((n, len(signals)), dtype=np.float64)
    vec_cols = [j for j, s in enumerate(signals) if s.vector is not None]
    if vec_cols and n:
        q = np.stack([signals[j].vector for j in vec_cols]).astype(np.float32)  # (v, dim)
        raw[:, vec_cols] = vectors @ q.T  # (n, v) cosines: both sides are L2-normalised
    for j, s in enumerate(signals):
        if s.score is not None and n:
            raw[:, j] = s.score(rows)
    return raw


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
    raw: np.ndarray,
    signals: list[Signal],
    *,
    method: str = "weighted",
    norm: str = "minmax",
    rrf_k: int = 60,
) -> tuple[np.ndarray, np.ndarray]:
    """Fused scores ``(n,)`` and per-signal contributions ``(n, s)`` (their row sums are the
    scores) from the raw scores ``(n, s)`` of :func:`raw_scores`.

    ``weighted``: contribution = ±weight × normalise(raw); ``rrf``: ±weight / (rrf_k +
    rank). Negative signals contribute with a minus sign.
    """
    if method not in FUSION_METHODS:
        raise ValueError(f"unknown fusion {method!r}; choose from {list(FUSION_METHODS)}")
    raw = np.asarray(raw, dtype=np.float64)
    n = raw.shape[0]
    if not signals or n == 0:
        return np.zeros(n), np.zeros((n, len(signals)))
    sign = np.array([-1.0 if s.negative else 1.0 for s in signals])  # (s,)
    weight = np.array([s.weight for s in signals], dtype=np.float64) * sign  # (s,)
    if method == "weighted":
        parts = normalise(raw, norm) * weight  # (n, s)
    else:
        parts = weight / (rrf_k + ranks(raw))  # (n, s)
    return parts.sum(axis=1), parts
