"""The vector-index backends by name: what a bundle build creates and ``Bundle.open`` reopens.

``BACKENDS`` is the one registry: ``kgjemb index build --backend NAME``, the builder
(:func:`new_index`) and :meth:`kgjemb.index.bundle.Bundle.open` (:func:`load_index`, on the
backend named in the bundle's ``index/config.json``) all go through it.

>>> sorted(BACKENDS)
['faiss', 'milvus']
>>> new_index("faiss", dim=64).backend
'faiss'
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from kgjemb.index.base import VectorIndex
from kgjemb.index.faiss_index import FaissIndex, IndexConfig
from kgjemb.index.milvus_index import MilvusConfig, MilvusIndex

__all__ = ["BACKENDS", "load_index", "new_index"]

BACKENDS: dict[str, type[VectorIndex]] = {"faiss": FaissIndex, "milvus": MilvusIndex}


def _check(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown index backend {name!r}; choose from {sorted(BACKENDS)}")
    return name


def new_index(name: str, *, dim: int, faiss: IndexConfig = IndexConfig(), milvus: MilvusConfig = MilvusConfig()
              ) -> VectorIndex:
    """An empty index of backend ``name`` ("faiss" or "milvus") with its config."""
    if _check(name) == "milvus":
        return MilvusIndex(dim, milvus)
    return FaissIndex(dim, faiss)


def load_index(path: str | os.PathLike) -> VectorIndex:
    """Reopen the index saved in directory ``path`` with the backend its ``config.json``
    names (bundles written before backends were recorded are FAISS)."""
    meta = json.loads((Path(path) / "config.json").read_text())
    if _check(meta.get("backend", "faiss")) == "milvus":
        return MilvusIndex.load(path)
    return FaissIndex.load(path)
