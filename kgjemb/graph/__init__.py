"""Graph stores: one interface (:class:`GraphStore`), an embedded and a Neo4j implementation."""
from kgjemb.graph.base import (GraphDiff, GraphExport, GraphRows, GraphStats, GraphStore, LoadReport, NameMatch, NodeRef,
                               Prune, TableDiff)
from kgjemb.graph.open import open_store

__all__ = [
    "GraphDiff", "GraphExport", "GraphRows", "GraphStats", "GraphStore", "LoadReport", "NameMatch", "NodeRef",
    "Prune", "TableDiff", "open_store",
]
