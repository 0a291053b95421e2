"""Retrieval quality on held-out tracks: R@k and mAP@k, per attribute kind and per graph
relation.

* **text → audio**, per attribute kind: each attribute value present among the held-out
  tracks is a query (its name as a tag, e.g. ``"violin"``, ``"d minor"``); the relevant
  tracks are those that HAVE the attribute.
* **track → track**: each held-out track's audio vector queries the other held-out tracks;
  relevant = ``same_artist`` (a shared ``BY`` artist), ``same_album`` (a shared ``ON``
  album; meaningful with the split by album, which holds out whole albums) or
  ``same_work`` (same connected component over ``VERSION_OF``; split by work keeps every
  version on one side). Only the vectors score: no graph signal, since the album and
  artist edges would answer these tasks themselves.
* **held-out track → catalog** (``track_catalog``, when every track's vectors are given):
  the same tasks, but each held-out track is ranked against every track with audio, the
  training tracks included — what a user gets after ``kgjemb index add``-ing a new album to
  an index that holds the rest. With 2–3 held-out albums the first form is close to a coin
  toss between them (chance P@10 ≈ 0.47 on the real catalog); among the whole catalog
  chance is ≈ 0.13, and a tower that merely separates the training albums from each other
  gains nothing unless it also keeps the new album apart from them.
  :func:`album_catalog_metrics` breaks ``same_album`` there down by held-out album.

``R@k`` (recall@k), ``AP@k``, ``P@k`` and ``P@1`` are
:func:`kgjemb.metrics.retrieval_metrics` (the definitions shared with ``kgjemb eval``:
recall = hits in the top k / |relevant|; P@1 = share of queries whose nearest neighbour
is relevant). Queries
with no relevant candidate are left out; ``n`` says how many counted.
Everything is a few matrix products (exact, brute force: evaluation sets are small).

>>> metrics = evaluate_vectors(export, split.val_mask, audio, model.embed_text, k=10)
>>> metrics["track_track"]["same_work"]["map"]
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

from kgjemb.graph.base import GraphExport
from kgjemb.metrics import retrieval_metrics
from kgjemb.train.positives import GraphIndex

__all__ = ["CAP_COLUMN", "TRACK_TASKS", "album_catalog_metrics", "catalog_track_metrics", "evaluate_vectors",
           "random_vectors", "summary_rows"]

logger = logging.getLogger(__name__)

TextEncoder = Callable[[Sequence[str]], np.ndarray]

#: track → track tasks, each a meta-path of :class:`GraphIndex` (relevant = linked by it)
TRACK_TASKS: tuple[str, ...] = ("same_album", "same_artist", "same_work")


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def evaluate_vectors(
    export: GraphExport,
    mask: np.ndarray,
    audio: np.ndarray,
    embed_text: TextEncoder | None,
    *,
    k: int = 10,
    index: GraphIndex | None = None,
    min_relevant: int = 1,
    catalog: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """Metrics of one set of audio vectors over the tracks selected by ``mask``.

    ``audio``: (mask.sum(), dim) vectors of the selected tracks in Track-row order;
    ``embed_text``: strings → (n, dim) (None: skip text → audio); ``catalog``: (Track rows,
    (n, dim) vectors) of every track to rank against, the selected ones among them (None:
    no ``track_catalog`` group). Returns ``{"text_audio": {kind: {recall, map, n}, "all": …},
    "track_track": {relation: …}}`` and, with ``catalog``, ``"track_catalog": {relation: …}``.
    """
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask)
    if audio.shape[0] != len(rows):
        raise ValueError(f"audio has {audio.shape[0]} rows but the mask selects {len(rows)} tracks")
    index = index or GraphIndex.from_export(export)
    a = _normalise(audio)  # (n_val, dim)
    out: dict = {"k": k, "n_tracks": int(len(rows)), "text_audio": {}, "track_track": {}}

    if embed_text is not None and len(rows):
        has = index.track_attr[rows].toarray() > 0  # (n_val, n_attr)
        attrs = export.nodes["Attribute"]
        counts = has.sum(axis=0)
        usable = np.flatnonzero(counts >= min_relevant)
        if len(usable):
            names = [str(attrs["name"].iloc[j]).lower() for j in usable]
            kinds = np.asarray(attrs["kind"].iloc[usable], dtype=object)
            q = _normalise(embed_text(names))  # (n_q, dim)
            scores = q @ a.T  # (n_q, n_val)
            relevant = has[:, usable].T  # (n_q, n_val)
            for kind in sorted(set(kinds)):
                sel = kinds == kind
                out["text_audio"][kind] = retrieval_metrics(scores[sel], relevant[sel], k=k)
            out["text_audio"]["all"] = retrieval_metrics(scores, relevant, k=k)

    scores = a @ a.T  # (n_val, n_val)
    np.fill_diagonal(scores, -np.inf)
    for name in TRACK_TASKS:
        relevant = index.paths[name][rows][:, rows].toarray() > 0  # (n_val, n_val)
        np.fill_diagonal(relevant, False)
        out["track_track"][name] = retrieval_metrics(scores, relevant, k=k)
    if catalog is not None:
        out["track_catalog"] = catalog_track_metrics(rows, catalog[0], catalog[1], index, k=k)
    return out


def catalog_track_metrics(
    rows: np.ndarray, catalog_rows: np.ndarray, catalog_vectors: np.ndarray, index: GraphIndex, *, k: int = 10
) -> dict:
    """Track → track tasks of the Track ``rows`` (queries) ranked against every track of
    ``catalog_rows`` (sorted, holding every query) by the cosine of ``catalog_vectors``
    (one row each), a query's own row left out: ``{relation: metrics}``."""
    scores, own = _catalog_scores(rows, catalog_rows, catalog_vectors)
    return {name: retrieval_metrics(scores, _catalog_relevant(index, name, rows, catalog_rows, own), k=k)
            for name in TRACK_TASKS}


def album_catalog_metrics(
    export: GraphExport, rows: np.ndarray, catalog_rows: np.ndarray, catalog_vectors: np.ndarray,
    *, index: GraphIndex | None = None, k: int = 10,
) -> list[dict]:
    """``same_album`` in the catalog gallery (as :func:`catalog_track_metrics`) per album of
    the query Track ``rows``: one row ``{album, title, queries, R@k, P@k, P@1, n}`` per album
    (its tracks among ``rows`` are its queries; ``n`` of them have an album-mate in the
    catalog; an album with none, e.g. of one track, gives no row), in album id order. Which
    held-out albums a tower places and which it loses among the rest: a mean over every
    query hides that."""
    index = index or GraphIndex.from_export(export)
    rows = np.asarray(rows)
    scores, own = _catalog_scores(rows, catalog_rows, catalog_vectors)
    relevant = _catalog_relevant(index, "same_album", rows, np.asarray(catalog_rows), own)
    on_album = index.track_album[rows].toarray() > 0  # (n_q, n_albums), Album rows in id order
    owner = np.where(on_album.any(axis=1), on_album.argmax(axis=1), -1)  # a track on several: its first
    albums = export.nodes["Album"]
    out = []
    for a in np.unique(owner[owner >= 0]):
        sel = owner == a
        m = retrieval_metrics(scores[sel], relevant[sel], k=k)
        if not m["n"]:  # no album-mate in the catalog (a one-track album): nothing to score
            continue
        out.append({"album": albums["id"].iloc[a], "title": str(albums["title"].iloc[a]), "queries": int(sel.sum()),
                    f"R@{k}": m["recall"], f"P@{k}": m["precision"], "P@1": m["p1"], "n": m["n"]})
    return out


def _catalog_scores(rows: np.ndarray, catalog_rows: np.ndarray, catalog_vectors: np.ndarray):
    """Cosines of the query ``rows`` against every catalog track ``(n_q, n_cat)``, each
    query's own column -inf, and that column's (row, col) indices."""
    catalog_rows = np.asarray(catalog_rows)
    at = np.searchsorted(catalog_rows, rows)
    if len(rows) and (at.max() >= len(catalog_rows) or not np.array_equal(catalog_rows[at], rows)):
        raise ValueError("the catalog must hold every query track")
    c = _normalise(catalog_vectors)  # (n_cat, dim)
    scores = c[at] @ c.T  # (n_q, n_cat)
    own = (np.arange(len(rows)), at)
    scores[own] = -np.inf
    return scores, own


def _catalog_relevant(index: GraphIndex, name: str, rows, catalog_rows, own) -> np.ndarray:
    """Whether each catalog track is linked to each query by the meta-path ``name``, the
    query itself excluded ``(n_q, n_cat)``."""
    relevant = index.paths[name][rows][:, catalog_rows].toarray() > 0
    relevant[own] = False
    return relevant


def random_vectors(n: int, dim: int = 128, *, seed: int = 0) -> np.ndarray:
    """The chance baseline: i.i.d. Gaussian vectors, ``(n, dim)``."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


#: table column of mean APcap@k (AP ÷ min(k, |R|), :mod:`kgjemb.metrics`), next to mAP@k (÷ |R|)
CAP_COLUMN = "mAP@{k} (÷min(k,|R|))"


def summary_rows(name: str, metrics: dict) -> list[dict]:
    """Flatten one metrics dict into table rows ``{system, task, R@k, mAP@k, P@k, P@1,
    mAP@k (÷min(k,|R|)), n}`` (the last metric blank for metrics saved before it existed).

    A task no query could be scored on (``n`` = 0, e.g. same_work on a catalog without
    VERSION_OF edges) gives no row rather than a row of NaNs."""
    k = metrics.get("k", 10)
    rows = []
    for group in ("text_audio", "track_track", "track_catalog"):
        for task, m in metrics.get(group, {}).items():
            if not m.get("n"):
                continue
            rows.append({"system": name, "task": f"{group}:{task}", f"R@{k}": m["recall"], f"mAP@{k}": m["map"],
                         f"P@{k}": m.get("precision"), "P@1": m.get("p1"), CAP_COLUMN.format(k=k): m.get("map_cap"),
                         "n": m["n"]})
    return rows
