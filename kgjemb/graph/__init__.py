"""Graph stores: one interface (:class:`GraphStore`), an embedded and a Neo4j implementation."""
from kgjemb.graph.base import GraphExport, GraphRows, GraphStats, GraphStore, LoadReport, NameMatch, NodeRef
from kgjemb.graph.open import open_store

__all__ = [
    "GraphExport", "GraphRows", "GraphStats", "GraphStore", "LoadReport", "NameMatch", "NodeRef",
    "open_store",
]
