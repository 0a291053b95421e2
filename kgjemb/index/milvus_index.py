"""Milvus backend of :class:`~kgjemb.index.base.VectorIndex`, through ``pymilvus``.

One collection per bundle: ``id`` (VARCHAR primary key = track id), ``vector``
(FLOAT_VECTOR, inner product), and the scalar fields of
:class:`~kgjemb.index.base.ItemFields` — ``artists`` and ``attributes`` (ARRAY of
VARCHAR), ``album`` (VARCHAR, "" = none), ``year`` (FLOAT) with ``has_year`` (BOOL). An
:class:`~kgjemb.index.base.IndexFilter` becomes a Milvus boolean expression
(:func:`filter_expr`) evaluated by the server beside the ANN search, and :meth:`fetch`
returns stored vectors for exact fusion, so a client needs no vectors in RAM.

The same client code talks to a local standalone server (``scripts/milvus-dev start``,
the PyPI package ``milvus``) and to a Milvus cluster (``uri`` of its proxy); the bundle
keeps only how to reach the collection (``index/config.json`` and the manifest's
``index`` entry: backend, uri, collection, index type). Writes go to the collection in
place: a bundle update upserts there before the bundle files are swapped.

>>> cfg = MilvusConfig(uri="http://127.0.0.1:19530", collection="demo_tracks", index_type="HNSW")
>>> idx = MilvusIndex(dim=128, config=cfg)  # doctest: +SKIP
>>> idx.index(track_ids, vectors, fields=fields_from_export(export, track_ids))  # doctest: +SKIP
>>> D, I = idx.search(queries, k=10, filter=IndexFilter(artists_none={"bach"}))  # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from kgjemb.errors import MissingDependencyError, StoreError
from kgjemb.index.base import IndexFilter, ItemFields, VectorIndex, as_matrix, check_search_params, checked_rows

__all__ = ["MilvusConfig", "MilvusIndex", "filter_expr", "import_pymilvus"]

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
INDEX_TYPES = ("AUTO", "FLAT", "HNSW", "IVF_FLAT", "IVF_PQ")
#: Milvus caps ``limit`` (top-k) of one search and the rows of one query result
MAX_TOPK = 16_384
#: bytes of a string the collection stores (id, album, each artist and attribute id)
MAX_STRING = 512
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def import_pymilvus():
    """``import pymilvus`` or a :class:`MissingDependencyError` saying which extra installs it."""
    try:
        import pymilvus
    except ImportError as err:
        raise MissingDependencyError(
            "pymilvus is missing: pip install 'kgjemb[milvus]' (pymilvus 2.3.x; the extra also "
            "brings the local test server, package 'milvus')"
        ) from err
    return pymilvus


@dataclass(frozen=True)
class MilvusConfig:
    """Where the collection lives and how it is indexed.

    ``uri``: the Milvus proxy (``http://127.0.0.1:19530``); ``collection``: its name
    (``kgjemb_tracks``; letters, digits, underscores); ``token``: ``user:password`` or an
    API key when auth is on (never written to the bundle; default ""); ``index_type``: one
    of FLAT, HNSW, IVF_FLAT, IVF_PQ or AUTO (default: FLAT below ``flat_threshold``, 50,000
    items, HNSW at or above, like FAISS's ``auto``); ``m`` / ``ef_construction`` / ``ef_search``:
    HNSW graph degree (32), build breadth (64) and search breadth (64); ``nlist`` /
    ``nprobe`` / ``pq_m``: IVF lists (1024), lists visited (16) and PQ sub-vectors (16);
    ``max_artists`` / ``max_attributes``: ARRAY capacities (64 / 512); ``batch_size``:
    rows per insert or upsert call (5000); ``consistency``: Milvus consistency level of
    reads ("Session", default: does not wait for other clients' writes; "Strong" makes
    every search wait for the next time tick, ~200 ms on a default server;
    "Bounded"/"Eventually" as in Milvus). Whatever the level, reads of this client run
    Strong for ``strong_after_write_s`` (1.0) seconds after each of its own writes, so that
    it reads its writes (deletes included). ``connect_timeout``: seconds to wait for the
    server (30).
    """

    uri: str = "http://127.0.0.1:19530"
    collection: str = "kgjemb_tracks"
    token: str = ""
    index_type: str = "AUTO"
    flat_threshold: int = 50_000
    m: int = 32
    ef_construction: int = 64
    ef_search: int = 64
    nlist: int = 1024
    nprobe: int = 16
    pq_m: int = 16
    max_artists: int = 64
    max_attributes: int = 512
    batch_size: int = 5000
    consistency: str = "Session"
    strong_after_write_s: float = 1.0
    connect_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not _NAME.match(self.collection):
            raise ValueError(f"collection must be letters, digits and underscores (not starting with a digit), "
                             f"got {self.collection!r}")
        if self.index_type.upper() not in INDEX_TYPES:
            raise ValueError(f"unknown Milvus index type {self.index_type!r}; choose from {list(INDEX_TYPES)}")
        object.__setattr__(self, "index_type", self.index_type.upper())
        if not self.uri.startswith(("http://", "https://", "tcp://", "grpc://")):
            raise ValueError(f"uri must look like http://HOST:19530, got {self.uri!r}")
        for name in ("flat_threshold", "m", "ef_construction", "ef_search", "nlist", "nprobe", "pq_m", "max_artists",
                     "max_attributes", "batch_size"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def resolved(self, n: int) -> "MilvusConfig":
        """This config with AUTO replaced by the index type used for ``n`` items."""
        if self.index_type != "AUTO":
            return self
        return replace(self, index_type="FLAT" if n < self.flat_threshold else "HNSW")

    def index_params(self) -> dict:
        params = {"FLAT": {}, "HNSW": {"M": self.m, "efConstruction": self.ef_construction},
                  "IVF_FLAT": {"nlist": self.nlist}, "IVF_PQ": {"nlist": self.nlist, "m": self.pq_m, "nbits": 8}}
        return {"index_type": self.index_type, "metric_type": "IP", "params": params[self.index_type]}

    def search_params(self, k: int) -> dict:
        params = {"FLAT": {}, "HNSW": {"ef": max(self.ef_search, k)}, "IVF_FLAT": {"nprobe": self.nprobe},
                  "IVF_PQ": {"nprobe": self.nprobe}}
        return {"metric_type": "IP", "params": params[self.index_type]}

    def public(self) -> dict:
        """The config without the token (what the bundle records)."""
        out = asdict(self)
        out.pop("token")
        return out


def _literal(value: str) -> str:
    """A Milvus expression string literal (double-quoted, JSON escapes)."""
    return json.dumps(str(value), ensure_ascii=False)


def _list(values) -> str:
    return "[" + ", ".join(_literal(v) for v in sorted(values)) + "]"


def filter_expr(f: IndexFilter | None) -> str:
    """The Milvus boolean expression of ``f`` ("" when it passes everything).

    >>> filter_expr(IndexFilter(artists_all={"bach"}, attributes_none={"tempo:slow"}, year_max=1750))
    'array_contains_all(artists, ["bach"]) and not array_contains_any(attributes, ["tempo:slow"]) and has_year == true and year <= 1750.0'
    """
    if f is None or f.empty:
        return ""
    parts = []
    if f.allow_ids is not None:
        parts.append(f"id in {_list(f.allow_ids)}")
    if f.deny_ids:
        parts.append(f"id not in {_list(f.deny_ids)}")
    if f.artists_all:
        parts.append(f"array_contains_all(artists, {_list(f.artists_all)})")
    if f.artists_none:
        parts.append(f"not array_contains_any(artists, {_list(f.artists_none)})")
    parts += [f"album == {_literal(a)}" for a in sorted(f.albums_all)]
    if f.albums_none:
        parts.append(f"album not in {_list(f.albums_none)}")
    if f.attributes_all:
        parts.append(f"array_contains_all(attributes, {_list(f.attributes_all)})")
    if f.attributes_none:
        parts.append(f"not array_contains_any(attributes, {_list(f.attributes_none)})")
    if f.year_min is not None or f.year_max is not None:
        parts.append("has_year == true")
        if f.year_min is not None:
            parts.append(f"year >= {f.year_min!r}")
        if f.year_max is not None:
            parts.append(f"year <= {f.year_max!r}")
    if f.allow_ids is not None and not f.allow_ids:
        return 'id in [""]'  # nothing passes (Milvus rejects an empty list)
    return " and ".join(parts)


class MilvusIndex(VectorIndex):
    """A Milvus collection behind the :class:`VectorIndex` contract. Searches are safe
    from many threads (one gRPC channel per uri, shared); ``token`` stays in memory only.

    ``k`` is capped at :data:`MAX_TOPK` (16,384) per search, Milvus's limit.
    """

    backend = "milvus"

    def __init__(self, dim: int, config: MilvusConfig = MilvusConfig()) -> None:
        if int(dim) <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.pm = import_pymilvus()
        self.dim = int(dim)
        self.config = config
        self.factory = config.index_type
        self._alias = f"kgjemb-{config.uri}"
        self._lock = threading.Lock()
        self._connect()
        utility = self.pm.utility
        self._collection = None
        self._count = 0  # items in the collection, refreshed after each write of this client
        self._strong_until = 0.0  # monotonic time until which reads run Strong (after own writes)
        if utility.has_collection(config.collection, using=self._alias):
            self._collection = self.pm.Collection(config.collection, using=self._alias)
            self._check_schema()
            built = [i.params.get("index_type") for i in self._collection.indexes if i.field_name == "vector"]
            if built and built[0] in INDEX_TYPES:  # search with the parameters of what was built
                self.config = replace(self.config, index_type=built[0])
                self.factory = built[0]
            self._collection.load()
            self._count = self._query_count()

    # -- connection and schema ----------------------------------------------------------

    def _connect(self) -> None:
        try:
            self.pm.connections.connect(alias=self._alias, uri=self.config.uri, token=self.config.token or None,
                                        timeout=self.config.connect_timeout)
        except Exception as err:  # noqa: BLE001 - pymilvus raises its own MilvusException tree
            raise StoreError(f"cannot reach Milvus at {self.config.uri}: {err} "
                             f"(local server: scripts/milvus-dev start)") from err

    def _schema(self):
        pm = self.pm
        DataType, FieldSchema = pm.DataType, pm.FieldSchema
        fields = [
            FieldSchema("id", DataType.VARCHAR, is_primary=True, max_length=MAX_STRING),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=self.dim),
            FieldSchema("artists", DataType.ARRAY, element_type=DataType.VARCHAR,
                        max_capacity=self.config.max_artists, max_length=MAX_STRING),
            FieldSchema("album", DataType.VARCHAR, max_length=MAX_STRING),
            FieldSchema("attributes", DataType.ARRAY, element_type=DataType.VARCHAR,
                        max_capacity=self.config.max_attributes, max_length=MAX_STRING),
            FieldSchema("year", DataType.FLOAT),
            FieldSchema("has_year", DataType.BOOL),
        ]
        return pm.CollectionSchema(fields, description="kgjemb track vectors and filter fields")

    def _check_schema(self) -> None:
        names = {f.name: f for f in self._collection.schema.fields}
        missing = {"id", "vector", "artists", "album", "attributes", "year", "has_year"} - set(names)
        if missing:
            raise StoreError(f"Milvus collection {self.config.collection!r} at {self.config.uri} is not a kgjemb "
                             f"collection (missing fields {sorted(missing)})")
        dim = int(names["vector"].params.get("dim", 0))
        if dim != self.dim:
            raise StoreError(f"Milvus collection {self.config.collection!r} holds {dim}-d vectors, expected {self.dim}")

    def _level(self) -> str:
        """Consistency level of a read now: Strong shortly after this client wrote."""
        return "Strong" if time.monotonic() < self._strong_until else self.config.consistency

    def _wrote(self) -> None:
        self._strong_until = time.monotonic() + self.config.strong_after_write_s
        self._count = self._query_count()

    def _query(self, expr: str, fields: list[str]) -> list[dict]:
        return self._collection.query(expr=expr, output_fields=fields, consistency_level=self._level())

    def _require(self):
        if self._collection is None:
            raise StoreError(f"Milvus collection {self.config.collection!r} does not exist at {self.config.uri} "
                             f"(build it with `kgjemb index build --backend milvus`)")
        return self._collection

    # -- writing ------------------------------------------------------------------------

    def _columns(self, ids: list[str], x: np.ndarray, fields: list[ItemFields]) -> list:
        return [ids, x, [list(f.artists) for f in fields], [f.album or "" for f in fields],
                [list(f.attributes) for f in fields], [float(f.year or 0.0) for f in fields],
                [f.year is not None for f in fields]]

    def _prepare(self, ids, vectors, fields) -> tuple[list[str], np.ndarray, list[ItemFields]]:
        """Check everything before anything is written. The vectors are not copied (10^7 × 128
        floats are 5 GB): each batch is normalised as it is sent."""
        ids = [str(i) for i in ids]
        x = checked_rows(vectors, self.dim)  # (n, dim), every row checked, not copied
        if len(ids) != x.shape[0]:
            raise ValueError(f"{len(ids)} ids for {x.shape[0]} vectors")
        if len(set(ids)) != len(ids):
            raise ValueError("ids must be unique")
        fields = [ItemFields()] * len(ids) if fields is None else list(fields)
        if len(fields) != len(ids):
            raise ValueError(f"{len(fields)} fields for {len(ids)} ids")
        cfg = self.config
        for i, f in zip(ids, fields):  # what the server would refuse in a later batch, refused now
            if len(f.artists) > cfg.max_artists or len(f.attributes) > cfg.max_attributes:
                raise ValueError(f"track {i!r}: {len(f.artists)} artists / {len(f.attributes)} attributes exceed the "
                                 f"collection's capacity ({cfg.max_artists} / {cfg.max_attributes})")
            too_long = [v for v in (i, f.album or "", *f.artists, *f.attributes) if len(v.encode()) > MAX_STRING]
            if too_long:
                raise ValueError(f"track {i!r}: {too_long[0][:60]!r}… is longer than the collection's "
                                 f"{MAX_STRING}-byte strings")
        return ids, x, fields

    def index(self, ids: Sequence[str], vectors: np.ndarray, *, fields: Sequence[ItemFields] | None = None) -> None:
        """(Re)create the collection with these items: drops one of the same name first."""
        ids, x, fields = self._prepare(ids, vectors, fields)
        pm = self.pm
        cfg = self.config = self.config.resolved(len(ids))
        self.factory = cfg.index_type
        start = time.perf_counter()
        with self._lock:
            if pm.utility.has_collection(cfg.collection, using=self._alias):
                pm.utility.drop_collection(cfg.collection, using=self._alias)
            self._collection = pm.Collection(cfg.collection, self._schema(), using=self._alias,
                                             consistency_level=cfg.consistency)
            for lo in range(0, len(ids), cfg.batch_size):
                hi = lo + cfg.batch_size
                self._collection.insert(self._columns(ids[lo:hi], as_matrix(x[lo:hi], self.dim), fields[lo:hi]))
            self._collection.flush()
            inserted = time.perf_counter()
            self._collection.create_index("vector", cfg.index_params())
            self._collection.load()
            self._wrote()
        logger.info("Milvus %s/%s: inserted %d×%d in %.2fs, %s index + load in %.2fs", cfg.uri, cfg.collection,
                    len(ids), self.dim, inserted - start, cfg.index_type, time.perf_counter() - inserted)

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, *, fields: Sequence[ItemFields] | None = None) -> None:
        """Insert or replace items (Milvus upsert: delete + insert by primary key)."""
        if self._collection is None:  # nothing yet: a build (which checks everything itself)
            self.index(ids, vectors, fields=fields)
            return
        ids, x, fields = self._prepare(ids, vectors, fields)
        for lo in range(0, len(ids), self.config.batch_size):
            hi = lo + self.config.batch_size
            self._collection.upsert(self._columns(ids[lo:hi], as_matrix(x[lo:hi], self.dim), fields[lo:hi]))
        self._wrote()

    def delete(self, ids: Sequence[str]) -> int:
        collection = self._collection
        ids = list(dict.fromkeys(map(str, ids)))
        if collection is None or not ids:
            return 0
        removed = 0
        for lo in range(0, len(ids), self.config.batch_size):
            present = [r["id"] for r in self._query(f"id in {_list(ids[lo:lo + self.config.batch_size])}", ["id"])]
            if present:
                collection.delete(expr=f"id in {_list(present)}")
                removed += len(present)
        self._wrote()
        return removed

    # -- reading ------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, *, filter: IndexFilter | None = None
               ) -> tuple[np.ndarray, list[list[str]]]:
        if int(k) <= 0:
            raise ValueError(f"k must be positive, got {k}")
        q = as_matrix(queries, self.dim)  # (n_queries, dim)
        k = min(int(k), len(self), MAX_TOPK)
        if k == 0 or q.shape[0] == 0:
            return np.zeros((q.shape[0], k), dtype=np.float32), [[] for _ in range(q.shape[0])]
        result = self._collection.search(q, "vector", self.config.search_params(k), limit=k,
                                         expr=filter_expr(filter) or None, output_fields=[],
                                         consistency_level=self._level())
        D = np.full((q.shape[0], k), -np.inf, dtype=np.float32)  # (n_queries, k)
        ids: list[list[str]] = []
        for row, hits in enumerate(result):
            ids.append([str(h.id) for h in hits])
            D[row, : len(hits)] = [h.distance for h in hits]
        return D, ids

    def select(self, filter: IndexFilter, *, limit: int | None = None) -> list[str] | None:
        """Ids of the items passing ``filter`` (a server-side query); None when more than
        ``limit`` do."""
        self._require()
        expr = filter_expr(filter) or 'id != ""'
        if limit is not None and limit < MAX_TOPK:
            rows = self._collection.query(expr=expr, output_fields=["id"], limit=int(limit) + 1,
                                          consistency_level=self._level())
            return None if len(rows) > limit else [str(r["id"]) for r in rows]
        it = self._collection.query_iterator(batch_size=MAX_TOPK, expr=expr, output_fields=["id"],
                                             consistency_level=self._level())
        out: list[str] = []
        try:
            while batch := it.next():
                out += [str(r["id"]) for r in batch]
                if limit is not None and len(out) > limit:
                    return None
        finally:
            it.close()
        return out

    def fetch(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors of ``ids`` (``(len(ids), dim)``, in order); ``KeyError`` names an unknown id."""
        ids = [str(i) for i in ids]
        out = np.zeros((len(ids), self.dim), dtype=np.float32)  # (n, dim)
        if not ids:
            return out
        self._require()
        got: dict[str, list[float]] = {}
        unique = list(dict.fromkeys(ids))
        step = min(self.config.batch_size, MAX_TOPK)
        for lo in range(0, len(unique), step):
            for r in self._query(f"id in {_list(unique[lo:lo + step])}", ["vector"]):
                got[str(r["id"])] = r["vector"]
        for n, i in enumerate(ids):
            if i not in got:
                raise KeyError(f"id {i!r} is not in Milvus collection {self.config.collection!r}")
            out[n] = got[i]
        return out

    def fields(self, item_id: str) -> ItemFields:
        """The scalar fields stored for ``item_id`` (``KeyError`` if unknown)."""
        self._require()
        rows = self._query(f"id == {_literal(item_id)}", ["artists", "album", "attributes", "year", "has_year"])
        if not rows:
            raise KeyError(f"id {item_id!r} is not in Milvus collection {self.config.collection!r}")
        r = rows[0]
        return ItemFields(artists=tuple(r["artists"]), album=r["album"] or None, attributes=tuple(r["attributes"]),
                          year=float(r["year"]) if r["has_year"] else None)

    def _query_count(self) -> int:
        return int(self._query("", ["count(*)"])[0]["count(*)"])

    def __len__(self) -> int:
        """Items in the collection as of this client's last write or open (no round trip)."""
        return self._count if self._collection is not None else 0

    @property
    def ids(self) -> list[str]:
        if self._collection is None:
            return []
        it = self._collection.query_iterator(batch_size=MAX_TOPK, expr='id != ""', output_fields=["id"])
        out: list[str] = []
        try:
            while batch := it.next():
                out += [str(r["id"]) for r in batch]
        finally:
            it.close()
        return sorted(out)

    def tune(self, **search: int) -> None:
        self.config = replace(self.config, **check_search_params(search))  # values validated by MilvusConfig

    # -- persistence --------------------------------------------------------------------

    def describe(self) -> dict:
        return {"backend": self.backend, "uri": self.config.uri, "collection": self.config.collection,
                "factory": self.factory}

    def save(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` (backend, dim, config without the token) into ``path``;
        the vectors stay in the collection."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_FILE).write_text(json.dumps({"backend": self.backend, "dim": self.dim,
                                                    "config": self.config.public()}, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike, *, uri: str | None = None, token: str | None = None) -> "MilvusIndex":
        """Reconnect to the collection a :meth:`save` described. ``uri`` / ``token``
        override the recorded address (default: $KGJEMB_MILVUS_URI / $KGJEMB_MILVUS_TOKEN
        when set)."""
        meta = json.loads((Path(path) / CONFIG_FILE).read_text())
        config = MilvusConfig(**{k: v for k, v in meta["config"].items() if k in MilvusConfig.__dataclass_fields__})
        overrides = {"uri": uri or os.environ.get("KGJEMB_MILVUS_URI"),
                     "token": token or os.environ.get("KGJEMB_MILVUS_TOKEN")}
        config = replace(config, **{k: v for k, v in overrides.items() if v})
        self = cls(int(meta["dim"]), config)
        self._require()
        return self

    def close(self) -> None:
        self._collection = None
