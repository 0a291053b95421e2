"""The one interface every graph store implements, and the values it passes around.

Training, indexing and querying talk to a :class:`GraphStore` only; whether the embedded
networkx store or Neo4j over Bolt is behind it must not change any result. A parity test
loads one catalog into both and compares everything this interface returns.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Literal, Mapping, Protocol, runtime_checkable

import pandas as pd

from kgjemb.catalog.rows import GraphRows
from kgjemb.catalog.schema import EDGE_PROPERTIES, NODE_LABELS, NODE_PROPERTIES, REL_TYPES

if TYPE_CHECKING:  # torch_geometric is heavy; imported only where HeteroData is built
    from torch_geometric.data import HeteroData

__all__ = [
    "EdgeKey",
    "GraphDiff",
    "GraphExport",
    "GraphRows",
    "GraphStats",
    "GraphStore",
    "LoadReport",
    "NameMatch",
    "NodeRef",
    "Prune",
    "TableDiff",
]

#: (src_label, rel_type, dst_label), always one of ``schema.REL_TYPES``.
EdgeKey = tuple[str, str, str]


@dataclass
class Prune:
    """What a pruning load may delete, so that the graph mirrors the catalog.

    Nodes: every node absent from the catalog (with its relationships). Relationships:
    those absent from the catalog whose ``source`` the catalog speaks for, i.e. the
    default source ``catalog``, every source that occurs in the catalog's rows, and
    ``sources`` (curator-named extras); ``all_sources=True`` prunes regardless of source.
    Curated or derived edges of other sources stay unless asked for. Default: the
    catalog's own sources only.

    >>> Prune(sources=frozenset({"lastfm"}))
    Prune(sources=frozenset({'lastfm'}), all_sources=False)
    """

    sources: frozenset[str] = frozenset()
    all_sources: bool = False


@dataclass
class TableDiff:
    """The difference for one label or one relationship key (``EdgeKey``).

    Keys are node ids or ``(src, dst)`` pairs; values are property tuples in
    ``NODE_PROPERTIES[label]`` / ``EDGE_PROPERTIES`` order. ``changed`` holds
    ``(old, new)`` only where at least one property really differs (after the export's
    type normalisation); ``dangling`` counts new relationships left out because an
    endpoint is not in the graph; ``kept`` holds relationships a pruning load leaves
    although the rows lack them, because the rows do not speak for their source.
    """

    created: dict = field(default_factory=dict)
    changed: dict = field(default_factory=dict)
    unchanged: int = 0
    deleted: dict = field(default_factory=dict)
    dangling: int = 0
    kept: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"created": len(self.created), "changed": len(self.changed), "unchanged": self.unchanged,
                "deleted": len(self.deleted)}

    def __bool__(self) -> bool:
        return bool(self.created or self.changed or self.deleted)


@dataclass
class GraphDiff:
    """What writing some rows (and, with ``pruned``, deleting what they lack) does to a
    graph: one :class:`TableDiff` per label and per relationship key (every one present).
    Built by :func:`kgjemb.graph.diff.diff_tables`; both stores build it the same way, so an
    embedded and a Neo4j graph holding the same data give identical diffs.
    """

    nodes: dict[str, TableDiff]
    edges: dict[EdgeKey, TableDiff]
    pruned: bool = False

    def __bool__(self) -> bool:
        return any(self.nodes.values()) or any(self.edges.values())

    def counts(self) -> dict:
        """``{"nodes": {label: {created, changed, unchanged, deleted}}, "relationships": {type: {...}}}``
        (relationship keys of one type, e.g. Track-BY-Artist and Album-BY-Artist, summed)."""
        rels: dict[str, dict[str, int]] = {}
        for (_, rtype, _), table in self.edges.items():
            acc = rels.setdefault(rtype, dict.fromkeys(("created", "changed", "unchanged", "deleted"), 0))
            for k, v in table.counts().items():
                acc[k] += v
        return {"nodes": {lb: t.counts() for lb, t in self.nodes.items()}, "relationships": dict(sorted(rels.items()))}


@dataclass
class LoadReport:
    """Outcome of one write (``upsert`` or ``delete``): the :class:`GraphDiff` it applied,
    counted per label and relationship type as created / changed (a property really
    changed) / unchanged / deleted, plus timing."""

    diff: GraphDiff
    rows: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    def _count(self, part: str, what: str) -> dict[str, int]:
        return {name: c[what] for name, c in self.diff.counts()[part].items()}

    nodes_created = property(lambda self: self._count("nodes", "created"))
    nodes_changed = property(lambda self: self._count("nodes", "changed"))
    nodes_unchanged = property(lambda self: self._count("nodes", "unchanged"))
    nodes_deleted = property(lambda self: self._count("nodes", "deleted"))
    rels_created = property(lambda self: self._count("relationships", "created"))
    rels_changed = property(lambda self: self._count("relationships", "changed"))
    rels_unchanged = property(lambda self: self._count("relationships", "unchanged"))
    rels_deleted = property(lambda self: self._count("relationships", "deleted"))

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict:
        return {
            **self.diff.counts(),
            "pruned": self.diff.pruned,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows_per_s, 1) if self.seconds > 0 else None,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class GraphStats:
    """``{"nodes": {label: n}, "relationships": {type: n}}``; every label/type present, 0 if none."""

    nodes: dict[str, int]
    relationships: dict[str, int]

    def to_dict(self) -> dict:
        return {"nodes": dict(self.nodes), "relationships": dict(self.relationships)}


@dataclass(frozen=True, order=True)
class NodeRef:
    """A node reached from another: sorted by (hops, label, id) in results."""

    hops: int
    label: str
    id: str


@dataclass(frozen=True)
class NameMatch:
    """One answer of a name lookup.

    ``how`` is ``exact`` (case/accent-insensitive equality with the node's name or title),
    ``alias`` (equality with one of an artist's aliases) or ``fuzzy`` (rapidfuzz score,
    0–100, at or above the cut-off). ``matched`` is the string that matched.
    """

    label: str
    id: str
    name: str
    matched: str
    score: float
    how: Literal["exact", "alias", "fuzzy"]


@dataclass
class GraphExport:
    """Typed node tables and edge lists, deterministic and store-independent.

    ``nodes[label]`` is a DataFrame with columns ``["id", *NODE_PROPERTIES[label]]`` sorted
    by ``id`` (row position = node index in :meth:`to_hetero_data`). ``edges[key]`` is a
    DataFrame with columns ``["src", "dst", *EDGE_PROPERTIES]`` (ids, not indices) sorted
    by (src, dst). Every label of ``NODE_LABELS`` and every key of ``REL_TYPES`` is present
    (possibly empty).
    """

    nodes: dict[str, pd.DataFrame]
    edges: dict[EdgeKey, pd.DataFrame]

    def node_index(self, label: str) -> dict[str, int]:
        """Map id → row position for one label."""
        return {node_id: i for i, node_id in enumerate(self.nodes[label]["id"])}

    def to_hetero_data(self) -> "HeteroData":
        """Build a torch-geometric ``HeteroData`` with ``num_nodes``, ``node_ids`` per type
        and ``edge_index`` / ``edge_weight`` per edge type (reverse edges are not added)."""
        import torch
        from torch_geometric.data import HeteroData

        data = HeteroData()
        index = {}
        for label in NODE_LABELS:
            frame = self.nodes[label]
            data[label].num_nodes = len(frame)
            data[label].node_ids = list(frame["id"])
            index[label] = self.node_index(label)
        for key in REL_TYPES:
            src_label, _, dst_label = key
            frame = self.edges[key]
            src = [index[src_label][s] for s in frame["src"]]
            dst = [index[dst_label][d] for d in frame["dst"]]
            data[key].edge_index = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
            weight = pd.to_numeric(frame["weight"], errors="coerce").fillna(1.0)
            data[key].edge_weight = torch.tensor(weight.to_numpy(), dtype=torch.float32)
        return data

    @staticmethod
    def empty() -> "GraphExport":
        return GraphExport(
            nodes={lb: pd.DataFrame(columns=["id", *NODE_PROPERTIES[lb]]) for lb in NODE_LABELS},
            edges={k: pd.DataFrame(columns=["src", "dst", *EDGE_PROPERTIES]) for k in REL_TYPES},
        )


@runtime_checkable
class GraphStore(Protocol):
    """A music knowledge graph. Implementations: ``EmbeddedGraphStore``, ``Neo4jGraphStore``."""

    def upsert(self, rows: GraphRows, *, prune: Prune | None = None, batch_size: int = 5000,
               progress: bool = True) -> LoadReport:
        """Idempotently create the new and rewrite the changed nodes and relationships of
        ``rows`` (equal ones are left alone); with ``prune``, also delete what ``rows`` lack
        (see :class:`Prune`). The report carries the applied :class:`GraphDiff`."""
        ...

    def diff(self, rows: GraphRows, *, prune: Prune | None = None) -> GraphDiff:
        """What ``upsert(rows, prune=prune)`` would do, property by property; writes nothing."""
        ...

    def delete(self, nodes: Mapping[str, Iterable[str]], *, batch_size: int = 5000,
               progress: bool = True) -> LoadReport:
        """Delete the named nodes (``{label: ids}``) with all their relationships;
        absent ids are ignored (idempotent)."""
        ...

    def stats(self) -> GraphStats: ...

    def get_node(self, label: str, node_id: str) -> dict | None:
        """Properties of one node (with ``id``), or None if absent."""
        ...

    def lookup(
        self,
        name: str,
        *,
        labels: Iterable[str] | None = None,
        fuzzy: bool = True,
        limit: int = 10,
        cutoff: float = 80.0,
    ) -> list[NameMatch]:
        """Nodes whose name/title/alias matches ``name``: exact and alias matches first, then
        fuzzy matches by descending score; ties broken by (label, id)."""
        ...

    def neighbours(
        self,
        label: str,
        node_id: str,
        *,
        rel_types: Iterable[str] | None = None,
        hops: int = 1,
        direction: Literal["out", "in", "both"] = "both",
    ) -> list[NodeRef]:
        """Nodes within ``hops`` relationships of the given types (all if None), each at its
        shortest distance, sorted; the start node is excluded."""
        ...

    def export(self) -> GraphExport: ...

    def clear(self) -> None:
        """Delete every node and relationship (tests and full reloads)."""
        ...

    def close(self) -> None: ...
