"""FAISS backend of :class:`~kgjemb.index.base.VectorIndex`: inner product on L2-normalised
vectors, string ids, exact search for small collections and HNSW above.

The FAISS index is wrapped in ``IndexIDMap2`` so items keep stable integer keys across
deletes; index types that cannot remove items (HNSW) are rebuilt from their stored vectors
on delete. With ``faiss-gpu`` installed and the device resolving to ``cuda``
(:mod:`kgjemb.device`), Flat/IVF indexes also search on a GPU copy (HNSW stays on the CPU:
FAISS has no GPU HNSW). A GPU search returns at most ``GPU_MAX_K`` (2,048) neighbours, so a
larger ``k`` — the engine widens its fetch up to the whole index when filters are strict —
searches the CPU master copy instead; GPU searches hold a lock, since FAISS does not
document GPU indexes as safe under concurrent searches (``serve`` runs engine threads).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from kgjemb.device import default_device
from kgjemb.errors import MissingDependencyError
from kgjemb.index.base import VectorIndex, as_matrix

__all__ = ["GPU_MAX_K", "FaissIndex", "IndexConfig", "import_faiss", "resolve_factory"]

logger = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
IDS_FILE = "ids.json"
CONFIG_FILE = "config.json"
#: most neighbours one FAISS GPU search returns (GPU_MAX_SELECTION_K in faiss/gpu)
GPU_MAX_K = 2048


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

    >>> IndexConfig(factory="HNSW32", ef_search=128)
    IndexConfig(factory='HNSW32', flat_threshold=50000, ef_search=128, ef_construction=40, nprobe=16, gpu=None)
    """

    factory: str = "auto"
    flat_threshold: int = 50_000
    ef_search: int = 64
    ef_construction: int = 40
    nprobe: int = 16
    gpu: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.factory, str) or not self.factory.strip():
            raise ValueError("factory must be a FAISS index_factory string or 'auto'")
        for name in ("flat_threshold", "ef_search", "ef_construction", "nprobe"):
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
    (``index``/``append``/``delete``) must not overlap searches (the bundle rebuilds and
    swaps instead of writing under readers).

    >>> idx = FaissIndex(dim=4)
    >>> idx.index(["a", "b"], np.eye(2, 4, dtype="float32"))
    >>> D, I = idx.search(np.array([[1, 0, 0, 0]], dtype="float32"), k=1)
    >>> I
    [['a']]
    """

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
        self._ids: dict[int, str] = {}  # faiss key -> id
        self._next_key = 0
        self._write_lock = threading.Lock()

    # -- building -------------------------------------------------------------------------

    def _new_index(self, factory: str):
        faiss = self.faiss
        inner = faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT)
        hnsw = getattr(faiss.downcast_index(inner), "hnsw", None)
        if hnsw is not None:
            hnsw.efConstruction = self.config.ef_construction
        return faiss.IndexIDMap2(inner)

    def _tune(self) -> None:
        """Apply search-time parameters and (re)make the GPU clone."""
        faiss = self.faiss
        inner = faiss.downcast_index(self._index.index)
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = self.config.ef_search
        try:
            faiss.extract_index_ivf(inner).nprobe = self.config.nprobe
        except (RuntimeError, AttributeError):
            pass  # not an IVF index
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

    def index(self, ids: Sequence[str], vectors: np.ndarray, *, factory: str | None = None) -> None:
        """Build from scratch with ``factory`` (default: the config's, resolved for the size)."""
        ids = [str(i) for i in ids]
        x = as_matrix(vectors, self.dim)  # (n, dim)
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
                index.train(x)
            keys = np.arange(len(ids), dtype=np.int64)
            if len(ids):
                index.add_with_ids(x, keys)
            self._index = index
            self._keys = {i: int(k) for i, k in zip(ids, keys)}
            self._ids = {int(k): i for i, k in zip(ids, keys)}
            self._next_key = len(ids)
            self._tune()
            logger.info("built %s over %d×%d in %.2fs", self.factory, len(ids), self.dim, time.perf_counter() - start)

    def append(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        ids = [str(i) for i in ids]
        x = as_matrix(vectors, self.dim)  # (n, dim)
        if len(ids) != x.shape[0]:
            raise ValueError(f"{len(ids)} ids for {x.shape[0]} vectors")
        if self._index is None:
            self.index(ids, x)
            return
        if len(set(ids)) != len(ids):
            raise ValueError("ids must be unique")
        present = [i for i in ids if i in self._keys]
        if present:
            self.delete(present)
        with self._write_lock:
            keys = np.arange(self._next_key, self._next_key + len(ids), dtype=np.int64)
            self._index.add_with_ids(x, keys)
            self._next_key += len(ids)
            for i, k in zip(ids, keys):
                self._keys[i] = int(k)
                self._ids[int(k)] = i
            self._tune()

    def delete(self, ids: Sequence[str]) -> int:
        if self._index is None:
            return 0
        keys = np.array([self._keys[i] for i in map(str, ids) if i in self._keys], dtype=np.int64)
        if len(keys) == 0:
            return 0
        with self._write_lock:
            try:
                removed = int(self._index.remove_ids(self.faiss.IDSelectorBatch(keys)))
            except RuntimeError:
                removed = self._rebuild_without(keys)
            for k in keys.tolist():
                self._keys.pop(self._ids.pop(k), None)
            self._tune()
        return removed

    def _rebuild_without(self, keys: np.ndarray) -> int:
        """Indexes without ``remove_ids`` (HNSW): rebuild from the stored vectors."""
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

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[list[str]]]:
        """Top ``k`` per query. ``D`` is ``(n_queries, min(k, len))`` with ``-inf`` where an
        approximate index found fewer; ``I`` lists only the ids found."""
        if int(k) <= 0:
            raise ValueError(f"k must be positive, got {k}")
        q = as_matrix(queries, self.dim)  # (n_queries, dim)
        n = len(self)
        if n == 0 or q.shape[0] == 0:
            return np.zeros((q.shape[0], 0), dtype=np.float32), [[] for _ in range(q.shape[0])]
        k = min(int(k), n)
        gpu = self._gpu
        if gpu is not None and k <= gpu.max_k:
            D, keys = gpu.search(q, k)  # (n_queries, k)
        else:  # no GPU copy, or more neighbours than a GPU search returns: the CPU master
            D, keys = self._index.search(q, k)  # (n_queries, k)
        D = np.where(keys >= 0, D, -np.inf).astype(np.float32)
        ids = self._ids
        return D, [[ids[key] for key in row if key >= 0] for row in keys.tolist()]

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write ``index.faiss``, ``ids.json`` (key → id) and ``config.json`` into ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self._index is None:
            self.index([], np.zeros((0, self.dim), dtype=np.float32), factory="Flat")
        self.faiss.write_index(self._index, str(path / INDEX_FILE))
        keys = sorted(self._ids)
        (path / IDS_FILE).write_text(json.dumps({"keys": keys, "ids": [self._ids[k] for k in keys], "next_key": self._next_key}))
        (path / CONFIG_FILE).write_text(json.dumps({"dim": self.dim, "factory": self.factory, "config": asdict(self.config)}, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike, *, config: IndexConfig | None = None) -> "FaissIndex":
        """Read an index saved by :meth:`save`; ``config`` overrides the saved search settings."""
        path = Path(path)
        meta = json.loads((path / CONFIG_FILE).read_text())
        self = cls(meta["dim"], config or IndexConfig(**meta["config"]))
        self.factory = meta["factory"]
        self._index = self.faiss.read_index(str(path / INDEX_FILE))
        mapping = json.loads((path / IDS_FILE).read_text())
        self._ids = {int(k): i for k, i in zip(mapping["keys"], mapping["ids"])}
        self._keys = {i: k for k, i in self._ids.items()}
        self._next_key = int(mapping["next_key"])
        if self._index.ntotal != len(self._ids):
            raise ValueError(f"{path / INDEX_FILE} holds {self._index.ntotal} vectors but {path / IDS_FILE} {len(self._ids)} ids")
        self._tune()
        return self

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def ids(self) -> list[str]:
        return [self._ids[k] for k in sorted(self._ids)]

    def __contains__(self, item: str) -> bool:
        return item in self._keys


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
