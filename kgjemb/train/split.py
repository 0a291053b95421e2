"""Held-out splits by *work* (default) or by *album*: a group never straddles train and
validation.

By work: versions of one work never straddle train and validation.

A work is a connected component of tracks over ``VERSION_OF`` (an arrangement of an
arrangement is still the same work). Whole works are shuffled with the seed and moved to
validation until ``val_fraction`` of the tracks are there, so the split is deterministic
for a given graph and seed, and evaluating "same work" retrieval on validation never
rewards memorising a training track.

By album (``split_by_album``): every track ``ON`` one album goes to the same side (a track
on no album is a group of its own), so "same album" retrieval on validation asks for
albums the model never heard. ``make_split(export, by=...)`` picks one of :data:`SPLITS`.

>>> split = split_by_work(export, val_fraction=0.2, seed=0)
>>> len(split.train_ids) + len(split.val_ids) == len(export.nodes["Track"])
True
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from kgjemb.graph.base import GraphExport

__all__ = ["SPLITS", "Split", "album_groups", "make_split", "split_by_album", "split_by_work", "work_components"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Track ids of each side (sorted) and the boolean masks over ``export.nodes["Track"]``."""

    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    train_mask: np.ndarray
    val_mask: np.ndarray

    def to_dict(self) -> dict:
        return {"train": list(self.train_ids), "val": list(self.val_ids)}


def work_components(export: GraphExport) -> np.ndarray:
    """Component label (int) of every Track row, over undirected VERSION_OF edges."""
    tracks = export.nodes["Track"]
    index = export.node_index("Track")
    ver = export.edges[("Track", "VERSION_OF", "Track")]
    src = ver["src"].map(index)
    dst = ver["dst"].map(index)
    ok = src.notna().to_numpy() & dst.notna().to_numpy()
    n = len(tracks)
    adj = sp.coo_matrix(
        (np.ones(int(ok.sum())), (src[ok].astype(np.int64), dst[ok].astype(np.int64))), shape=(n, n)
    )
    _, labels = connected_components(adj, directed=False)
    return labels.astype(np.int64)


def album_groups(export: GraphExport) -> np.ndarray:
    """Group label (int) of every Track row: its album (the first ``ON`` edge, by album id),
    or a group of its own when it is on no album."""
    ids = list(export.nodes["Track"]["id"])
    on = export.edges[("Track", "ON", "Album")].sort_values(["src", "dst"]).drop_duplicates("src")
    album_of = dict(zip(on["src"], on["dst"]))
    keys = [("album", album_of[t]) if t in album_of else ("track", t) for t in ids]
    codes = {k: i for i, k in enumerate(sorted(set(keys)))}
    return np.array([codes[k] for k in keys], dtype=np.int64)


def split_by_work(export: GraphExport, *, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """Split the tracks of ``export`` by work (see module docstring).

    ``val_fraction`` in [0, 1) (default 0.2); at least one work goes to validation when
    there are two or more works and the fraction is positive.
    """
    return _split_groups(export, work_components(export), val_fraction=val_fraction, seed=seed, what="work")


def split_by_album(export: GraphExport, *, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """Split the tracks of ``export`` by album (see module docstring); ``val_fraction`` and
    ``seed`` as in :func:`split_by_work`."""
    return _split_groups(export, album_groups(export), val_fraction=val_fraction, seed=seed, what="album")


#: Held-out splits by name (``TrainConfig.split``, ``kgjemb train-compare --split``).
SPLITS = {"work": split_by_work, "album": split_by_album}


def make_split(export: GraphExport, *, by: str = "work", val_fraction: float = 0.2, seed: int = 0) -> Split:
    """The split of ``export`` named ``by`` (one of :data:`SPLITS`)."""
    if by not in SPLITS:
        raise ValueError(f"unknown split {by!r}; choose from {sorted(SPLITS)}")
    return SPLITS[by](export, val_fraction=val_fraction, seed=seed)


def _split_groups(export: GraphExport, group: np.ndarray, *, val_fraction: float, seed: int, what: str) -> Split:
    """Shuffle whole groups with ``seed`` and move them to validation until
    ``val_fraction`` of the tracks are there."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ids = np.asarray(export.nodes["Track"]["id"], dtype=object)
    n = len(ids)
    n_groups = int(group.max()) + 1 if n else 0
    sizes = np.bincount(group, minlength=n_groups)
    order = np.random.default_rng(seed).permutation(n_groups)
    target = val_fraction * n
    cum = np.cumsum(sizes[order])  # tracks moved to validation after each group
    n_val_groups = int(np.searchsorted(cum, target, side="left")) + (1 if target > 0 else 0)
    n_val_groups = min(n_val_groups, max(n_groups - 1, 0))
    val_group = np.zeros(n_groups, dtype=bool)
    val_group[order[:n_val_groups]] = True
    val_mask = val_group[group] if n else np.zeros(0, dtype=bool)
    train_mask = ~val_mask
    logger.info("split by %s: %d train / %d val tracks (%d groups)", what, train_mask.sum(), val_mask.sum(), n_groups)
    return Split(
        train_ids=tuple(sorted(ids[train_mask])),
        val_ids=tuple(sorted(ids[val_mask])),
        train_mask=train_mask,
        val_mask=val_mask,
    )
