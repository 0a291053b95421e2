"""The vector-index contract every backend implements, and the filter it pushes down.

Vectors are float32, L2-normalised, compared by inner product (= cosine). Items carry
string ids (track ids) and a few scalar fields (:class:`ItemFields`: credited artists,
album, attributes, year) stored beside each vector, so that graph constraints the engine
derives run *inside* the backend as an :class:`IndexFilter` instead of as an over-fetch
loop in Python. One file per backend: :class:`~kgjemb.index.faiss_index.FaissIndex`
(embedded default) and :class:`~kgjemb.index.milvus_index.MilvusIndex` (a Milvus server
or cluster over gRPC); :data:`kgjemb.index.backends.BACKENDS` maps their names.

The contract (``index``, ``upsert``, ``delete``, ``search``, ``select``, ``fetch``, ``save``, ``load``)::

    >>> import numpy as np
    >>> from kgjemb.index import FaissIndex, IndexFilter, ItemFields
    >>> idx = FaissIndex(dim=4)
    >>> idx.index(["a", "b", "c"], np.eye(3, 4, dtype="float32"),
    ...           fields=[ItemFields(artists=("bach",), year=1725.0), ItemFields(artists=("handel",)),
    ...                   ItemFields(artists=("bach",), attributes=("genre:chorale",))])
    >>> q = np.ones((1, 4), dtype="float32")
    >>> D, I = idx.search(q, k=3, filter=IndexFilter(artists_all=("bach",)))
    >>> I
    [['a', 'c']]
    >>> idx.search(q, k=3, filter=IndexFilter(deny_ids=frozenset({"a"}), year_max=1800.0))[1]
    [[]]
    >>> idx.fetch(["c", "a"]).shape  # exact vectors for fusion, in the order asked
    (2, 4)
    >>> idx.select(IndexFilter(artists_all=("bach",)), limit=10), idx.select(IndexFilter(), limit=2)
    (['a', 'c'], None)

The engine keeps no vectors in RAM: it derives one :class:`IndexFilter` per query from its
graph constraints; ``select`` lists the items passing it when few do (they are all scored)
and keeps the graph's own candidates that pass; otherwise ``search`` with the filter gives
candidate ids per signal; ``fetch`` gives the candidates' vectors, and fusion scores them
exactly. The same calls work in-process (FAISS) and over the network (Milvus).
"""
from __future__ import annotations

import itertools
import math
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

__all__ = ["IndexFilter", "IndexRows", "ItemFields", "VectorIndex", "as_matrix", "check_search_params", "checked_rows"]

#: what :meth:`VectorIndex.tune` may change (config fields of the same names in every backend)
SEARCH_PARAMS = ("ef_search", "nprobe")


def check_search_params(search: dict) -> dict:
    """``search`` unchanged when every name is in :data:`SEARCH_PARAMS`, else ``TypeError``."""
    unknown = sorted(set(search) - set(SEARCH_PARAMS))
    if unknown:
        raise TypeError(f"not a search parameter: {unknown}; choose from {', '.join(SEARCH_PARAMS)}")
    return search


def as_matrix(vectors, dim: int | None = None, *, normalise: bool = True) -> np.ndarray:
    """Validate and convert ``vectors`` to a C-contiguous float32 ``(n, dim)`` matrix,
    L2-normalised row by row (zero rows stay zero) unless ``normalise`` is False.

    >>> as_matrix([[3.0, 4.0]]).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"vectors must be 2-D (n, dim), got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"vectors have dimension {x.shape[1]}, the index has {dim}")
    if not np.isfinite(x).all():
        raise ValueError("vectors contain NaN or infinity")
    if normalise:
        norms = np.linalg.norm(x, axis=1, keepdims=True)  # (n, 1)
        x = x / np.where(norms > 0, norms, 1.0)
    return np.ascontiguousarray(x, dtype=np.float32)


#: rows validated at a time by :func:`checked_rows` (bounded temporary memory)
CHECK_ROWS = 100_000


def checked_rows(vectors, dim: int) -> np.ndarray:
    """``vectors`` as a 2-D array of ``dim`` columns whose every row has been checked as
    :func:`as_matrix` checks it (dimension, NaN/infinity), ``CHECK_ROWS`` rows at a time,
    *without* a normalised copy of the whole: a backend writing 10^7 × 128 floats (5 GB)
    checks all of them before it writes any, then converts each batch with
    :func:`as_matrix` as it writes it.

    >>> checked_rows([[3.0, 4.0]], 2).tolist()
    [[3.0, 4.0]]
    """
    x = np.asarray(vectors)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
        return as_matrix(x, dim, normalise=False)  # one vector, or odd input: converted whole, or refused
    as_matrix(x[:0], dim)  # the dimension, even of no rows
    for lo in range(0, len(x), CHECK_ROWS):
        as_matrix(x[lo:lo + CHECK_ROWS], dim, normalise=False)
    return x


@dataclass(frozen=True)
class ItemFields:
    """Scalar fields stored beside one item's vector (what :class:`IndexFilter` tests).

    ``artists``: ids of every credited artist (any role); ``album``: the album id or None;
    ``attributes``: attribute ids the track HAS directly or through a credited artist;
    ``year``: the track's effective year (its own, else its album's, else the middle of the
    primary artist's working life) or None when unknown. Built from the graph export by
    :func:`kgjemb.index.fields.fields_from_export`; the defaults mean "nothing known".
    """

    artists: tuple[str, ...] = ()
    album: str | None = None
    attributes: tuple[str, ...] = ()
    year: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "artists", tuple(map(str, self.artists)))
        object.__setattr__(self, "attributes", tuple(map(str, self.attributes)))
        if self.year is not None:
            year = float(self.year)
            if not math.isfinite(year):
                raise ValueError(f"year must be finite or None, got {self.year!r}")
            object.__setattr__(self, "year", year)


def _ids(value) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"expected a collection of ids, got the string {value!r}")
    return frozenset(map(str, value))


@dataclass(frozen=True)
class IndexFilter:
    """A conjunction of constraints on :class:`ItemFields`, evaluated by the backend.

    An item passes when every given constraint holds (None / empty = no constraint):

    - ``allow_ids``: its id is one of these; ``deny_ids``: it is none of these;
    - ``artists_all``: every one of these artists is credited; ``artists_none``: none is;
    - ``albums_all`` / ``albums_none``: the same on its album (one album per track);
    - ``attributes_all``: it HAS every one; ``attributes_none``: it has none of them;
    - ``year_min`` / ``year_max``: its year lies in the closed range (unknown year fails).

    This maps one to one on the engine's filters (``by``/``not_by``/``exclude`` on an
    artist, album or track; ``attribute``/``not_attribute``/``era``; ``year_range``) and on
    a Milvus boolean expression. ``IndexFilter()`` passes everything.

    >>> IndexFilter(artists_none={"bach"}, year_min=1700).artists_none
    frozenset({'bach'})
    """

    allow_ids: frozenset[str] | None = None
    deny_ids: frozenset[str] = field(default_factory=frozenset)
    artists_all: frozenset[str] = field(default_factory=frozenset)
    artists_none: frozenset[str] = field(default_factory=frozenset)
    albums_all: frozenset[str] = field(default_factory=frozenset)
    albums_none: frozenset[str] = field(default_factory=frozenset)
    attributes_all: frozenset[str] = field(default_factory=frozenset)
    attributes_none: frozenset[str] = field(default_factory=frozenset)
    year_min: float | None = None
    year_max: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_ids", _ids(self.allow_ids))
        for name in ("deny_ids", "artists_all", "artists_none", "albums_all", "albums_none",
                     "attributes_all", "attributes_none"):
            object.__setattr__(self, name, _ids(getattr(self, name)) or frozenset())
        for name in ("year_min", "year_max"):
            value = getattr(self, name)
            if value is not None:
                value = float(value)
                if math.isnan(value):
                    raise ValueError(f"{name} must be a number, got NaN")
                object.__setattr__(self, name, None if math.isinf(value) else value)

    @property
    def empty(self) -> bool:
        """True when the filter passes every item."""
        return self == IndexFilter()

    def restrict(self, ids) -> "IndexFilter":
        """This filter, passing only items among ``ids`` as well (``allow_ids`` intersected).

        >>> IndexFilter(allow_ids={"a", "b"}).restrict(["b", "c"]).allow_ids
        frozenset({'b'})
        """
        ids = _ids(ids)
        return replace(self, allow_ids=ids if self.allow_ids is None else self.allow_ids & ids)

    def passes(self, item_id: str, fields: ItemFields) -> bool:
        """The reference semantics, one item at a time (backends evaluate it in bulk)."""
        if self.allow_ids is not None and item_id not in self.allow_ids:
            return False
        if item_id in self.deny_ids:
            return False
        artists, attributes = set(fields.artists), set(fields.attributes)
        album = {fields.album} if fields.album is not None else set()
        if not (self.artists_all <= artists and self.albums_all <= album and self.attributes_all <= attributes):
            return False
        if artists & self.artists_none or album & self.albums_none or attributes & self.attributes_none:
            return False
        if self.year_min is not None or self.year_max is not None:
            if fields.year is None:
                return False
            if self.year_min is not None and fields.year < self.year_min:
                return False
            if self.year_max is not None and fields.year > self.year_max:
                return False
        return True


class VectorIndex(ABC):
    """Nearest-neighbour search over string-identified vectors by inner product, with
    scalar fields per item for pushed-down filters. See the module docstring for an example."""

    #: dimension of the vectors
    dim: int
    #: registry name of the backend (a key of ``kgjemb.index.backends.BACKENDS``)
    backend: str = ""

    @abstractmethod
    def index(self, ids: Sequence[str], vectors: np.ndarray, *, fields: Sequence[ItemFields] | None = None) -> None:
        """Build from scratch, replacing whatever was there. ``fields[i]`` belongs to
        ``ids[i]`` (default: empty fields, which only id filters can select)."""

    @abstractmethod
    def upsert(self, ids: Sequence[str], vectors: np.ndarray, *, fields: Sequence[ItemFields] | None = None) -> None:
        """Insert items, replacing the vector and fields of an id already present."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> int:
        """Remove items by id; returns how many were present. Unknown ids are ignored."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int, *, filter: IndexFilter | None = None
               ) -> tuple[np.ndarray, list[list[str]]]:
        """Top ``k`` per query among the items passing ``filter``: ``(D, I)`` with ``D`` the
        ``(n_queries, k')`` scores (``-inf`` padding) and ``I`` the ids per query, best
        first. ``k' = min(k, len(self))``; fewer ids come back only when fewer items pass."""

    @abstractmethod
    def select(self, filter: IndexFilter, *, limit: int | None = None) -> list[str] | None:
        """Ids of every item passing ``filter``, in no set order; None when more than ``limit`` pass
        (``limit`` None: no limit). What the engine scores exactly when a filter is strict,
        and how it keeps the graph's candidates that pass (``filter.restrict(ids)``)."""

    @abstractmethod
    def fetch(self, ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``ids``, ``(len(ids), dim)`` in the order given; raises
        ``KeyError`` naming the first id that is not in the index."""

    @abstractmethod
    def describe(self) -> dict:
        """What the bundle manifest records about the index: ``{"backend": ..., ...}``
        (for a remote backend where to reconnect; never a secret)."""

    @abstractmethod
    def save(self, path: str | os.PathLike) -> None:
        """Write the index (or, for a remote backend, how to reach it) to directory ``path``."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | os.PathLike) -> "VectorIndex":
        """Read (reconnect to) an index written by :meth:`save`."""

    @abstractmethod
    def __len__(self) -> int: ...

    @property
    @abstractmethod
    def ids(self) -> list[str]:
        """Ids in the index (FAISS: insertion order; remote backends: sorted)."""

    @abstractmethod
    def tune(self, **search: int) -> None:
        """Change search-time parameters without rebuilding (:data:`SEARCH_PARAMS`: the
        config fields of the same names); an unknown name raises ``TypeError``
        (:func:`check_search_params`)."""

    def rows(self, ids: Sequence[str]) -> "IndexRows":
        """This index addressed by position in ``ids`` (:class:`IndexRows`: ``search``,
        ``select``, ``passing`` and ``fetch`` in rows; the engine's tracks; see
        :mod:`kgjemb.index.rows`)."""
        return IndexRows(self, ids)

    def close(self) -> None:
        """Release connections (remote backends); a no-op for in-process ones."""


class IndexRows:
    """``index`` addressed by position in ``ids``; an item of the index that is not among
    them has no row and is never returned. Rows come back as int64 arrays; :meth:`select`
    and :meth:`passing` give them sorted. Through the index's id calls: any backend."""

    def __init__(self, index, ids: Sequence[str]) -> None:
        self.index = index
        self.ids = list(ids)
        self._row = {i: r for r, i in enumerate(self.ids)}  # id → row

    def _rows(self, ids) -> np.ndarray:
        """Rows of ``ids`` in order, without ids that are not among the rows' ids."""
        rows = np.fromiter(map(self._row.get, ids, itertools.repeat(-1)), dtype=np.int64, count=len(ids))
        return rows[rows >= 0]

    def search(self, queries: np.ndarray, k: int, *, filter: IndexFilter | None = None) -> list[np.ndarray]:
        """Rows of the top ``k`` per query among the items passing ``filter``, best first
        (as :meth:`VectorIndex.search`'s ids)."""
        _, found = self.index.search(queries, k, filter=filter)
        return [self._rows(ids) for ids in found]

    def select(self, filter: IndexFilter, *, limit: int | None = None) -> np.ndarray | None:
        """Sorted rows of the items passing ``filter``; None when more than ``limit`` do."""
        ids = self.index.select(filter, limit=limit)
        return None if ids is None else np.sort(self._rows(ids))  # distinct items: distinct rows

    def passing(self, rows: np.ndarray, filter: IndexFilter) -> np.ndarray:
        """The sorted distinct rows among ``rows`` whose items pass ``filter``."""
        return self.select(filter.restrict([self.ids[r] for r in np.asarray(rows).tolist()]))

    def fetch(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors of ``rows`` ``(len(rows), dim)``, in order."""
        return self.index.fetch([self.ids[r] for r in np.asarray(rows).tolist()])
