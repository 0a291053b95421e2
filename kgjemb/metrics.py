"""Ranking metrics: the one set of definitions behind ``kgjemb eval`` and
``kgjemb train-compare`` (and the trainer's validation numbers).

It sits at the bottom of the package (beside ``errors`` and ``paths``) so that both the
evaluation layer and the trainer import it without either importing the other.

Definitions, standard ones (trec_eval / ranx): a query has a ranking (ids best first) and
grades ``{id: grade}``, grade > 0 = relevant (binary relevance is grade 1); ``R`` = the
number of relevant ids; a ranking shorter than ``k`` counts as padded with misses.

* ``recall@k``  = |relevant ∩ top-k| / R
* ``rcap@k``    = |relevant ∩ top-k| / min(k, R) — "R-cap", 1 for a perfect ranking even
  when R > k; reported only under this name
* ``P@k``       = |relevant ∩ top-k| / k
* ``AP@k``      = Σ_{i ≤ k, rank i relevant} P@i / R (trec_eval ``map_cut``, ranx ``map@k``);
  ``mAP@k`` is its mean over queries
* ``APcap@k``   = the same sum / min(k, R): the R-cap form of AP@k (1 for a perfect top k
  even when R > k); reported only under this name (``map_cap`` of
  :func:`retrieval_metrics`), the scale of issue 11's instrument figures
* ``nDCG@k``    = DCG@k / IDCG@k, discount 1 / log2(i + 1), gain ``linear`` (= grade; the
  default, as trec_eval ``ndcg_cut`` and ranx ``ndcg``) or ``exponential`` (2^grade − 1,
  ranx ``ndcg_burges``); IDCG over the ideal ordering of all graded ids
* ``RR@k``      = 1 / rank of the first relevant id within the top k (0 if none; k = None:
  the whole ranking); ``MRR`` is its mean

A query with no relevant id has undefined metrics: :func:`query_metrics` returns None,
:func:`mean_metrics` leaves it out and counts it. Two forms share one implementation: per
query over id lists (:func:`query_metrics`, used by evaluation) and batched over a score
matrix (:func:`retrieval_metrics`, used by training); both reduce to a matrix of grades at
ranks 1..k. Ties are broken deterministically: :func:`rank_by_score` by id,
:func:`retrieval_metrics` by candidate position.

>>> query_metrics(["a", "b", "c"], {"b": 1, "z": 1}, ks=(1, 5), k=5)["R@5"]
0.5
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "GAINS", "recall_at_k", "rcap_at_k", "precision_at_k", "average_precision_at_k", "ndcg_at_k",
    "reciprocal_rank", "query_metrics", "mean_metrics", "metric_names", "rank_by_score", "retrieval_metrics",
]

#: nDCG gain functions: ``linear`` (grade, the trec_eval / ranx default) or ``exponential``
#: (2^grade − 1).
GAINS = ("linear", "exponential")

Grades = Mapping[str, float]


def _check_k(k: int) -> int:
    if isinstance(k, bool) or int(k) != k or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


# -- the definitions, on grades at ranks 1..k ---------------------------------------------
# ``g``: (n_q, k) grade of the id at each rank (0 = not relevant or past the ranking's end);
# ``n_rel``: (n_q,) number of relevant ids (> 0); ``ideal``: (n_q, k) grades sorted
# descending (the best possible top k), zero-padded.

def _recall(g: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return (g > 0).sum(axis=1) / n_rel


def _rcap(g: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return (g > 0).sum(axis=1) / np.minimum(n_rel, g.shape[1])


def _precision(g: np.ndarray) -> np.ndarray:
    return (g > 0).sum(axis=1) / g.shape[1]


def _average_precision(g: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    hits = (g > 0).astype(np.float64)  # (n_q, k)
    prec = np.cumsum(hits, axis=1) / np.arange(1, g.shape[1] + 1)  # (n_q, k)
    return (prec * hits).sum(axis=1) / n_rel


def _average_precision_cap(g: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return _average_precision(g, np.minimum(n_rel, g.shape[1]))  # (n_q,): ÷ min(k, R)


def _gain(g: np.ndarray, gain: str) -> np.ndarray:
    if gain == "linear":
        return np.maximum(g, 0.0)
    if gain == "exponential":
        return np.exp2(np.maximum(g, 0.0)) - 1.0
    raise ValueError(f"unknown gain {gain!r}; choose from {list(GAINS)}")


def _ndcg(g: np.ndarray, ideal: np.ndarray, gain: str) -> np.ndarray:
    disc = 1.0 / np.log2(np.arange(2, g.shape[1] + 2))  # (k,)
    dcg = _gain(g, gain) @ disc  # (n_q,)
    idcg = _gain(ideal, gain) @ disc  # (n_q,)
    return dcg / idcg


def _reciprocal_rank(g: np.ndarray) -> np.ndarray:
    hit = g > 0  # (n_q, k)
    first = hit.argmax(axis=1)  # (n_q,)
    return np.where(hit.any(axis=1), 1.0 / (first + 1), 0.0)


# -- per query, over id lists --------------------------------------------------------------

def _row(ranked: Sequence[str], grades: Grades, k: int) -> np.ndarray:
    g = np.zeros((1, k), dtype=np.float64)  # (1, k)
    for i, t in enumerate(list(ranked)[:k]):
        g[0, i] = max(float(grades.get(t, 0)), 0.0)
    return g


def _n_relevant(grades: Grades) -> int:
    return sum(1 for v in grades.values() if v > 0)


def _ideal(grades: Grades, k: int) -> np.ndarray:
    best = sorted((float(v) for v in grades.values() if v > 0), reverse=True)[:k]
    out = np.zeros((1, k), dtype=np.float64)  # (1, k)
    out[0, : len(best)] = best
    return out


def recall_at_k(ranked: Sequence[str], grades: Grades, k: int) -> float:
    """|relevant ∩ top-k| / R; NaN when nothing is relevant."""
    k, r = _check_k(k), _n_relevant(grades)
    return float("nan") if r == 0 else float(_recall(_row(ranked, grades, k), np.array([r]))[0])


def rcap_at_k(ranked: Sequence[str], grades: Grades, k: int) -> float:
    """R-cap: |relevant ∩ top-k| / min(k, R); NaN when nothing is relevant."""
    k, r = _check_k(k), _n_relevant(grades)
    return float("nan") if r == 0 else float(_rcap(_row(ranked, grades, k), np.array([r]))[0])


def precision_at_k(ranked: Sequence[str], grades: Grades, k: int) -> float:
    """|relevant ∩ top-k| / k; NaN when nothing is relevant."""
    k = _check_k(k)
    return float("nan") if _n_relevant(grades) == 0 else float(_precision(_row(ranked, grades, k))[0])


def average_precision_at_k(ranked: Sequence[str], grades: Grades, k: int) -> float:
    """Σ P@i over relevant ranks i ≤ k, divided by R; NaN when nothing is relevant."""
    k, r = _check_k(k), _n_relevant(grades)
    return float("nan") if r == 0 else float(_average_precision(_row(ranked, grades, k), np.array([r]))[0])


def ndcg_at_k(ranked: Sequence[str], grades: Grades, k: int, *, gain: str = "linear") -> float:
    """nDCG@k with ``gain`` ``"linear"`` (default) or ``"exponential"``; NaN when nothing
    is relevant."""
    k = _check_k(k)
    if _n_relevant(grades) == 0:
        return float("nan")
    return float(_ndcg(_row(ranked, grades, k), _ideal(grades, k), gain)[0])


def reciprocal_rank(ranked: Sequence[str], grades: Grades, k: int | None = None) -> float:
    """1 / rank of the first relevant id within the top ``k`` (None: all of ``ranked``);
    0 if none there; NaN when nothing is relevant."""
    if _n_relevant(grades) == 0:
        return float("nan")
    k = len(ranked) if k is None else _check_k(k)
    if k == 0:
        return 0.0
    return float(_reciprocal_rank(_row(ranked, grades, k))[0])


def metric_names(ks: Iterable[int] = (1, 5, 10), k: int = 10) -> list[str]:
    """Names in the order :func:`query_metrics` returns them."""
    return [f"R@{x}" for x in ks] + [f"P@{k}", f"mAP@{k}", f"nDCG@{k}", "MRR"]


def query_metrics(ranked: Sequence[str], grades: Grades, *, ks: Iterable[int] = (1, 5, 10), k: int = 10,
                  gain: str = "linear") -> dict | None:
    """All metrics of one query (:func:`metric_names`: recall at each of ``ks``, then P,
    mAP and nDCG at ``k``, and MRR over the whole ranking); None when nothing is relevant.

    >>> query_metrics(["x", "a"], {"a": 1}, ks=(1,), k=2)["MRR"]
    0.5
    """
    if _n_relevant(grades) == 0:
        return None
    out = {f"R@{x}": recall_at_k(ranked, grades, x) for x in ks}
    out[f"P@{k}"] = precision_at_k(ranked, grades, k)
    out[f"mAP@{k}"] = average_precision_at_k(ranked, grades, k)
    out[f"nDCG@{k}"] = ndcg_at_k(ranked, grades, k, gain=gain)
    out["MRR"] = reciprocal_rank(ranked, grades)
    return out


def mean_metrics(per_query: Sequence[dict | None]) -> dict:
    """Mean of every metric over the queries that have one; ``n`` counts them and
    ``n_empty`` the queries left out for having no relevant id."""
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


# -- batched, over a score matrix ----------------------------------------------------------

def retrieval_metrics(scores: np.ndarray, relevant: np.ndarray, *, k: int = 10) -> dict[str, float]:
    """Mean recall@k, AP@k, P@k and P@1 (the definitions above) over the queries with at
    least one relevant candidate: ``{"recall", "map", "precision", "p1", "n"}`` (NaN means
    and n = 0 when none), plus ``map_cap`` (mean APcap@k, AP ÷ min(k, R)). P@1 is the share
    of queries whose best candidate is relevant.

    ``scores``: (n_queries, n_candidates), higher is better; ``relevant``: same shape, bool
    or grades. Exclude a query's own row beforehand (e.g. set its score to -inf). Ties are
    broken by candidate position, so results never depend on chance.
    """
    if scores.shape != relevant.shape:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} differ in shape")
    k = _check_k(k)
    rel = np.asarray(relevant, dtype=np.float64)  # (n_q, n_c)
    n_rel = (rel > 0).sum(axis=1)  # (n_q,)
    keep = n_rel > 0
    if not keep.any():
        return {"recall": float("nan"), "map": float("nan"), "map_cap": float("nan"), "precision": float("nan"),
                "p1": float("nan"), "n": 0}
    scores, rel, n_rel = scores[keep], rel[keep], n_rel[keep]
    kk = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :kk]  # (n_q, kk)
    g = np.zeros((len(top), k), dtype=np.float64)  # (n_q, k), padded with misses past n_c
    g[:, :kk] = np.take_along_axis(rel, top, axis=1)
    return {"recall": float(_recall(g, n_rel).mean()), "map": float(_average_precision(g, n_rel).mean()),
            "map_cap": float(_average_precision_cap(g, n_rel).mean()), "precision": float(_precision(g).mean()), "p1": float((g[:, 0] > 0).mean()), "n": int(keep.sum())}
