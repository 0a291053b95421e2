"""Graph proximity computed inside Neo4j: the same typed personalised walk as
:mod:`kgjemb.graph.proximity`, one Cypher statement per step (``proximity.cypher``), so a
graph that does not fit in the query process's memory is walked where it lives.

Only the frontier (nodes with mass) crosses the wire each step; the database does the
typed normalisation and sums the mass arriving at each node. The result equals the
embedded walk (parity test: tests/test_proximity_neo4j.py).

>>> from kgjemb.graph.neo4j_proximity import walk_in_database  # doctest: +SKIP
>>> walk_in_database(store, {"Artist:bach": 1.0})["Track:t1"]  # doctest: +SKIP
"""
from __future__ import annotations

from kgjemb.graph.neo4j_store import Neo4jGraphStore, cypher_statements
from kgjemb.graph.proximity import WALK_TYPES, RelWeights, WalkConfig

__all__ = ["walk_in_database"]


def walk_in_database(store: Neo4jGraphStore, seeds: dict[str, float], *, weights: RelWeights = RelWeights(),
                     config: WalkConfig = WalkConfig()) -> dict[str, float]:
    """Walk mass per ``"Label:id"`` from ``seeds`` (``"Label:id"`` → weight, normalised to
    sum 1; unknown nodes ignored), truncated at ``config.steps`` steps with restart
    ``config.restart``, frontier capped at ``config.max_frontier`` heaviest nodes holding
    at least ``config.min_mass``."""
    statements = cypher_statements("proximity.cypher")
    types = [t for t in WALK_TYPES if weights.of(t) > 0]
    type_weights = {t: weights.of(t) for t in types}
    wanted = [{"label": k.split(":", 1)[0], "id": k.split(":", 1)[1], "mass": float(v)}
              for k, v in seeds.items() if ":" in k and v > 0]

    def work(tx) -> dict[str, float]:
        found = tx.run(statements["seeds"], {"seeds": wanted}).data()
        total = sum(r["mass"] for r in found)
        if not found or total <= 0:
            return {}
        a = config.restart
        frontier = {r["eid"]: (f"{r['label']}:{r['id']}", r["mass"] / total) for r in found}
        score: dict[str, float] = {}
        for key, m in frontier.values():
            score[key] = score.get(key, 0.0) + a * m
        for _ in range(config.steps):
            items = sorted(((eid, km) for eid, km in frontier.items() if km[1] >= config.min_mass),
                           key=lambda kv: (-kv[1][1], kv[0]))[: config.max_frontier]
            if not items or not types:
                break
            rows = tx.run(statements["walk_step"], {
                "frontier": [{"eid": eid, "mass": m} for eid, (_, m) in items],
                "types": types, "weights": type_weights, "keep": 1.0 - a,
                "gamma": float(weights.type_degree_power),
            }).data()
            frontier = {r["eid"]: (f"{r['label']}:{r['id']}", r["mass"]) for r in rows if r["mass"] > 0}
            for key, m in frontier.values():
                score[key] = score.get(key, 0.0) + a * m
        return score

    with store._session() as session:  # noqa: SLF001 - the store's own session factory
        return store._call(session.execute_read, work, what="walk the graph")  # noqa: SLF001
