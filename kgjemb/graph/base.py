"""The one interface every graph store implements, and the values it passes around.

Training, indexing and querying talk to a :class:`GraphStore` only; whether the embedded
networkx store or Neo4j over Bolt is behind it must not change any result. A parity test
loads one catalog into both and compares everything this interface returns.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Literal, Protocol, runtime_checkable

import pandas as pd

from kgjemb.catalog.rows import GraphRows
from kgjemb.catalog.schema import EDGE_PROPERTIES, NODE_LABELS, NODE_PROPERTIES, REL_TYPES

if TYPE_CHECKING:  # torch_geometric is heavy; imported only where HeteroData is built
    from torch_geometric.data import HeteroData

__all__ = [
    "EdgeKey",
    "GraphExport",
    "GraphRows",
    "GraphStats",
    "GraphStore",
    "LoadReport",
    "NameMatch",
    "NodeRef",
]

#: (src_label, rel_type, dst_label), always one of ``schema.REL_TYPES``.
EdgeKey = tuple[str, str, str]


@dataclass
class LoadReport:
    """Outcome of one ``upsert``: counts per label / relationship type, and timing."""

    nodes_created: dict[str, int] = field(default_factory=dict)
    nodes_updated: dict[str, int] = field(default_factory=dict)
    rels_created: dict[str, int] = field(default_factory=dict)
    rels_updated: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict:
        return {
            "nodes_created": self.nodes_created,
            "nodes_updated": self.nodes_updated,
            "rels_created": self.rels_created,
            "rels_updated": self.rels_updated,
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

    def upsert(self, rows: GraphRows, *, batch_size: int = 5000, progress: bool = True) -> LoadReport:
        """Idempotently create or update the given nodes and relationships."""
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
