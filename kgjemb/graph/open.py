"""Open the graph store a user asked for: Neo4j when a Bolt URI is given, else embedded."""
from __future__ import annotations

import os

from kgjemb.graph.base import GraphStore
from kgjemb.paths import graph_dir

__all__ = ["open_store"]


def open_store(
    uri: str | None = None,
    *,
    home: str | os.PathLike | None = None,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
) -> GraphStore:
    """Return a store. ``uri`` (or ``$NEO4J_URI``) selects Neo4j over Bolt with ``user`` /
    ``password`` (or ``$NEO4J_USER`` / ``$NEO4J_PASSWORD``; no auth when no password) and
    ``database`` (default ``neo4j``); otherwise the embedded store under ``home``.

    >>> store = open_store(home="/tmp/kg")          # embedded
    >>> store = open_store("bolt://127.0.0.1:7687")  # Neo4j 5
    """
    uri = uri or os.environ.get("NEO4J_URI")
    if uri:
        from kgjemb.graph.neo4j_store import Neo4jGraphStore

        return Neo4jGraphStore(
            uri,
            user=user or os.environ.get("NEO4J_USER", "neo4j"),
            password=password if password is not None else os.environ.get("NEO4J_PASSWORD"),
            database=database or os.environ.get("NEO4J_DATABASE") or "neo4j",
        )
    from kgjemb.graph.embedded import EmbeddedGraphStore

    return EmbeddedGraphStore(graph_dir(home))
