"""Bulk loading for the Neo4j store: parallel writers, nodes before relationships, CREATE
into an empty graph, and batches partitioned so that concurrent transactions do not fight
over the same nodes.

:meth:`~kgjemb.graph.neo4j_store.Neo4jGraphStore.upsert` hands large loads here
(``bulk=None`` means: at least :data:`BULK_MIN_ROWS` rows). The result is the same graph as
the batched MERGE path (a parity test loads both ways and compares exports):

1. Rows are de-duplicated up front, the last row per node id and per (src, dst) of a
   relationship key winning, as successive MERGE + SET batches would leave them.
2. If the database holds no node at all (a first load), nodes and relationships are
   written with CREATE (``bulk.cypher``), which skips the per-row existence check; the
   uniqueness constraints still guard every id. Otherwise the MERGE statements of
   ``upsert.cypher`` run (a re-load updates properties in place).
3. Nodes of every label first, then relationships, each phase spread over ``workers``
   sessions of one driver. Relationship rows are sorted by source node and cut into
   batches at source boundaries, so no two concurrent batches touch the same source node
   (the sparse side, locked exclusively); the shared hubs (Attribute, Artist) are dense
   nodes, which Neo4j 5 updates without an exclusive node lock. A deadlock or other
   transient error is retried by the driver's managed transaction.

>>> report = bulk_upsert(driver, "neo4j", rows, call=store._call, create=cypher_statements("bulk.cypher"),
...                      merge=cypher_statements("upsert.cypher"))  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from kgjemb.catalog.schema import NODE_LABELS, REL_TYPES
from kgjemb.graph.base import EdgeKey, GraphRows

__all__ = ["BULK_MIN_ROWS", "BulkConfig", "bulk_upsert", "partition_by_source"]

logger = logging.getLogger(__name__)

#: upserts of at least this many rows go through the bulk loader by default
BULK_MIN_ROWS = 20_000


@dataclass(frozen=True)
class BulkConfig:
    """``workers``: concurrent writer sessions (3: on 2 cores one more than the server's
    threads overlaps the client's encoding with the server's work); ``batch_size``: rows per
    transaction (10,000)."""

    workers: int = 3
    batch_size: int = 10_000

    def __post_init__(self) -> None:
        for name in ("workers", "batch_size"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


def partition_by_source(rows: list[dict], batch_size: int) -> list[list[dict]]:
    """Batches of about ``batch_size`` relationship rows, sorted by ``src`` and cut only
    between two sources, so that each source node lies in exactly one batch.

    >>> [len(b) for b in partition_by_source([{"src": s, "dst": d} for s, d in ["a1", "a2", "b1", "c1", "c2"]], 2)]
    [2, 3]
    """
    ordered = sorted(rows, key=lambda r: r["src"])
    batches: list[list[dict]] = []
    current: list[dict] = []
    for row in ordered:
        if len(current) >= batch_size and row["src"] != current[-1]["src"]:
            batches.append(current)
            current = []
        current.append(row)
    if current:
        batches.append(current)
    return batches


def _dedupe_nodes(records: list[dict]) -> list[dict]:
    return list({r["id"]: r for r in records}.values())


def _dedupe_edges(records: list[dict]) -> list[dict]:
    return list({(r["src"], r["dst"]): r for r in records}.values())


def _rel_key(key: EdgeKey) -> str:
    return "_".join(key)


@dataclass
class _Counts:
    """Per label / type: rows created and rows that matched existing ones (for the log)."""

    nodes_created: dict = field(default_factory=dict)
    nodes_updated: dict = field(default_factory=dict)
    rels_created: dict = field(default_factory=dict)
    rels_updated: dict = field(default_factory=dict)


def bulk_upsert(driver, database: str, rows: GraphRows, *, call: Callable, create: dict[str, str],
                merge: dict[str, str], config: BulkConfig = BulkConfig(), progress: bool = True,
                uri: str = "") -> float:
    """Write ``rows`` (already validated by the store) with parallel writers; see the
    module docstring. ``call`` wraps each driver call (the store's error translation);
    ``create`` / ``merge``: the statements of ``bulk.cypher`` / ``upsert.cypher``. Returns
    the seconds it took (the store reports what was created and changed from its diff)."""
    start = time.perf_counter()
    report = _Counts()

    def count_nodes() -> int:
        with driver.session(database=database) as session:
            return call(lambda: session.run(create["graph_node_count"]).single()["n"], what="count the nodes")

    first_load = count_nodes() == 0
    mode = "create (empty graph)" if first_load else "merge"
    nodes = {lb: _dedupe_nodes(rows.nodes.get(lb, [])) for lb in NODE_LABELS}
    edges = {key: _dedupe_edges(rows.edges.get(key, [])) for key in REL_TYPES}

    def run_batch(statement: str, batch: list[dict], what: str) -> tuple[int, int]:
        def work(tx):
            result = tx.run(statement, {"rows": batch})
            records = list(result)
            counters = result.consume().counters
            matched = records[0]["matched"] if records else len(batch)
            return counters.nodes_created + counters.relationships_created, matched

        with driver.session(database=database) as session:
            return call(session.execute_write, work, what=f"write a batch of {len(batch)} {what} rows")

    with ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="neo4j-bulk") as pool, \
            tqdm(total=len(rows), desc=f"bulk upsert (neo4j, {mode})", unit="row", disable=not progress,
                 leave=False) as bar:
        # phase 1: nodes of every label (distinct ids: batches never contend)
        jobs = {}
        for label in NODE_LABELS:
            statement = create[f"create_{label}"] if first_load else merge[f"node_{label}"]
            records = nodes[label]
            for lo in range(0, len(records), config.batch_size):
                batch = records[lo:lo + config.batch_size]
                jobs[pool.submit(run_batch, statement, batch, label)] = (label, len(batch))
            report.nodes_created.setdefault(label, 0)
            report.nodes_updated.setdefault(label, 0)
        for done in as_completed(jobs):
            label, n = jobs[done]
            created, _ = done.result()
            report.nodes_created[label] += created
            report.nodes_updated[label] += n - created
            bar.update(n)
        # phase 2: relationships, batches cut at source boundaries
        jobs = {}
        dangling: dict[EdgeKey, int] = {}
        for key in REL_TYPES:
            statement = create[f"create_rel_{_rel_key(key)}"] if first_load else merge[f"rel_{_rel_key(key)}"]
            for batch in partition_by_source(edges[key], config.batch_size):
                jobs[pool.submit(run_batch, statement, batch, key[1])] = (key, len(batch))
            report.rels_created.setdefault(key[1], 0)
            report.rels_updated.setdefault(key[1], 0)
        for done in as_completed(jobs):
            key, n = jobs[done]
            created, matched = done.result()
            report.rels_created[key[1]] += created
            report.rels_updated[key[1]] += matched - created
            dangling[key] = dangling.get(key, 0) + n - matched
            bar.update(n)
        bar.update(len(rows) - bar.n)  # duplicates removed up front
    for key, n in dangling.items():
        if n:
            logger.warning("%d %s-%s->%s relationship(s) left out: endpoint not in the graph", n, *key)
    seconds = time.perf_counter() - start
    logger.info("bulk upsert (%s, %d workers) of %d rows into %s in %.2fs (%.0f rows/s; created %d nodes, %d "
                "relationships)", mode, config.workers, len(rows), uri, seconds, len(rows) / max(seconds, 1e-9),
                sum(report.nodes_created.values()), sum(report.rels_created.values()))
    return seconds
