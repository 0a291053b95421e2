"""The contract between training and everything that uses a trained model.

A trained model lives in a directory (``model.pt`` weights, ``config.json``,
``metrics.json``) and is opened with :func:`kgjemb.model.load_model`. The index builder,
the query engine, the evaluation harness and the HTTP service use only this protocol.
All vectors are float32 numpy arrays, L2-normalised, in one joint space of ``dim``.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from kgjemb.graph.base import GraphExport

__all__ = ["JointModel"]


@runtime_checkable
class JointModel(Protocol):
    #: dimension of the joint space
    dim: int

    def embed_audio(
        self, paths: Sequence[str | os.PathLike], *, batch_size: int = 16, progress: bool = False
    ) -> np.ndarray:
        """Audio files → ``(n, dim)``. Deterministic: long audio is cut into fixed chunks
        and mean-pooled, so a file always gives the same vector."""
        ...

    def embed_text(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Free text → ``(n, dim)`` through the text tower (encoder outputs are cached)."""
        ...

    def embed_entities(
        self, export: "GraphExport", track_vectors: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Entity tower over the whole graph → ``{label: (n_label, dim)}``, rows aligned with
        ``export.nodes[label]``. ``track_vectors`` are the audio embeddings of
        ``export.nodes["Track"]`` in order (zeros for tracks without audio). Inductive:
        nodes unseen in training get vectors from their features and neighbours."""
        ...

    def save(self, path: str | os.PathLike) -> None:
        """Write the model directory atomically (temp dir + rename)."""
        ...

    def checksum(self) -> str:
        """sha256 of the saved weights: the bundle manifest records it."""
        ...
