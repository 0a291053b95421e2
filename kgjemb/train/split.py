"""Held-out split by *work*: versions of one work never straddle train and validation.

A work is a connected component of tracks over ``VERSION_OF`` (an arrangement of an
arrangement is still the same work). Whole works are shuffled with the seed and moved to
validation until ``val_fraction`` of the tracks are there, so the split is deterministic
for a given graph and seed, and evaluating "same work" retrieval on validation never
rewards memorising a training track.

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

__all__ = ["Split", "split_by_work", "work_components"]

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


def split_by_work(export: GraphExport, *, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """Split the tracks of ``export`` by work (see module docstring).

    ``val_fraction`` in [0, 1) (default 0.2); at least one work goes to validation when
    there are two or more works and the fraction is positive.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ids = np.asarray(export.nodes["Track"]["id"], dtype=object)
    n = len(ids)
    work = work_components(export)
    n_works = int(work.max()) + 1 if n else 0
    sizes = np.bincount(work, minlength=n_works)
    order = np.random.default_rng(seed).permutation(n_works)
    target = val_fraction * n
    cum = np.cumsum(sizes[order])  # tracks moved to validation after each work
    n_val_works = int(np.searchsorted(cum, target, side="left")) + (1 if target > 0 else 0)
    n_val_works = min(n_val_works, max(n_works - 1, 0))
    val_work = np.zeros(n_works, dtype=bool)
    val_work[order[:n_val_works]] = True
    val_mask = val_work[work] if n else np.zeros(0, dtype=bool)
    train_mask = ~val_mask
    logger.info("split by work: %d train / %d val tracks (%d works)", train_mask.sum(), val_mask.sum(), n_works)
    return Split(
        train_ids=tuple(sorted(ids[train_mask])),
        val_ids=tuple(sorted(ids[val_mask])),
        train_mask=train_mask,
        val_mask=val_mask,
    )
