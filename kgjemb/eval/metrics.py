"""Ranking metrics for one query and their means over a suite.

Every function takes ``ranked`` (track ids, best first; the system's ranking, possibly
longer or shorter than ``k``) and ``grades`` (``{track_id: grade}``, grade > 0 = relevant;
binary relevance is grade 1). Definitions (``R`` = number of relevant tracks):

* ``R@k``  = |relevant ∩ top-k| / min(k, R) — the same normalisation as
  :func:`kgjemb.train.evaluate.retrieval_metrics`, so a perfect ranking scores 1 even when
  R > k (R@1 is then "is the first hit relevant").
* ``P@k``  = |relevant ∩ top-k| / k (a ranking shorter than k is padded with misses).
* ``AP@k`` = Σ_{i ≤ k, rank i relevant} P@i / min(k, R) (``mAP@k`` is its mean).
* ``nDCG@k`` = DCG@k / IDCG@k with gain 2^g − 1 and discount 1/log2(i + 1); IDCG over the
  ideal ordering of all graded tracks.
* ``RR`` = 1 / rank of the first relevant track in ``ranked`` (0 if none; ``MRR`` its mean).

A query with no relevant track has undefined metrics: :func:`query_metrics` returns None
and :func:`mean_metrics` leaves it out (and reports how many were left out).
Ties in scores are broken by :func:`rank_by_score` (score desc, then id asc) so rankings
never depend on chance.

>>> query_metrics(["a", "b", "c"], {"b": 1}, ks=(1, 5))["R@5"]
1.0
"""
from __future__ import annotations

import logging
import math
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "recall_at_k", "precision_at_k", "average_precision_at_k", "ndcg_at_k", "reciprocal_rank",
    "query_metrics", "mean_metrics", "rank_by_score", "metric_names",
]

logger = logging.getLogger(__name__)

Grades = Mapping[str, float]


def _check_k(k: int) -> int:
    if isinstance(k, bool) or int(k) != k or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _hits(ranked: Sequence[str], grades: Grades, k: int) -> np.ndarray:
    top = list(ranked)[:k]
    return np.array([1.0 if grades.get(t, 0) > 0 else 0.0 for t in top], dtype=np.float64)  # (<=k,)


def _n_relevant(grades: Grades) -> int:
    return sum(1 for g in grades.values() if g > 0)


def recall_at_k(ranked: Sequence[str], grades: Grades, k: int) -> float:
    """|relevant ∩ top-k| / min(k, R); NaN when nothing is relevant."""
    k = _check_k(k)
    r = _n_relevant(grades)
    if r == 0:
        return float("nan")
    return float(_hits(ranked, grades, k).sum() / min(k, r))


def precision_at_k(ranked: Sequence[str], grades: Grades, k: int) -> float:
    """|relevant ∩ top-k| / k; NaN when nothing is relevant."""
    k = _check_k(k)
    if _n_relevant(grades) == 0:
        return float("nan")
    return float(_hits(ranked, grades, k).sum() / k)


def average_precision_at_k(ranked: Sequence[str], grades: Grades, k: int) -> float:
    """Σ P@i over relevant ranks i ≤ k, divided by min(k, R); NaN when nothing is relevant."""
    k = _check_k(k)
    r = _n_relevant(grades)
    if r == 0:
        return float("nan")
    hits = _hits(ranked, grades, k)
    if not len(hits):
        return 0.0
    prec = np.cumsum(hits) / np.arange(1, len(hits) + 1)  # (<=k,)
    return float((prec * hits).sum() / min(k, r))


def ndcg_at_k(ranked: Sequence[str], grades: Grades, k: int) -> float:
    """Graded nDCG@k (gain 2^g − 1, discount log2(i + 1)); NaN when nothing is relevant."""
    k = _check_k(k)
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return float("nan")
    disc = 1.0 / np.log2(np.arange(2, k + 2))  # (k,)
    gains = np.array([2.0 ** max(grades.get(t, 0), 0) - 1.0 for t in list(ranked)[:k]])  # (<=k,)
    dcg = float((gains * disc[: len(gains)]).sum())
    idcg = float(((2.0 ** np.asarray(ideal)) - 1.0) @ disc[: len(ideal)])
    return dcg / idcg


def reciprocal_rank(ranked: Sequence[str], grades: Grades) -> float:
    """1 / rank of the first relevant track (0 if none in ``ranked``); NaN if none relevant."""
    if _n_relevant(grades) == 0:
        return float("nan")
    for i, t in enumerate(ranked, start=1):
        if grades.get(t, 0) > 0:
            return 1.0 / i
    return 0.0


def metric_names(ks: Iterable[int] = (1, 5, 10), k: int = 10) -> list[str]:
    """Names in the order :func:`query_metrics` returns them."""
    return [f"R@{x}" for x in ks] + [f"P@{k}", f"mAP@{k}", f"nDCG@{k}", "MRR"]


def query_metrics(ranked: Sequence[str], grades: Grades, *, ks: Iterable[int] = (1, 5, 10), k: int = 10) -> dict | None:
    """All metrics of one query (see :func:`metric_names`); None when nothing is relevant.

    >>> query_metrics(["x", "a"], {"a": 1}, ks=(1,), k=2)["MRR"]
    0.5
    """
    if _n_relevant(grades) == 0:
        return None
    out = {f"R@{x}": recall_at_k(ranked, grades, x) for x in ks}
    out[f"P@{k}"] = precision_at_k(ranked, grades, k)
    out[f"mAP@{k}"] = average_precision_at_k(ranked, grades, k)
    out[f"nDCG@{k}"] = ndcg_at_k(ranked, grades, k)
    out["MRR"] = reciprocal_rank(ranked, grades)
    return out


def mean_metrics(per_query: Sequence[dict | None]) -> dict:
    """Mean of every metric over the queries that have one; ``n`` counts them and
    ``n_empty`` the queries left out for having no relevant track."""
    kept = [m for m in per_query if m is not None]
    out: dict = {}
    if kept:
        for name in kept[0]:
            out[name] = float(np.mean([m[name] for m in kept]))
    out["n"] = len(kept)
    out["n_empty"] = len(per_query) - len(kept)
    return out


def rank_by_score(ids: Sequence[str], scores: Sequence[float]) -> list[str]:
    """Ids best first: score descending, ties by id ascending (deterministic).

    >>> rank_by_score(["b", "a", "c"], [1.0, 1.0, 2.0])
    ['c', 'a', 'b']
    """
    if len(ids) != len(scores):
        raise ValueError(f"{len(ids)} ids but {len(scores)} scores")
    s = np.asarray(scores, dtype=np.float64)
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    order = np.lexsort((np.asarray(ids, dtype=object).astype(str), -s))
    return [ids[i] for i in order]


def is_nan(x: float) -> bool:
    return isinstance(x, float) and math.isnan(x)
