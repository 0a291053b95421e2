"""Positives and hard negatives from the knowledge graph: the core of the design.

A :class:`GraphIndex` turns a :class:`~kgjemb.graph.base.GraphExport` into scipy sparse
adjacency matrices once; every sampling call afterwards is vectorised numpy over whole
batches (no per-edge Python loops).

Track ↔ track positives follow weighted **meta-paths** (``META_PATHS``):

=================  ===========================================================
``same_artist``    Track -BY-> Artist <-BY- Track
``same_album``     Track -ON-> Album <-ON- Track
``same_work``      Track -VERSION_OF- … -VERSION_OF- Track (one connected work)
``similar_artist`` Track -BY-> Artist -SIMILAR_TO|INFLUENCED_BY- Artist <-BY- Track
=================  ===========================================================

For an anchor, a path is drawn with probability ∝ its configured weight among the paths
that reach at least one other track; the positive is then drawn ∝ the path count × edge
weights (the entries of the meta-path matrix). Track ↔ entity positives (artist, album,
attribute of a track) feed the entity tower. Hard negatives are tracks sharing the most
attributes with the anchor while differing in at least one, never of the same work.

>>> index = GraphIndex.from_export(export)
>>> pos, path = index.sample_track_positives(np.arange(8), np.random.default_rng(0))
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from kgjemb.graph.base import GraphExport

__all__ = ["META_PATHS", "PATH_STRENGTH", "PositiveConfig", "GraphIndex"]

logger = logging.getLogger(__name__)

#: Meta-path names, in the order of the ``path`` codes returned by the sampler.
META_PATHS: tuple[str, ...] = ("same_artist", "same_album", "same_work", "similar_artist")
#: Strength order of the paths, strongest first (used for graded negatives).
PATH_STRENGTH: tuple[str, ...] = ("same_work", "same_artist", "same_album", "similar_artist")


@dataclass(frozen=True)
class PositiveConfig:
    """Meta-path weights and how edge weights count.

    ``path_weights`` maps each of ``META_PATHS`` to a non-negative weight (missing: 0).
    ``artist_roles``: which ``BY`` roles count as "same artist" (None: every role).
    ``use_edge_weights``: multiply path counts by relationship ``weight`` (missing → 1).
    ``hard_negative_pool``: candidates kept per track for hard negatives.
    """

    path_weights: dict[str, float] = field(
        default_factory=lambda: {"same_artist": 1.0, "same_album": 0.5, "same_work": 2.0, "similar_artist": 0.5}
    )
    artist_roles: tuple[str, ...] | None = None
    use_edge_weights: bool = True
    hard_negative_pool: int = 8

    def __post_init__(self) -> None:
        unknown = set(self.path_weights) - set(META_PATHS)
        if unknown:
            raise ValueError(f"unknown meta-path(s) {sorted(unknown)}; choose from {list(META_PATHS)}")
        if any(w < 0 for w in self.path_weights.values()):
            raise ValueError(f"meta-path weights must be >= 0, got {self.path_weights}")
        if self.hard_negative_pool < 1:
            raise ValueError(f"hard_negative_pool must be >= 1, got {self.hard_negative_pool}")


def _weights(frame: pd.DataFrame, use: bool) -> np.ndarray:
    if not use or len(frame) == 0:
        return np.ones(len(frame), dtype=np.float64)
    w = pd.to_numeric(frame["weight"], errors="coerce").fillna(1.0).to_numpy(dtype=np.float64)
    return np.clip(w, 1e-6, None)


def _incidence(frame: pd.DataFrame, src_index: dict, dst_index: dict, weights: np.ndarray) -> sp.csr_matrix:
    """Sparse (n_src, n_dst) matrix of an edge table; duplicate edges keep the max weight."""
    rows = frame["src"].map(src_index).to_numpy()
    cols = frame["dst"].map(dst_index).to_numpy()
    ok = ~(pd.isna(rows) | pd.isna(cols))
    rows, cols, w = rows[ok].astype(np.int64), cols[ok].astype(np.int64), weights[ok]
    m = sp.coo_matrix((w, (rows, cols)), shape=(len(src_index), len(dst_index))).tocsr()
    m.sum_duplicates()
    return m


def _no_diag(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float64)
    m.setdiag(0)
    m.eliminate_zeros()
    return m


@dataclass
class GraphIndex:
    """Sparse views of one graph export, for vectorised positive/negative sampling.

    Attributes: ``track_ids`` (row order of ``export.nodes["Track"]``), ``paths`` (one
    CSR (n_tracks, n_tracks) matrix per meta-path, diagonal removed), ``work`` (connected
    component of every track over VERSION_OF), ``track_artist`` / ``track_album`` /
    ``track_attr`` incidence matrices, and the id lists of those entity labels.
    """

    track_ids: list[str]
    paths: dict[str, sp.csr_matrix]
    work: np.ndarray
    track_artist: sp.csr_matrix
    track_album: sp.csr_matrix
    track_attr: sp.csr_matrix
    entity_ids: dict[str, list[str]]
    config: PositiveConfig = field(default_factory=PositiveConfig)
    hard_pool: np.ndarray | None = None  # (n_tracks, pool) track indices, -1 = none
    # per matrix of this index (by id, the matrix kept beside): its row sums and the running
    # sum of its stored values, which every sampling call would otherwise recompute over the
    # whole matrix (~650,000 same-artist entries on the demo); the matrices never change
    _sums: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_export(cls, export: GraphExport, config: PositiveConfig | None = None) -> "GraphIndex":
        """Build every adjacency once (O(edges) + sparse products)."""
        config = config or PositiveConfig()
        idx = {lb: export.node_index(lb) for lb in ("Track", "Artist", "Album", "Attribute")}
        ew = config.use_edge_weights
        by = export.edges[("Track", "BY", "Artist")]
        if config.artist_roles is not None:
            by = by[by["role"].isin(config.artist_roles)]
        t_ar = _incidence(by, idx["Track"], idx["Artist"], np.ones(len(by)))
        t_ar.data[:] = 1.0
        on = export.edges[("Track", "ON", "Album")]
        t_al = _incidence(on, idx["Track"], idx["Album"], np.ones(len(on)))
        has = export.edges[("Track", "HAS", "Attribute")]
        t_at = _incidence(has, idx["Track"], idx["Attribute"], np.ones(len(has)))
        t_at.data[:] = 1.0
        ver = export.edges[("Track", "VERSION_OF", "Track")]
        t_v = _incidence(ver, idx["Track"], idx["Track"], np.ones(len(ver)))
        n_works, work = connected_components(t_v, directed=False)
        rel = pd.concat(
            [export.edges[("Artist", "SIMILAR_TO", "Artist")], export.edges[("Artist", "INFLUENCED_BY", "Artist")]],
            ignore_index=True,
        )
        a_a = _incidence(rel, idx["Artist"], idx["Artist"], _weights(rel, ew))
        a_a = a_a.maximum(a_a.T).tocsr()  # symmetric: similarity goes both ways

        same_work = sp.csr_matrix(
            (np.ones(len(work)), (np.arange(len(work)), work)), shape=(len(work), n_works)
        )
        paths = {
            "same_artist": _no_diag(t_ar @ t_ar.T),
            "same_album": _no_diag(t_al @ t_al.T),
            "same_work": _no_diag(same_work @ same_work.T),
            "similar_artist": _no_diag(t_ar @ a_a @ t_ar.T),
        }
        logger.info(
            "graph index: %d tracks, positives per path %s, %d works",
            len(idx["Track"]), {k: int(v.nnz) for k, v in paths.items()}, n_works,
        )
        return cls(
            track_ids=list(export.nodes["Track"]["id"]),
            paths=paths,
            work=work.astype(np.int64),
            track_artist=t_ar,
            track_album=t_al,
            track_attr=t_at,
            entity_ids={lb: list(export.nodes[lb]["id"]) for lb in ("Artist", "Album", "Attribute")},
            config=config,
        )

    @property
    def n_tracks(self) -> int:
        return len(self.track_ids)

    # -- track ↔ track --------------------------------------------------------------------
    def sample_track_positives(
        self, anchors: np.ndarray, rng: np.random.Generator, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each anchor (track row index), one positive track and the meta-path code
        (index into ``META_PATHS``) that links them; ``-1`` for both where no path reaches
        another track. ``allowed`` (bool mask over tracks) restricts positives, e.g. to
        the training split (apply :meth:`restrict` once instead for speed)."""
        anchors = np.asarray(anchors, dtype=np.int64)
        n = len(anchors)
        mats = [self._restricted(self.paths[p], allowed) for p in META_PATHS]
        # kept for this index's own matrices; a per-call restriction's are summed here (and
        # their running sums by _sample_rows, only for the paths drawn)
        sums = [self._sums_of(m) if allowed is None else (np.asarray(m.sum(axis=1)).ravel(), None) for m in mats]
        w = np.array([self.config.path_weights.get(p, 0.0) for p in META_PATHS])  # (n_paths,)
        row_sums = np.stack([rs[anchors] for rs, _ in sums], axis=1)  # (n, n_paths)
        prob = (row_sums > 0) * w  # (n, n_paths)
        total = prob.sum(axis=1)  # (n,)
        has = total > 0
        cum = np.cumsum(prob, axis=1) / np.where(has, total, 1.0)[:, None]  # (n, n_paths)
        path = (rng.random(n)[:, None] >= cum).sum(axis=1)  # (n,)
        path = np.minimum(path, len(META_PATHS) - 1)
        positive = np.full(n, -1, dtype=np.int64)
        u = rng.random(n)
        for code, m in enumerate(mats):
            sel = np.flatnonzero(has & (path == code))
            if len(sel):
                positive[sel] = _sample_rows(m, anchors[sel], u[sel], cum=sums[code][1])
        path = np.where(has, path, -1)
        return positive, path

    def _sums_of(self, m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Row sums ``(n_rows,)`` and ``np.cumsum(m.data)`` of a matrix of this index."""
        got = self._sums.get(id(m))
        if got is None or got[0] is not m:
            got = (m, np.asarray(m.sum(axis=1)).ravel(), np.cumsum(m.data))
            self._sums[id(m)] = got
        return got[1], got[2]

    def _restricted(self, m: sp.csr_matrix, allowed: np.ndarray | None) -> sp.csr_matrix:
        if allowed is None:
            return m
        keep = sp.diags(np.asarray(allowed, dtype=np.float64))
        out = (m @ keep).tocsr()
        out.eliminate_zeros()
        return out

    def restrict(self, allowed: np.ndarray) -> "GraphIndex":
        """A copy whose meta-paths only reach tracks where ``allowed`` is True."""
        paths = {k: self._restricted(v, allowed) for k, v in self.paths.items()}
        own = {k: v for k, v in self.__dict__.items() if k != "_sums"}
        return GraphIndex(**{**own, "paths": paths, "hard_pool": None})

    def link_mask(
        self, anchors: np.ndarray, cands: np.ndarray, path: np.ndarray | None = None
    ) -> np.ndarray:
        """``(len(anchors), len(cands))`` bool: candidates that must not serve as negatives
        for each anchor. With ``path`` (the meta-path code of each anchor's positive),
        *graded*: only candidates linked by an equally strong or stronger path
        (``PATH_STRENGTH``) — a same-artist pair is pulled closer than a similar-artist pair,
        which stays a negative. Without ``path``: every linked candidate. The same track
        is always masked."""
        anchors, cands = np.asarray(anchors, dtype=np.int64), np.asarray(cands, dtype=np.int64)
        links = np.stack(
            [self.paths[p][anchors][:, cands].toarray() > 0 for p in PATH_STRENGTH]
        )  # (n_paths, A, C), strongest first
        same = anchors[:, None] == cands[None, :]  # (A, C)
        if path is None:
            return links.any(axis=0) | same
        cum = np.logical_or.accumulate(links, axis=0)  # (n_paths, A, C)
        rank = np.array([PATH_STRENGTH.index(META_PATHS[c]) if c >= 0 else len(PATH_STRENGTH) - 1 for c in path])
        return cum[rank, np.arange(len(anchors))] | same

    # -- track ↔ entity -------------------------------------------------------------------
    def sample_entities(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """For each anchor track, one linked entity: ``(label_code, entity_row)`` with
        label_code 0 = Artist, 1 = Album, 2 = Attribute (rows of ``export.nodes[label]``);
        the label is drawn uniformly among those the track links to, ``-1`` if none."""
        anchors = np.asarray(anchors, dtype=np.int64)
        mats = (self.track_artist, self.track_album, self.track_attr)
        deg = np.stack([np.diff(m.indptr)[anchors] for m in mats], axis=1)  # (n, 3)
        prob = (deg > 0).astype(np.float64)
        total = prob.sum(axis=1)
        has = total > 0
        cum = np.cumsum(prob, axis=1) / np.where(has, total, 1.0)[:, None]
        label = np.minimum((rng.random(len(anchors))[:, None] >= cum).sum(axis=1), 2)
        row = np.full(len(anchors), -1, dtype=np.int64)
        u = rng.random(len(anchors))
        for code, m in enumerate(mats):
            sel = np.flatnonzero(has & (label == code))
            if len(sel):
                row[sel] = _sample_rows(m, anchors[sel], u[sel], cum=self._sums_of(m)[1])
        return np.where(has, label, -1), row

    # -- hard negatives -------------------------------------------------------------------
    def build_hard_pool(self, *, allowed: np.ndarray | None = None, chunk: int = 2048) -> np.ndarray:
        """For every track, up to ``hard_negative_pool`` tracks with the most shared
        attributes whose attribute set differs (≥ 1 attribute), of another work and
        another primary artist; ``-1`` pads. Chunked sparse products: O(n · nnz)."""
        k = self.config.hard_negative_pool
        n = self.n_tracks
        a = self.track_attr.astype(np.float32)
        size = np.asarray(a.sum(axis=1)).ravel()  # (n,)
        pool = np.full((n, k), -1, dtype=np.int64)
        allowed_mask = np.ones(n, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
        same_artist = self.paths["same_artist"]
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            shared = (a[start:stop] @ a.T).toarray()  # (chunk, n)
            rows = np.arange(start, stop)
            identical = (shared == size[rows][:, None]) & (shared == size[None, :])  # same attribute set
            bad = identical | (self.work[rows][:, None] == self.work[None, :]) | ~allowed_mask[None, :]
            bad |= same_artist[start:stop].toarray() > 0
            bad[np.arange(stop - start), rows] = True
            score = np.where(bad | (shared <= 0), -1.0, shared)
            top = np.argsort(-score, axis=1, kind="stable")[:, :k]  # (chunk, k)
            ok = np.take_along_axis(score, top, axis=1) > 0
            pool[start:stop] = np.where(ok, top, -1)
        self.hard_pool = pool
        return pool

    def sample_hard_negatives(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One hard negative per anchor from the pool (``-1`` where the pool is empty)."""
        if self.hard_pool is None:
            self.build_hard_pool()
        pool = self.hard_pool[np.asarray(anchors, dtype=np.int64)]  # (n, k)
        count = (pool >= 0).sum(axis=1)
        pick = (rng.random(len(pool)) * np.maximum(count, 1)).astype(np.int64)
        out = pool[np.arange(len(pool)), np.minimum(pick, pool.shape[1] - 1)]
        return np.where(count > 0, out, -1)


def _sample_rows(m: sp.csr_matrix, rows: np.ndarray, u: np.ndarray, *, cum: np.ndarray | None = None) -> np.ndarray:
    """Column drawn ∝ the stored values of each row of ``m`` (every row non-empty).

    Vectorised inverse-CDF over the global cumulative sum of ``m.data`` (``cum``, when the
    caller keeps it).
    """
    cum = np.cumsum(m.data) if cum is None else cum  # (nnz,)
    start, stop = m.indptr[rows], m.indptr[rows + 1]
    before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    target = before + u * (cum[stop - 1] - before)
    pos = np.searchsorted(cum, target, side="right")
    pos = np.clip(pos, start, stop - 1)
    return m.indices[pos].astype(np.int64)
