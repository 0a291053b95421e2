"""Vector indexes and index bundles.

>>> from kgjemb.index import Bundle, FaissIndex, IndexConfig, build_bundle
"""
from kgjemb.index.base import VectorIndex, as_matrix
from kgjemb.index.builder import (BuildConfig, build_bundle, bundle_staleness, graph_digest, remove_tracks, snapshot_diff,
                                  update_bundle)
from kgjemb.index.bundle import Bundle, BundleContent, write_bundle
from kgjemb.index.faiss_index import FaissIndex, IndexConfig, resolve_factory

__all__ = [
    "BuildConfig", "Bundle", "BundleContent", "FaissIndex", "IndexConfig", "VectorIndex", "as_matrix",
    "build_bundle", "bundle_staleness", "graph_digest", "remove_tracks", "resolve_factory", "snapshot_diff",
    "update_bundle", "write_bundle",
]
