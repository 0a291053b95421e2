"""The Neo4j 5 graph store: the same :class:`~kgjemb.graph.base.GraphStore` over Bolt.

Every statement it runs is a literal in the packaged ``kgjemb/graph/cypher/*.cypher`` files
(labels and relationship types written out there, one statement per label and per
relationship key); data only ever travels as parameters. Writes are batched
``UNWIND $rows ... MERGE`` statements, each batch in its own managed transaction
(``session.execute_write`` retries transient errors), so an interrupted load leaves whole
batches and a re-run completes it. On open the store creates its uniqueness constraints and
indexes idempotently (``IF NOT EXISTS``) and waits until they are online.

Name look-ups and exports go through the same :class:`~kgjemb.graph.names.NameIndex` and
:func:`~kgjemb.graph.frames.build_export` as the embedded store, so both stores answer alike.
The name index is fetched with one query and cached until this object writes again (writes
by other processes are seen after :meth:`Neo4jGraphStore.refresh`).

>>> store = Neo4jGraphStore("bolt://127.0.0.1:7687")            # auth off (dev server)
>>> store.upsert(catalog_to_rows(catalog)).nodes_created["Track"]
>>> store.neighbours("Track", "t01", rel_types=["BY"], direction="out")
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from kgjemb.catalog.schema import EDGE_PROPERTIES, NODE_LABELS, NODE_PROPERTIES, REL_TYPES
from kgjemb.errors import MissingDependencyError, StoreError, UnknownEntityError
from kgjemb.graph.base import EdgeKey, GraphDiff, GraphExport, GraphRows, GraphStats, LoadReport, NameMatch, NodeRef, Prune
from kgjemb.graph.diff import diff_tables, rows_to_tables, write_rows
from kgjemb.graph.embedded import check_rel_types
from kgjemb.graph.frames import build_export
from kgjemb.graph.neo4j_bulk import BULK_MIN_ROWS, BulkConfig, bulk_upsert
from kgjemb.graph.neo4j_import import ImportFiles, write_import_files
from kgjemb.graph.names import NameIndex

__all__ = ["Neo4jGraphStore", "cypher_statements", "schema_statements"]

logger = logging.getLogger(__name__)

_TYPE_NAMES = tuple(sorted({t for _, t, _ in REL_TYPES}))
_DIRECTIONS = ("both", "in", "out")


def _read_cypher(name: str) -> str:
    return resources.files("kgjemb.graph").joinpath("cypher", name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def cypher_statements(name: str) -> dict[str, str]:
    """Named statements of one packaged ``.cypher`` file: each starts at a
    ``// name: KEY`` line and ends at ``;``; other ``//`` lines are comments.

    >>> "node_Artist" in cypher_statements("upsert.cypher")
    True
    """
    out: dict[str, str] = {}
    key: str | None = None
    lines: list[str] = []
    for line in _read_cypher(name).splitlines():
        stripped = line.strip()
        if stripped.startswith("// name:"):
            key, lines = stripped.split(":", 1)[1].strip(), []
            continue
        if stripped.startswith("//") or key is None:
            continue
        lines.append(line)
        if stripped.endswith(";"):
            out[key] = "\n".join(lines).rstrip().rstrip(";")
            key = None
    return out


@lru_cache(maxsize=None)
def schema_statements() -> tuple[str, ...]:
    """The ``;``-separated statements of the packaged ``schema.cypher`` (comments dropped)."""
    text = "\n".join(ln for ln in _read_cypher("schema.cypher").splitlines() if not ln.strip().startswith("//"))
    return tuple(s.strip() for s in text.split(";") if s.strip())


def _check_label(label: str) -> None:
    if label not in NODE_LABELS:
        raise ValueError(f"unknown label {label!r}; choose from {list(NODE_LABELS)}")


_EDGE_KEYS = frozenset({"src", "dst", *EDGE_PROPERTIES})


def _check_keys(batch: list[dict], need: set | frozenset, what: str) -> None:
    """Rows are sent as they are (extra keys are ignored by the statements); a missing key
    would silently become null in Cypher, so refuse it as the embedded store does."""
    for row in batch:
        if not need <= row.keys():
            raise ValueError(f"a {what} row lacks {sorted(need - row.keys())}; rows need {sorted(need)}")


def _rel_key(key: EdgeKey) -> str:
    return "rel_" + "_".join(key)


class Neo4jGraphStore:
    """:class:`~kgjemb.graph.base.GraphStore` backed by a Neo4j 5 database over Bolt.

    ``uri`` e.g. ``bolt://127.0.0.1:7687``; ``user`` (default ``neo4j``) and ``password``
    (None: no auth, as on the dev server of ``scripts/neo4j-dev``); ``database`` (default
    ``neo4j``). Raises :class:`~kgjemb.errors.StoreError` naming the URI when the server
    cannot be reached or refuses the credentials.

    >>> with Neo4jGraphStore("bolt://127.0.0.1:7687") as store:
    ...     store.stats().nodes["Artist"]
    """

    def __init__(self, uri: str, *, user: str = "neo4j", password: str | None = None,
                 database: str = "neo4j", connection_timeout: float = 10.0) -> None:
        try:
            import neo4j
        except ImportError as err:  # pragma: no cover - a core dependency
            raise MissingDependencyError("the Neo4j store needs the driver: pip install 'neo4j>=5.20'") from err
        self.uri = uri
        self.database = database
        self._names: NameIndex | None = None
        auth = (user or "neo4j", password) if password else None
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri, auth=auth, connection_timeout=connection_timeout, max_connection_pool_size=8,
                notifications_min_severity="OFF")
        except Exception as err:  # bad scheme, malformed address
            raise StoreError(f"cannot open Neo4j at {uri!r}: {err}") from err
        try:
            self._call(self._driver.verify_connectivity, what="connect")
            self._ensure_schema()
        except StoreError:
            self._driver.close()
            raise

    # -- plumbing ----------------------------------------------------------------------
    def _call(self, fn: Callable, *args, what: str, **kwargs):
        """Run one driver call, turning driver errors into a StoreError naming the URI."""
        import neo4j.exceptions as nex

        try:
            return fn(*args, **kwargs)
        except nex.AuthError as err:
            raise StoreError(f"Neo4j at {self.uri!r} refused the credentials ({what}): {err.message}") from err
        except nex.ServiceUnavailable as err:
            raise StoreError(f"Neo4j at {self.uri!r} is unreachable ({what}): {err}") from err
        except nex.Neo4jError as err:
            raise StoreError(f"Neo4j at {self.uri!r} failed to {what}: {err.code}: {err.message}") from err
        except nex.DriverError as err:
            raise StoreError(f"Neo4j at {self.uri!r} failed to {what}: {err}") from err

    def _session(self):
        return self._driver.session(database=self.database)

    def _read(self, statement: str, *, what: str, session=None, **params) -> list[dict]:
        """Records of one read statement (a managed read transaction) as dicts, in
        ``session`` when given (saves a pool round trip per statement), else a new one."""
        text = cypher_statements("read.cypher")[statement]

        def work(tx):
            return tx.run(text, params).data()

        if session is not None:
            return self._call(session.execute_read, work, what=what)
        with self._session() as own:
            return self._call(own.execute_read, work, what=what)

    def _read_rows(self, statement: str, *, what: str) -> list[list]:
        """The ``rows`` list of a one-record export statement (``collect([...]) AS rows``),
        as the driver decoded it: ``Result.data()`` would copy every inner list again
        (4-5x the client CPU on 300k rows)."""
        text = cypher_statements("read.cypher")[statement]

        def work(tx):
            return tx.run(text).single()["rows"]

        with self._session() as session:
            return self._call(session.execute_read, work, what=what)

    def _ensure_schema(self) -> None:
        with self._session() as session:
            for statement in schema_statements():  # constraints, indexes, then wait until online
                self._call(lambda s=statement: session.run(s).consume(), what="create the schema")

    # -- writing -----------------------------------------------------------------------
    def upsert(self, rows: GraphRows, *, prune: Prune | None = None, batch_size: int = 5000,
               progress: bool = True, bulk: bool | None = None) -> LoadReport:
        """Diff ``rows`` against the graph (:meth:`diff`), then write the created and changed
        nodes, then relationships, in batches of ``batch_size`` (default 5000) rows, and
        with ``prune`` delete what ``rows`` lack (relationships, then nodes; see
        :class:`~kgjemb.graph.base.Prune`). Each batch is committed in its own transaction
        (retried on transient errors), so an interrupted run leaves whole batches and
        running it again computes the rest of the diff and completes it. A node is
        (label, id), a relationship (src, type, dst); a written one gets exactly the row's
        properties. Relationships whose endpoints are absent are left out with a warning.
        ``progress=False`` hides the bar. ``bulk``: write the created and changed rows with the
        parallel bulk loader (:mod:`kgjemb.graph.neo4j_bulk`; None = when at least
        ``BULK_MIN_ROWS`` rows are to be written); the same graph, more rows/s.
        """
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        start = time.perf_counter()
        diff = self.diff(rows, prune=prune)
        for key, table in diff.edges.items():
            if table.dangling:
                logger.warning("%d %s-%s->%s relationship(s) left out: endpoint not in the graph", table.dangling, *key)
        to_write = write_rows(diff)
        if bulk or (bulk is None and len(to_write) >= BULK_MIN_ROWS):
            self._names = None
            bulk_upsert(self._driver, self.database, to_write, call=self._call, create=cypher_statements("bulk.cypher"),
                        merge=cypher_statements("upsert.cypher"), config=BulkConfig(batch_size=batch_size),
                        progress=progress, uri=self.uri)
        else:
            self._merge(to_write, batch_size=batch_size, progress=progress)
        self._delete(diff, batch_size=batch_size, progress=progress)
        report = LoadReport(diff=diff, rows=len(rows), seconds=time.perf_counter() - start)
        logger.info("upserted %d rows into %s in %.2fs (%.0f rows/s)", report.rows, self.uri, report.seconds,
                    report.rows_per_s)
        return report

    def diff(self, rows: GraphRows, *, prune: Prune | None = None) -> GraphDiff:
        """What :meth:`upsert` with these arguments would do (the graph is read with the
        export statements and compared exactly as the embedded store compares); nothing is
        written. Raises ``ValueError`` for unknown labels or incomplete rows."""
        for label, records in rows.nodes.items():  # refuse bad rows before writing anything
            if label in NODE_LABELS:
                _check_keys(records, {"id", *NODE_PROPERTIES[label]}, label)
        for key, records in rows.edges.items():
            _check_keys(records, _EDGE_KEYS, key[1])
        new_nodes, new_edges = rows_to_tables(rows)
        # an empty graph (a first load) is not read: nothing to compare with
        old_nodes, old_edges = ({}, {}) if self.is_empty() else self._tables()
        return diff_tables(old_nodes, old_edges, new_nodes, new_edges, prune=prune)

    def is_empty(self) -> bool:
        """True when the database holds no node (hence no relationship)."""
        statement = cypher_statements("bulk.cypher")["graph_node_count"]
        with self._session() as session:
            return self._call(lambda: session.run(statement).single()["n"], what="count the nodes") == 0

    def write_import_files(self, rows: GraphRows, folder: Path) -> tuple[GraphDiff, ImportFiles]:
        """For a first load with Neo4j's own bulk importer: the diff of ``rows`` against
        this EMPTY graph (what :meth:`upsert` would create) written as importer CSVs under
        ``folder`` (:mod:`kgjemb.graph.neo4j_import`); ``scripts/neo4j-dev import --files
        FOLDER`` then loads them into a local dev server. Raises ``StoreError`` when the
        graph is not empty (the importer replaces the database: use :meth:`upsert`)."""
        if not self.is_empty():
            raise StoreError(f"Neo4j at {self.uri!r} already holds a graph; the bulk importer only loads an empty "
                             "database: use upsert (graph load) instead")
        diff = self.diff(rows)
        for key, table in diff.edges.items():
            if table.dangling:
                logger.warning("%d %s-%s->%s relationship(s) left out: endpoint not in the graph", table.dangling, *key)
        return diff, write_import_files(diff, folder)

    def delete(self, nodes: Mapping[str, Iterable[str]], *, batch_size: int = 5000,
               progress: bool = True) -> LoadReport:
        """Delete the named nodes (``{label: ids}``) with every relationship touching them:
        batched, parameterised deletes of the relationships, then ``DETACH DELETE`` of the
        nodes, each batch its own transaction; absent ids are ignored, so an interrupted
        run is completed by running it again."""
        for label in nodes:
            _check_label(label)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        start = time.perf_counter()
        old_nodes, old_edges = self._tables()
        diff = diff_tables(old_nodes, old_edges, {}, {}, delete=nodes)
        self._delete(diff, batch_size=batch_size, progress=progress)
        return LoadReport(diff=diff, seconds=time.perf_counter() - start)

    def _tables(self) -> tuple[dict, dict]:
        """The graph as diff tables (``kgjemb.graph.diff``), read with the export statements
        (a re-load is mostly this read; reading the tables in 3 parallel sessions was tried
        and gave no measurable gain on 2 cores)."""
        nodes, edges = {}, {}
        for label in NODE_LABELS:
            rows = self._read_rows(f"export_{label}", what="read nodes")
            nodes[label] = {row[0]: tuple(row[1:]) for row in rows}
        for key in REL_TYPES:
            rows = self._read_rows("export_" + "_".join(key), what="read relationships")
            edges[key] = {(row[0], row[1]): tuple(row[2:]) for row in rows}
        return nodes, edges

    def _delete(self, diff: GraphDiff, *, batch_size: int, progress: bool) -> None:
        """Delete the diff's relationships, then its nodes, ``batch_size`` per transaction."""
        todo = sum(len(t.deleted) for t in diff.edges.values()) + sum(len(t.deleted) for t in diff.nodes.values())
        if not todo:
            return
        statements = cypher_statements("delete.cypher")
        self._names = None
        with self._session() as session, tqdm(total=todo, desc="delete (neo4j)", unit="row", disable=not progress,
                                              leave=False) as bar:
            for key, table in diff.edges.items():
                pairs = [{"src": s, "dst": d} for s, d in sorted(table.deleted)]
                for lo in range(0, len(pairs), batch_size):
                    batch = pairs[lo:lo + batch_size]
                    self._write_param(session, statements["un" + _rel_key(key)], "rows", batch, key[1])
                    bar.update(len(batch))
            for label, table in diff.nodes.items():
                ids = sorted(table.deleted)
                for lo in range(0, len(ids), batch_size):
                    batch = ids[lo:lo + batch_size]
                    self._write_param(session, statements[f"delete_{label}"], "ids", batch, label)
                    bar.update(len(batch))
        self._names = None

    def _write_param(self, session, statement: str, name: str, values: list, what: str) -> int:
        """Run one deletion batch in a managed write transaction; returns what it deleted."""

        def work(tx):
            return tx.run(statement, {name: values}).single()["deleted"]

        return self._call(session.execute_write, work, what=f"delete a batch of {len(values)} {what}")

    def _merge(self, rows: GraphRows, *, batch_size: int, progress: bool) -> None:
        """MERGE the given rows, nodes then relationships, one transaction per batch (a
        relationship whose endpoints vanished meanwhile matches nothing and is logged)."""
        statements = cypher_statements("upsert.cypher")
        self._names = None
        with self._session() as session, tqdm(total=len(rows), desc="upsert (neo4j)", unit="row",
                                              disable=not progress, leave=False) as bar:
            for label in NODE_LABELS:
                records = rows.nodes.get(label, [])
                for lo in range(0, len(records), batch_size):
                    batch = records[lo:lo + batch_size]
                    self._write(session, statements[f"node_{label}"], batch, label)
                    bar.update(len(batch))
            for key in REL_TYPES:
                records = rows.edges.get(key, [])
                dangling = 0
                for lo in range(0, len(records), batch_size):
                    batch = records[lo:lo + batch_size]
                    _, matched = self._write(session, statements[_rel_key(key)], batch, key[1])
                    dangling += len(batch) - matched
                    bar.update(len(batch))
                if dangling:
                    logger.warning("%d %s-%s->%s relationship(s) left out: endpoint not in the graph", dangling, *key)
        self._names = None

    def _write(self, session, statement: str, rows: list[dict], what: str) -> tuple[int, int]:
        """Run one batch in a managed write transaction; returns (created, matched) where
        created counts new nodes or relationships and matched the rows the statement kept."""

        def work(tx):
            result = tx.run(statement, {"rows": rows})
            records = list(result)  # relationship statements return one `matched` record
            counters = result.consume().counters
            matched = records[0]["matched"] if records else len(rows)
            return counters.nodes_created + counters.relationships_created, matched

        return self._call(session.execute_write, work, what=f"write a batch of {len(rows)} {what} rows")

    def clear(self, *, batch_size: int = 20000) -> None:
        """Delete every relationship, then every node, ``batch_size`` (default 20000) per
        transaction so that memory stays bounded (the constraints and indexes stay)."""
        statements = cypher_statements("upsert.cypher")
        self._names = None
        with self._session() as session:
            for name in ("clear_rels_batch", "clear_nodes_batch"):
                def work(tx, text=statements[name]):
                    return tx.run(text, {"limit": batch_size}).single()["deleted"]

                while self._call(session.execute_write, work, what="clear the graph"):
                    pass

    def refresh(self) -> None:
        """Forget cached names so that writes by other clients are seen by :meth:`lookup`."""
        self._names = None

    # -- reading -----------------------------------------------------------------------
    def stats(self) -> GraphStats:
        """Nodes per label and relationships per type (every one listed, 0 if none)."""
        with self._session() as session:
            nodes = {lb: self._read(f"count_{lb}", what="count nodes", session=session)[0]["n"] for lb in NODE_LABELS}
            rels = {t: self._read(f"count_{t}", what="count relationships", session=session)[0]["n"]
                    for t in _TYPE_NAMES}
        return GraphStats(nodes=nodes, relationships=rels)

    def get_node(self, label: str, node_id: str) -> dict | None:
        """Properties of one node: ``id`` plus every schema property (None where unset,
        ``aliases`` a list), or None when absent."""
        _check_label(label)
        found = self._read(f"get_{label}", what="read a node", id=node_id)
        if not found:
            return None
        props = found[0]["props"]
        node: dict[str, Any] = {"id": node_id, **{p: props.get(p) for p in NODE_PROPERTIES[label]}}
        if "aliases" in node:
            node["aliases"] = list(node["aliases"] or [])
        return node

    def _name_index(self) -> NameIndex:
        if self._names is None:
            t = time.perf_counter()
            records = self._read("names", what="read the names")
            self._names = NameIndex((r["label"], r["id"], r["name"], r["aliases"] or ()) for r in records)
            logger.debug("name index of %d records in %.2fs", len(records), time.perf_counter() - t)
        return self._names

    def lookup(self, name: str, *, labels: Iterable[str] | None = None, fuzzy: bool = True, limit: int = 10,
               cutoff: float = 80.0) -> list[NameMatch]:
        """Exact, alias then fuzzy name matches (see :mod:`kgjemb.graph.names`)."""
        return self._name_index().lookup(name, labels=labels, fuzzy=fuzzy, limit=limit, cutoff=cutoff)

    def neighbours(self, label: str, node_id: str, *, rel_types: Iterable[str] | None = None, hops: int = 1,
                   direction: Literal["out", "in", "both"] = "both") -> list[NodeRef]:
        """Nodes within ``hops`` (default 1) relationships of ``rel_types`` (default all)
        followed ``direction`` (default both), each at its shortest distance, sorted by
        (hops, label, id). Breadth-first, one query per hop over the whole frontier (a
        variable-length pattern would enumerate every path through hub nodes).
        Raises ``UnknownEntityError`` for an absent start node.
        """
        _check_label(label)
        types = sorted(check_rel_types(rel_types))
        if hops < 1:
            raise ValueError(f"hops must be >= 1, got {hops}")
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {list(_DIRECTIONS)}, got {direction!r}")
        statements = cypher_statements("read.cypher")

        def work(tx) -> list[NodeRef] | None:
            # the whole walk in one read transaction: element ids stay valid throughout
            start = tx.run(statements[f"start_{label}"], {"id": node_id}).single()
            if start is None:
                return None
            seen = {start["eid"]}
            frontier = [start["eid"]]
            found: list[NodeRef] = []
            for depth in range(1, hops + 1):
                if not frontier or not types:
                    break
                step = tx.run(statements[f"expand_{direction}"], {"eids": frontier, "types": types}).data()
                frontier = []
                for rec in step:
                    if rec["eid"] not in seen:
                        seen.add(rec["eid"])
                        frontier.append(rec["eid"])
                        found.append(NodeRef(hops=depth, label=rec["labels"][0], id=rec["id"]))
            return sorted(found)

        with self._session() as session:
            result = self._call(session.execute_read, work, what="expand neighbours")
        if result is None:
            raise UnknownEntityError(f"{label}:{node_id}")
        return result

    def export(self) -> GraphExport:
        """Typed node tables and edge lists (see :class:`~kgjemb.graph.base.GraphExport`),
        built exactly as the embedded store builds them."""
        nodes = {}
        for label in NODE_LABELS:
            cols = ("id", *NODE_PROPERTIES[label])
            rows = self._read_rows(f"export_{label}", what="export nodes")
            nodes[label] = [dict(zip(cols, row)) for row in rows]
        cols = ("src", "dst", *EDGE_PROPERTIES)
        edges = {}
        for key in REL_TYPES:
            rows = self._read_rows("export_" + "_".join(key), what="export relationships")
            edges[key] = [dict(zip(cols, row)) for row in rows]
        return build_export(nodes, edges)

    def close(self) -> None:
        self._names = None
        self._driver.close()

    def __enter__(self) -> "Neo4jGraphStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Neo4jGraphStore({self.uri!r}, database={self.database!r})"
