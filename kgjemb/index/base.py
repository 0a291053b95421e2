"""A tiny vector-index contract (txtai-style): ``index``, ``append``, ``delete``, ``search``,
``save``, ``load``.

Vectors are float32, L2-normalised, compared by inner product (= cosine). Items carry
string ids (track ids); the backend maps them to its own integer positions. One file per
backend implements :class:`VectorIndex` (:class:`kgjemb.index.faiss_index.FaissIndex`);
a Milvus backend is planned behind the same five methods.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np

__all__ = ["VectorIndex", "as_matrix"]


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


class VectorIndex(ABC):
    """Nearest-neighbour search over string-identified vectors by inner product."""

    #: dimension of the vectors
    dim: int

    @abstractmethod
    def index(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Build from scratch, replacing whatever was there."""

    @abstractmethod
    def append(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add new items (an id already present is replaced)."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> int:
        """Remove items by id; returns how many were present. Unknown ids are ignored."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[list[str]]]:
        """Top ``k`` per query: ``(D, I)`` with ``D`` the ``(n_queries, k')`` scores and ``I``
        the ids per query, best first (``k' = min(k, len(self))``)."""

    @abstractmethod
    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` (a directory it creates)."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | os.PathLike) -> "VectorIndex":
        """Read an index written by :meth:`save`."""

    @abstractmethod
    def __len__(self) -> int: ...

    @property
    @abstractmethod
    def ids(self) -> list[str]:
        """Ids in the index, in insertion order."""
