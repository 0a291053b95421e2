"""Vector indexes and index bundles.

>>> from kgjemb.index import FaissIndex, IndexConfig
"""
from kgjemb.index.base import VectorIndex, as_matrix
from kgjemb.index.faiss_index import FaissIndex, IndexConfig, resolve_factory

__all__ = ["FaissIndex", "IndexConfig", "VectorIndex", "as_matrix", "resolve_factory"]
