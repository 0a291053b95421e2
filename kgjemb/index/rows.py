"""An index addressed by row: positions in a fixed id list (the engine's tracks).

The engine numbers its tracks ``0..n-1`` (the bundle's order) and works on those rows
throughout: candidate unions, graph scores, fusion. :meth:`VectorIndex.rows` gives the
index seen that way: ``search``, ``select`` and ``fetch`` take and give rows, so a query
never turns rows into id strings and back. :class:`~kgjemb.index.base.IndexRows` does it
for any backend through the id calls (one dict look-up per id, which a remote backend's round trip
dwarfs); :class:`KeyRows` maps rows straight to the in-process index's integer keys with
two arrays (FAISS): at 10^6 tracks the string round trips cost ~1 ms of a query.

>>> import numpy as np
>>> from kgjemb.index import FaissIndex, IndexFilter, ItemFields
>>> idx = FaissIndex(dim=4)
>>> idx.index(["a", "b", "c"], np.eye(3, 4, dtype="float32"), fields=[ItemFields(artists=("bach",))] * 3)
>>> rows = idx.rows(["c", "b", "a"])  # row 0 is "c"
>>> [r.tolist() for r in rows.search(np.array([[1.0, 0.0, 0.5, 0.0]], dtype="float32"), 2)]  # "a", then "c"
[[2, 0]]
>>> rows.select(IndexFilter(deny_ids=frozenset({"b"}))).tolist(), rows.fetch(np.array([2])).shape
([0, 2], (1, 4))
"""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from kgjemb.index.base import IndexFilter, IndexRows

__all__ = ["KeyRows"]


class KeyRows(IndexRows):
    """Rows mapped to an in-process index's integer keys by two arrays (``row_key``,
    ``key_row``; -1 where absent), rebuilt when the index changes. The index provides
    ``_keys`` (id → key), ``_next_key``, ``_version`` (bumped by every write) and the key-level calls
    ``_search_keys(queries, k, filter) -> (D, keys)``, ``_select_keys(filter, limit,
    among) -> keys | None`` and ``_fetch_keys(keys)``."""

    def __init__(self, index, ids: Sequence[str]) -> None:  # no id → row dict: two arrays instead
        self.index = index
        self.ids = list(ids)
        self._lock = threading.Lock()
        self._maps: tuple[int, np.ndarray, np.ndarray] | None = None
        self._arrays()  # built now, not by the first query

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(row_key, key_row)`` for the index as it is now."""
        maps = self._maps
        if maps is None or maps[0] != self.index._version:
            with self._lock:
                version, keys = self.index._version, self.index._keys
                row_key = np.fromiter((keys.get(i, -1) for i in self.ids), dtype=np.int64, count=len(self.ids))
                key_row = np.full(max(self.index._next_key, int(row_key.max(initial=-1)) + 1), -1, dtype=np.int64)
                key_row[row_key[row_key >= 0]] = np.flatnonzero(row_key >= 0)
                row_key.setflags(write=False)
                key_row.setflags(write=False)
                self._maps = maps = (version, row_key, key_row)
        return maps[1], maps[2]

    def search(self, queries: np.ndarray, k: int, *, filter: IndexFilter | None = None) -> list[np.ndarray]:
        _, key_row = self._arrays()
        _, keys = self.index._search_keys(queries, k, filter=filter)  # (n_queries, k'), -1 padding
        found = [key_row[row[row >= 0]] for row in keys]
        return [r[r >= 0] for r in found]

    def select(self, filter: IndexFilter, *, limit: int | None = None) -> np.ndarray | None:
        _, key_row = self._arrays()
        keys = self.index._select_keys(filter, limit=limit)
        return None if keys is None else _present(key_row[keys])

    def passing(self, rows: np.ndarray, filter: IndexFilter) -> np.ndarray:
        row_key, key_row = self._arrays()
        keys = row_key[np.asarray(rows, dtype=np.int64)]
        return _present(key_row[self.index._select_keys(filter, among=keys[keys >= 0])])

    def fetch(self, rows: np.ndarray) -> np.ndarray:
        row_key, _ = self._arrays()
        keys = row_key[np.asarray(rows, dtype=np.int64)]
        if (keys < 0).any():
            raise KeyError(f"id {self.ids[int(np.asarray(rows)[np.argmax(keys < 0)])]!r} is not in the index")
        return self.index._fetch_keys(keys)


def _present(rows: np.ndarray) -> np.ndarray:
    """Sorted ``rows`` without -1 (items that are not among the ids)."""
    return np.sort(rows[rows >= 0])
