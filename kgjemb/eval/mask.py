"""Masked graph snapshots for honest evaluation under missing metadata.

:func:`mask_export` hides a seeded share ``rate`` of the evaluated tracks' own edges — their
``HAS`` edges (track → attribute) and their track-level relations (every track ↔ track
type, today ``VERSION_OF``) — from a :class:`~kgjemb.graph.base.GraphExport`. Credits
(``BY``) and releases (``ON``) stay: they are nearly always known. Artist-level edges stay
too. The result is the query-time snapshot every system sees (``Engine.open(bundle,
export=masked)``); relevance is still judged on the full export.

Which edges hide is decided per edge by a keyed hash of (seed, relation, src, dst): per
relation type, the ``round(rate × n)`` candidate edges with the smallest hash hide. So the
same seed hides the same edges whatever order the export lists them in, a different seed
hides others, and the edges hidden at a lower rate are a subset of those hidden at a higher
one (the levels are nested). A relation between two tracks is a candidate when either end
is evaluated.

>>> masked = mask_export(export, track_ids=pool, rate=0.5, seed=0)  # doctest: +SKIP
>>> hidden_counts(export, masked)  # doctest: +SKIP
{'Track-HAS-Attribute': 1290, 'Track-VERSION_OF-Track': 61}
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

import numpy as np

from kgjemb.catalog.schema import REL_TYPES
from kgjemb.graph.base import EdgeKey, GraphExport

__all__ = ["MASKED_RELATIONS", "mask_export", "hidden_counts"]

logger = logging.getLogger(__name__)

#: Relation types a mask may hide: a track's attributes and its relations to other tracks.
#: ``BY`` and ``ON`` are never hidden.
MASKED_RELATIONS: tuple[EdgeKey, ...] = tuple(
    k for k in REL_TYPES if k[0] == "Track" and (k[1] == "HAS" or k[2] == "Track")
)


def _priority(seed: int, key: EdgeKey, src: str, dst: str) -> int:
    """A seeded, order-independent pseudo-random 64-bit number of one edge."""
    h = hashlib.blake2b(f"{'-'.join(key)}\x1f{src}\x1f{dst}".encode("utf-8"), digest_size=8,
                        key=str(int(seed)).encode("ascii"))
    return int.from_bytes(h.digest(), "big")


def mask_export(export: GraphExport, *, track_ids: Iterable[str], rate: float, seed: int = 0) -> GraphExport:
    """A copy of ``export`` without a seeded share ``rate`` (in [0, 1]) of the HAS and
    track ↔ track edges of ``track_ids`` (see the module docstring). Pure: ``export`` is not
    changed; node tables and untouched edge tables are shared with it, masked edge tables
    are new frames in the export's order. ``rate`` 0 returns an equal export, 1 hides every
    candidate edge."""
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:  # NaN fails too
        raise ValueError(f"mask rate must be within [0, 1], got {rate}")
    evaluated = set(map(str, track_ids))
    edges = dict(export.edges)
    for key in MASKED_RELATIONS:
        frame = export.edges[key]
        if not len(frame):
            continue
        src = frame["src"].to_numpy(dtype=object)
        dst = frame["dst"].to_numpy(dtype=object)
        cand = np.array([s in evaluated or (key[2] == "Track" and d in evaluated) for s, d in zip(src, dst)],
                        dtype=bool)  # (n_edges,)
        rows = np.flatnonzero(cand)
        n_hide = int(np.floor(rate * len(rows) + 0.5))
        if n_hide == 0:
            continue
        prio = np.array([_priority(seed, key, src[i], dst[i]) for i in rows], dtype=np.uint64)  # (n_cand,)
        order = np.lexsort((rows, prio))  # smallest hash first; the row breaks (unlikely) ties
        hide = np.zeros(len(frame), dtype=bool)
        hide[rows[order[:n_hide]]] = True
        edges[key] = frame.loc[~hide].reset_index(drop=True)
        logger.debug("mask %.2f: hid %d of %d %s edges", rate, n_hide, len(rows), "-".join(key))
    return GraphExport(nodes=dict(export.nodes), edges=edges)


def hidden_counts(full: GraphExport, masked: GraphExport) -> dict[str, int]:
    """How many edges of each maskable relation ``masked`` lacks relative to ``full``
    (``{"Track-HAS-Attribute": n, ...}``)."""
    return {"-".join(k): len(full.edges[k]) - len(masked.edges[k]) for k in MASKED_RELATIONS}
