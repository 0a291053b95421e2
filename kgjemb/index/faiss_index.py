"""FAISS backend of :class:`~kgjemb.index.base.VectorIndex`: inner product on L2-normalised
vectors, string ids, exact search for small collections and HNSW above.

The FAISS index is wrapped in ``IndexIDMap2`` so items keep stable integer keys across
deletes; index types that cannot remove items in place (HNSW, IVF) are rebuilt from their
stored vectors on delete.

Filters: each item's :class:`~kgjemb.index.base.ItemFields` are kept in memory with
inverted maps (artist/album/attribute → keys, year per key); an
:class:`~kgjemb.index.base.IndexFilter` becomes a bitmap over the keys (the last few are
kept, so a query's ``select`` and ``search`` share one), handed to FAISS as an
``IDSelectorBitmap`` in the search parameters, so the index only ever returns allowed
items; a filter that only denies a few ids uses ``IDSelectorNot(IDSelectorBatch)`` and no
bitmap. When few items pass (``IndexConfig.exact_filter_max``) or an approximate index
finds fewer than ``k`` of them, the allowed items are scored exactly instead.

With ``faiss-gpu`` installed and the device resolving to ``cuda`` (:mod:`kgjemb.device`),
Flat/IVF indexes also search on a GPU copy (HNSW stays on the CPU: FAISS has no GPU HNSW).
A GPU search returns at most ``GPU_MAX_K`` (2,048) neighbours, so a larger ``k`` searches
the CPU master copy instead, as do filtered searches (selectors are CPU-only); GPU searches
hold a lock, since FAISS does not document GPU indexes as safe under concurrent searches
(``serve`` runs engine threads).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from kgjemb.device import default_device
from kgjemb.errors import MissingDependencyError
from kgjemb.index.base import IndexFilter, ItemFields, VectorIndex, as_matrix, check_search_params, checked_rows
from kgjemb.index.fields import FieldMasks
from kgjemb.index.rows import KeyRows

__all__ = ["GPU_MAX_K", "FaissIndex", "IndexConfig", "import_faiss", "resolve_factory"]

logger = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
IDS_FILE = "ids.json"
FIELDS_FILE = "fields.json"
CONFIG_FILE = "config.json"
#: most neighbours one FAISS GPU search returns (GPU_MAX_SELECTION_K in faiss/gpu)
GPU_MAX_K = 2048
#: filter masks kept per index (a query's select and search share one)
_MASKS_KEPT = 16


def import_faiss():
    """``import faiss`` or a :class:`MissingDependencyError` saying which extra installs it."""
    try:
        import faiss
    except ImportError as err:
        raise MissingDependencyError(
            "FAISS is missing: pip install 'kgjemb[cpu]' (faiss-cpu) or 'kgjemb[gpu]' (faiss-gpu); "
            "never both, they own the same module"
        ) from err
    return faiss


@dataclass(frozen=True)
class IndexConfig:
    """How the FAISS index is built and searched.

    ``factory``: a FAISS ``index_factory`` string ("Flat", "HNSW32", "IVF1024,Flat", ...)
    or ``"auto"`` (default): exact ``"Flat"`` below ``flat_threshold`` (50,000) vectors,
    ``"HNSW32"`` at or above. ``ef_search``: HNSW search breadth (64; recall ≥ 0.99 on
    clustered data); ``ef_construction``: HNSW build breadth (40, FAISS's default);
    ``nprobe``: IVF lists visited (16); ``gpu``: also search on a GPU copy (None = when the
    process device, :func:`kgjemb.device.default_device`, is ``cuda``; True = whenever
    FAISS sees a GPU; False = never).
    ``exact_filter_max``: a filtered search scores the allowed items exactly when at most
    this many pass (4096), where graph-based ANN loses recall.

    >>> IndexConfig(factory="HNSW32", ef_search=128)
    IndexConfig(factory='HNSW32', flat_threshold=50000, ef_search=128, ef_construction=40, nprobe=16, gpu=None, exact_filter_max=4096)
    """

    factory: str = "auto"
    flat_threshold: int = 50_000
    ef_search: int = 64
    ef_construction: int = 40
    nprobe: int = 16
    gpu: bool | None = None
    exact_filter_max: int = 4096

    def __post_init__(self) -> None:
        if not isinstance(self.factory, str) or not self.factory.strip():
            raise ValueError("factory must be a FAISS index_factory string or 'auto'")
        for name in ("flat_threshold", "ef_search", "ef_construction", "nprobe", "exact_filter_max"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


def resolve_factory(config: IndexConfig, n: int) -> str:
    """The factory string actually used for ``n`` vectors.

    >>> resolve_factory(IndexConfig(), 1000), resolve_factory(IndexConfig(), 1_000_000)
    ('Flat', 'HNSW32')
    """
    if config.factory.lower() != "auto":
        return config.factory
    return "Flat" if n < config.flat_threshold else "HNSW32"


class FaissIndex(VectorIndex):
    """String-keyed FAISS index. Searches are safe from many threads at once; writes
    (``index``/``upsert``/``delete``) must not overlap searches (the bundle rebuilds and
    swaps instead of writing under readers).

    >>> idx = FaissIndex(dim=4)
    >>> idx.index(["a", "b"], np.eye(2, 4, dtype="float32"))
    >>> D, I = idx.search(np.array([[1, 0, 0, 0]], dtype="float32"), k=1)
    >>> I
    [['a']]
    """

    backend = "faiss"

    def __init__(self, dim: int, config: IndexConfig = IndexConfig()) -> None:
        if int(dim) <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.faiss = import_faiss()
        self.dim = int(dim)
        self.config = config
        self.factory: str | None = None
        self._index = None  # IndexIDMap2 around the factory index (CPU master copy)
        self._gpu: _GpuSearcher | None = None  # GPU copy for k <= its cap, else None
        self._keys: dict[str, int] = {}  # id -> faiss key
        # faiss key -> id (None once deleted): keys are handed out in order, so a list; a
        # second dict cost ~60 MB per 10^6 items beside the first, a list 8 MB
        self._ids: list[str | None] = []
        self._next_key = 0
        self._fields: dict[int, ItemFields] = {}  # faiss key -> scalar fields (absent = empty)
        self._inverted: FieldMasks | None = None  # built on the first filtered search after a write
        self._masks: dict[IndexFilter, tuple[np.ndarray, int]] = {}  # recent filters' masks (reset on writes)
        self._kind = "plain"  # which SearchParameters subclass the index takes: plain, hnsw, ivf
        self._write_lock = threading.Lock()
        self._version = 0  # bumped by every write: row views (rows()) rebuild their key maps

    # -- building -------------------------------------------------------------------------

    def _new_index(self, factory: str):
        faiss = self.faiss
        inner = faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT)
        down = faiss.downcast_index(inner)
        hnsw = getattr(down, "hnsw", None)
        if hnsw is not None:
            hnsw.efConstruction = self.config.ef_construction
        if getattr(down, "do_polysemous_training", False):
            # PQ codes reordered for Hamming-distance search, which is never used here: it
            # tripled IVF1024,PQ32's training time on 10^5 vectors (41 s against 14 s)
            down.do_polysemous_training = False
        return faiss.IndexIDMap2(inner)

    def _tune(self) -> None:
        """Apply search-time parameters and (re)make the GPU clone."""
        faiss = self.faiss
        inner = faiss.downcast_index(self._index.index)
        self._kind = "plain"
        self._inverted = None
        self._masks = {}
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = self.config.ef_search
            self._kind = "hnsw"
        try:
            ivf = faiss.extract_index_ivf(inner)
        except (RuntimeError, AttributeError):
            ivf = None  # not an IVF index
        if ivf is not None:
            ivf.nprobe = self.config.nprobe
            ivf.make_direct_map(True)  # reconstruct by key for fetch(); deletes rebuild (see delete)
            self._kind = "ivf"
        self._gpu = None
        use_gpu = self.config.gpu if self.config.gpu is not None else default_device() == "cuda"
        if not use_gpu:
            return
        if not (hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0):
            logger.info("FAISS sees no GPU (faiss-cpu installed? pip install 'kgjemb[gpu]'): searching on the CPU")
            return
        try:
            self._gpu = _GpuSearcher(faiss.index_cpu_to_all_gpus(self._index), max_k=GPU_MAX_K)
            logger.info("searching %s on %d GPU(s), k <= %d", self.factory, faiss.get_num_gpus(), GPU_MAX_K)
        except (RuntimeError, AttributeError) as err:  # e.g. HNSW has no GPU version
            logger.info("index %s stays on CPU: %s", self.factory, err)

    def index(self, ids: Sequence[str], vectors: np.ndarray, *, fields: Sequence[ItemFields] | None = None,
              factory: str | None = None) -> None:
        """Build from scratch with ``factory`` (default: the config's, resolved for the size)."""
        ids = [str(i) for i in ids]
        x = checked_rows(vectors, self.dim)  # (n, dim), every row checked, not copied
        fields = _check_fields(ids, fields)
        if len(ids) != x.shape[0]:
            raise ValueError(f"{len(ids)} ids for {x.shape[0]} vectors")
        if len(set(ids)) != len(ids):
            raise ValueError("ids must be unique")
        with self._write_lock:
            self.factory = factory or resolve_factory(self.config, len(ids))
            start = time.perf_counter()
            index = self._new_index(self.factory)
            if not index.is_trained:
                if len(ids) == 0:
                    raise ValueError(f"index {self.factory!r} needs training vectors")
                index.train(_training_sample(x, self.dim))
            keys = np.arange(len(ids), dtype=np.int64)
            _add(index, x, keys, self.dim)
            self._index = index
            self._keys = {i: int(k) for i, k in zip(ids, keys)}
            self._ids = list(ids)  # keys are 0..n-1
            self._fields = {int(k): f for k, f in zip(keys, fields) if f != ItemFields()}
            self._next_key = len(ids)
            self._version += 1
            self._tune()
            logger.info("built %s over %d×%d in %.2fs", self.factory, len(ids), self.dim, time.perf_counter() - start)

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, *, fields: Sequence[ItemFields] | None = None) -> None:
        """Add items; an id already present gets the new vector and fields (new key)."""
        if self._index is None:  # nothing yet: a build (which checks everything itself)
            self.index(ids, vectors, fields=fields)
            return
        ids = [str(i) for i in ids]
        x = checked_rows(vectors, self.dim)  # (n, dim), every row checked, not copied
        fields = _check_fields(ids, fields)
        if len(ids) != x.shape[0]:
            raise ValueError(f"{len(ids)} ids for {x.shape[0]} vectors")
        if len(set(ids)) != len(ids):
            raise ValueError("ids must be unique")
        present = [i for i in ids if i in self._keys]
        if present:
            self.delete(present)
        with self._write_lock:
            keys = np.arange(self._next_key, self._next_key + len(ids), dtype=np.int64)
            _add(self._index, x, keys, self.dim)
            self._next_key += len(ids)
            self._ids.extend(ids)  # keys next_key.. in order
            for i, k, f in zip(ids, keys, fields):
                self._keys[i] = int(k)
                if f != ItemFields():
                    self._fields[int(k)] = f
            self._version += 1
            self._tune()

    def delete(self, ids: Sequence[str]) -> int:
        if self._index is None:
            return 0
        keys = np.array([self._keys[i] for i in map(str, ids) if i in self._keys], dtype=np.int64)
        if len(keys) == 0:
            return 0
        with self._write_lock:
            if self._kind == "plain" and isinstance(self.faiss.downcast_index(self._index.index), self.faiss.IndexFlat):
                removed = int(self._index.remove_ids(self.faiss.IDSelectorBatch(keys)))
            else:  # HNSW cannot remove; IVF under IndexIDMap2 would not renumber its internal ids
                removed = self._rebuild_without(keys)
            for k in keys.tolist():
                self._keys.pop(self._ids[k], None)
                self._ids[k] = None
                self._fields.pop(k, None)
            self._version += 1
            self._tune()
        return removed

    def _rebuild_without(self, keys: np.ndarray) -> int:
        """Indexes that cannot remove in place (HNSW, IVF): rebuild from the stored vectors
        (for PQ codes these are the decoded approximations)."""
        drop = set(keys.tolist())
        all_keys = self.faiss.vector_to_array(self._index.id_map).astype(np.int64)
        keep = np.array([k not in drop for k in all_keys.tolist()], dtype=bool)
        x = self._index.index.reconstruct_n(0, self._index.ntotal)  # (ntotal, dim)
        index = self._new_index(self.factory)
        if not index.is_trained:
            index.train(x[keep])
        if keep.any():
            index.add_with_ids(np.ascontiguousarray(x[keep]), all_keys[keep])
        logger.info("rebuilt %s without %d item(s)", self.factory, int((~keep).sum()))
        self._index = index
        return int((~keep).sum())

    # -- searching ------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, *, filter: IndexFilter | None = None
               ) -> tuple[np.ndarray, list[list[str]]]:
        """Top ``k`` per query among the items passing ``filter``. ``D`` is ``(n_queries,
        min(k, len))`` with ``-inf`` where fewer were found; ``I`` lists only the ids found."""
        D, keys = self._search_keys(queries, k, filter=filter)
        ids = self._ids
        return D, [[ids[key] for key in row if key >= 0] for row in keys.tolist()]

    def _search_keys(self, queries: np.ndarray, k: int, *, filter: IndexFilter | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` in faiss keys: ``(D, keys)``, both ``(n_queries, min(k, len))``,
        key -1 and ``-inf`` where fewer were found."""
        if int(k) <= 0:
            raise ValueError(f"k must be positive, got {k}")
        q = as_matrix(queries, self.dim)  # (n_queries, dim)
        n = len(self)
        k = min(int(k), n)
        if n == 0 or q.shape[0] == 0:
            return np.zeros((q.shape[0], 0), dtype=np.float32), np.zeros((q.shape[0], 0), dtype=np.int64)
        if filter is None or filter.empty:
            gpu = self._gpu
            if gpu is not None and k <= gpu.max_k:
                D, keys = gpu.search(q, k)  # (n_queries, k)
            else:  # no GPU copy, or more neighbours than a GPU search returns: the CPU master
                D, keys = self._index.search(q, k)  # (n_queries, k)
        else:
            D, keys = self._filtered(q, k, filter)
        return np.where(keys >= 0, D, -np.inf).astype(np.float32), keys

    def _filtered(self, q: np.ndarray, k: int, f: IndexFilter) -> tuple[np.ndarray, np.ndarray]:
        """Search restricted to the items passing ``f``: exactly when few pass, else the
        ANN walk with an ``IDSelector`` (exact again for queries it leaves short)."""
        faiss = self.faiss
        denied = np.array([self._keys[i] for i in f.deny_ids if i in self._keys], dtype=np.int64)
        if f == IndexFilter(deny_ids=f.deny_ids) and len(self) - len(denied) > self.config.exact_filter_max:
            # e.g. the query's own anchor track: a small deny list, no mask over every key
            n_allowed, allowed = len(self) - len(denied), None
            batch = faiss.IDSelectorBatch(denied)  # kept referenced: the Not selector points at it
            selector = faiss.IDSelectorNot(batch)
        else:
            mask, n_allowed = self._mask(f)
            allowed = np.flatnonzero(mask) if n_allowed <= self.config.exact_filter_max else None
            if allowed is not None:
                return self._exact(q, k, allowed)
            bitmap = np.packbits(mask, bitorder="little")  # bit i of byte i // 8 = key i, as IDSelectorBitmap reads it
            selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        if self._kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=self.config.ef_search)
        elif self._kind == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self.config.nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        D, keys = self._index.search(q, k, params=params)  # (n_queries, k), CPU: selectors are CPU-only
        short = np.flatnonzero((keys >= 0).sum(axis=1) < min(k, n_allowed))
        if len(short):  # the ANN walk ran out of allowed items: score them exactly
            if allowed is None:
                allowed = np.flatnonzero(self._mask(f)[0])
            D[short], keys[short] = self._exact(q[short], k, allowed)
        return D, keys

    def _exact(self, q: np.ndarray, k: int, keys: np.ndarray, chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` of ``q`` over the stored vectors of ``keys``, in chunks."""
        D = np.full((q.shape[0], k), -np.inf, dtype=np.float32)  # (n_queries, k)
        K = np.full((q.shape[0], k), -1, dtype=np.int64)
        for lo in range(0, len(keys), chunk):
            part = keys[lo: lo + chunk]
            scores = q @ self._index.reconstruct_batch(part).T  # (n_queries, len(part))
            D2 = np.concatenate([D, scores], axis=1)
            K2 = np.concatenate([K, np.broadcast_to(part, scores.shape)], axis=1)
            top = np.argsort(-D2, axis=1, kind="stable")[:, :k]
            D, K = np.take_along_axis(D2, top, axis=1), np.take_along_axis(K2, top, axis=1)
        K[~np.isfinite(D)] = -1
        return D, K

    def select(self, filter: IndexFilter, *, limit: int | None = None) -> list[str] | None:
        """Ids of the items passing ``filter`` (key order); None when more than ``limit`` do."""
        keys = self._select_keys(filter, limit=limit)
        if keys is None:
            return None
        ids = self._ids
        return [ids[key] for key in keys.tolist()]

    def _select_keys(self, filter: IndexFilter, *, limit: int | None = None,
                     among: np.ndarray | None = None) -> np.ndarray | None:
        """:meth:`select` in faiss keys (sorted); ``among``: only these keys may pass (as
        ``filter.restrict`` of their ids)."""
        if filter.allow_ids is not None or among is not None:  # few named items: test only those
            keys = None if filter.allow_ids is None else \
                np.array([self._keys[i] for i in filter.allow_ids if i in self._keys], dtype=np.int64)
            if among is not None:
                among = np.asarray(among, dtype=np.int64)
                keys = among if keys is None else keys[np.isin(keys, among)]
            keys = np.sort(keys)  # distinct items: distinct keys
            rest = replace(filter, allow_ids=None)
            if len(keys) and not rest.empty:
                keys = keys[self._mask(rest)[0][keys]]
        else:
            if limit is not None and filter == IndexFilter(deny_ids=filter.deny_ids):  # count without a mask
                if len(self) - sum(i in self._keys for i in filter.deny_ids) > limit:
                    return None
            mask, count = self._mask(filter)
            if limit is not None and count > limit:
                return None
            keys = np.flatnonzero(mask)
        if limit is not None and len(keys) > limit:
            return None
        return keys

    def _mask(self, f: IndexFilter) -> tuple[np.ndarray, int]:
        """Boolean mask over faiss keys of the items passing ``f``, and how many pass.
        The last few masks are kept: a query asks for the same filter's items and search."""
        cached = self._masks.get(f)
        if cached is not None:
            return cached
        inv = self._inverted
        if inv is None:
            inv = self._inverted = FieldMasks(self._next_key, self._keys.values(), self._fields)
        mask = inv.present.copy()  # (next_key,)
        if f.allow_ids is not None:
            mask &= inv.member(np.array([self._keys[i] for i in f.allow_ids if i in self._keys], dtype=np.int64))
        if f.deny_ids:
            mask[np.array([self._keys[i] for i in f.deny_ids if i in self._keys], dtype=np.int64)] = False
        for table, every, none in ((inv.artists, f.artists_all, f.artists_none), (inv.albums, f.albums_all, f.albums_none),
                                   (inv.attributes, f.attributes_all, f.attributes_none)):
            for value in every:
                mask &= inv.member(table.get(value))
            for value in none:
                keys = table.get(value)
                if keys is not None:
                    mask[keys] = False
        if f.year_min is not None or f.year_max is not None:
            lo = -np.inf if f.year_min is None else f.year_min
            hi = np.inf if f.year_max is None else f.year_max
            mask &= (inv.years >= lo) & (inv.years <= hi)  # NaN (unknown) compares False
        out = (mask, int(np.count_nonzero(mask)))
        masks = dict(self._masks)  # copy-on-write: searches read the old dict meanwhile
        masks[f] = out
        while len(masks) > _MASKS_KEPT:
            masks.pop(next(iter(masks)))
        self._masks = masks
        return out

    def fetch(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors of ``ids`` (``(len(ids), dim)``, in order); exact for Flat/HNSW,
        the decoded approximation for PQ codes. ``KeyError`` names an unknown id."""
        try:  # ids are str by contract: look them up as given (a str() per id costs 40 %)
            keys = np.fromiter(map(self._keys.__getitem__, ids), dtype=np.int64, count=len(ids))
        except KeyError:  # an unknown id, or ids of another type: by their str()
            missing = next((i for i in ids if str(i) not in self._keys), None)
            if missing is not None:
                raise KeyError(f"id {missing!r} is not in the index") from None
            keys = np.fromiter(map(self._keys.__getitem__, map(str, ids)), dtype=np.int64, count=len(ids))
        return self._fetch_keys(keys)

    def _fetch_keys(self, keys: np.ndarray) -> np.ndarray:
        """Stored vectors of faiss ``keys`` (present ones) ``(len(keys), dim)``."""
        if len(keys) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(keys)  # (n, dim)

    def fields(self, item_id: str) -> ItemFields:
        """The scalar fields stored for ``item_id`` (``KeyError`` if unknown)."""
        return self._fields.get(self._keys[str(item_id)], ItemFields())

    def tune(self, **search: int) -> None:
        """E.g. ``tune(ef_search=256)`` at 10^7 items, where efSearch 64 loses recall."""
        with self._write_lock:
            self.config = replace(self.config, **check_search_params(search))
            if self._index is not None:
                self._tune()

    # -- persistence ----------------------------------------------------------------------

    def describe(self) -> dict:
        """What the bundle manifest records about this index."""
        return {"backend": self.backend, "factory": self.factory}

    def save(self, path: str | os.PathLike) -> None:
        """Write ``index.faiss``, ``ids.json`` (key → id), ``fields.json`` (key → scalar
        fields, non-empty ones only) and ``config.json`` into ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self._index is None:
            self.index([], np.zeros((0, self.dim), dtype=np.float32), factory="Flat")
        self.faiss.write_index(self._index, str(path / INDEX_FILE))
        keys = [k for k, i in enumerate(self._ids) if i is not None]  # key order
        (path / IDS_FILE).write_text(json.dumps({"keys": keys, "ids": [self._ids[k] for k in keys], "next_key": self._next_key}))
        fkeys = sorted(self._fields)
        (path / FIELDS_FILE).write_text(json.dumps({"keys": fkeys, **{
            name: [getattr(self._fields[k], name) for k in fkeys] for name in ("artists", "album", "attributes", "year")}}))
        (path / CONFIG_FILE).write_text(json.dumps({"backend": self.backend, "dim": self.dim, "factory": self.factory,
                                                    "config": asdict(self.config)}, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike, *, config: IndexConfig | None = None) -> "FaissIndex":
        """Read an index saved by :meth:`save`; ``config`` overrides the saved search settings."""
        path = Path(path)
        meta = json.loads((path / CONFIG_FILE).read_text())
        self = cls(meta["dim"], config or IndexConfig(**{k: v for k, v in meta["config"].items()
                                                         if k in IndexConfig.__dataclass_fields__}))
        self.factory = meta["factory"]
        self._index = self.faiss.read_index(str(path / INDEX_FILE))
        mapping = json.loads((path / IDS_FILE).read_text())
        self._next_key = int(mapping["next_key"])
        self._keys = {i: int(k) for k, i in zip(mapping["keys"], mapping["ids"])}
        self._ids = [None] * self._next_key
        for i, k in self._keys.items():
            self._ids[k] = i
        if (path / FIELDS_FILE).is_file():
            table = json.loads((path / FIELDS_FILE).read_text())
            self._fields = {int(k): ItemFields(artists=ar, album=al, attributes=at, year=y) for k, ar, al, at, y in
                            zip(table["keys"], table["artists"], table["album"], table["attributes"], table["year"])}
        if self._index.ntotal != len(self._keys):
            raise ValueError(f"{path / INDEX_FILE} holds {self._index.ntotal} vectors but {path / IDS_FILE} {len(self._keys)} ids")
        self._tune()
        return self

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def ids(self) -> list[str]:
        return [i for i in self._ids if i is not None]  # key order

    def __contains__(self, item: str) -> bool:
        return item in self._keys

    def rows(self, ids: Sequence[str]) -> KeyRows:
        """This index addressed by position in ``ids`` (:class:`~kgjemb.index.rows.KeyRows`:
        rows map to faiss keys by two arrays, no id strings on the query path)."""
        return KeyRows(self, ids)


#: rows normalised and added to a FAISS index at a time: a build holds the caller's matrix,
#: the index and one such batch, not a normalised copy of the whole (5 GB at 10^7 × 128).
#: Builds up to this many vectors add them in one call, as FAISS's own batching expects.
ADD_ROWS = 1_000_000


def _add(index, x: np.ndarray, keys: np.ndarray, dim: int) -> None:
    """Add the rows of ``x`` (checked by :func:`checked_rows`) under ``keys``, normalised
    ``ADD_ROWS`` rows at a time."""
    for lo in range(0, len(x), ADD_ROWS):
        index.add_with_ids(as_matrix(x[lo:lo + ADD_ROWS], dim), keys[lo:lo + ADD_ROWS])


def _training_sample(x: np.ndarray, dim: int) -> np.ndarray:
    """Normalised training vectors for an IVF/PQ index: all rows up to ``ADD_ROWS``, else
    ``ADD_ROWS`` rows drawn evenly at random (seeded; FAISS's k-means draws at most 256 per
    centroid from them in any case)."""
    if len(x) <= ADD_ROWS:
        return as_matrix(x, dim)
    rows = np.sort(np.random.default_rng(0).choice(len(x), ADD_ROWS, replace=False))
    return as_matrix(x[rows], dim)


def _check_fields(ids: list[str], fields: Sequence[ItemFields] | None) -> list[ItemFields]:
    if fields is None:
        return [ItemFields()] * len(ids)
    fields = list(fields)
    if len(fields) != len(ids):
        raise ValueError(f"{len(fields)} fields for {len(ids)} ids")
    for i, f in zip(ids, fields):
        if not isinstance(f, ItemFields):
            raise TypeError(f"fields of {i!r} must be an ItemFields, got {type(f).__name__}")
    return fields


class _GpuSearcher:
    """The GPU copy of an index: one search at a time (a lock: FAISS does not document GPU
    indexes as safe under concurrent searches), at most ``max_k`` neighbours (FAISS's GPU
    selection limit; asking for more is a ValueError, never a silent truncation)."""

    def __init__(self, index, *, max_k: int) -> None:
        self.index = index
        self.max_k = int(max_k)
        self.searches = 0
        self._lock = threading.Lock()

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k > self.max_k:
            raise ValueError(f"a GPU search returns at most {self.max_k} neighbours, asked for {k}")
        with self._lock:
            self.searches += 1
            return self.index.search(queries, k)  # (n_queries, k)
