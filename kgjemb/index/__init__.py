"""Vector indexes and index bundles.

>>> from kgjemb.index import Bundle, FaissIndex, IndexConfig, IndexFilter, build_bundle
"""
from kgjemb.index.backends import BACKENDS, load_index, new_index
from kgjemb.index.base import IndexFilter, ItemFields, VectorIndex, as_matrix
from kgjemb.index.builder import (BuildConfig, build_bundle, bundle_staleness, graph_digest, remove_tracks, snapshot_diff,
                                  update_bundle)
from kgjemb.index.bundle import Bundle, BundleContent, write_bundle
from kgjemb.index.faiss_index import FaissIndex, IndexConfig, resolve_factory
from kgjemb.index.fields import fields_from_export
from kgjemb.index.milvus_index import MilvusConfig, MilvusIndex

__all__ = [
    "BACKENDS", "BuildConfig", "Bundle", "BundleContent", "FaissIndex", "IndexConfig", "IndexFilter", "ItemFields",
    "MilvusConfig", "MilvusIndex", "VectorIndex", "as_matrix", "build_bundle", "bundle_staleness", "fields_from_export",
    "graph_digest", "load_index", "new_index", "remove_tracks", "resolve_factory", "snapshot_diff", "update_bundle",
    "write_bundle",
]
