"""Open the graph store a user asked for: Neo4j when a Bolt URI is given, else embedded."""
from __future__ import annotations

import os

from kgjemb.graph.base import GraphExport, GraphStore
from kgjemb.paths import graph_dir

__all__ = ["catalog_export", "open_store"]


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


def catalog_export(path: str | os.PathLike) -> GraphExport:
    """The graph of the catalog folder ``path``, validated and loaded into a throw-away
    in-memory store (nothing written to disk). Raises :class:`~kgjemb.errors.KgjembError`
    naming the problem count when the catalog does not validate.

    >>> export = catalog_export("graph/fixtures/example")
    """
    from kgjemb.catalog.rows import catalog_to_rows
    from kgjemb.catalog.validate import validate_catalog
    from kgjemb.errors import KgjembError
    from kgjemb.graph.embedded import EmbeddedGraphStore

    catalog, report = validate_catalog(path)
    if not report.valid:
        raise KgjembError(f"catalog {path} does not validate ({len(report.problems)} problems); "
                          f"run: kgjemb graph validate {path}")
    store = EmbeddedGraphStore(None)
    store.upsert(catalog_to_rows(catalog), progress=False)
    return store.export()
