"""Graph proximity: a personalised random walk over the typed graph, on sparse arrays.

The walk answers "how close is every node to these anchors, by what the graph knows":
from the anchors, mass moves along typed relationships (VERSION_OF, ON, BY, SIMILAR_TO,
INFLUENCED_BY, MEMBER_OF; both directions), restarting with probability ``restart`` at
every step, for at most ``steps`` steps (a truncated personalised PageRank):

    score = Σ_{t=0..steps} restart · (1 − restart)^t · x₀ Pᵗ

The transition ``P`` is *typed*: at a node, mass is first split over the relationship
types present there in proportion to their weights (:class:`RelWeights`), then within a
type in proportion to the edges' own ``weight``. So an artist with 300 tracks and one
curated influence still sends a fixed share of its mass along the influence, and a
VERSION_OF edge outweighs a shared album. Attribute nodes are not walked (every two
tracks sharing "genre:classical" would become neighbours): shared attributes are scored
over the candidates instead, a Track–HAS–Attribute–HAS–Track meta-path (the profiles of
:mod:`kgjemb.graph.attributes`).

Each step is a vectorised push over CSR arrays from the current frontier only (cost ∝
edges touched, never the whole graph), capped at ``max_frontier`` nodes by mass. Each
node remembers the in-edge that brought it the most mass, so :meth:`WalkResult.path`
names the path that carried most of a node's score.

>>> from kgjemb.graph.proximity import TypedGraph  # doctest: +SKIP
>>> g = TypedGraph.from_export(export)  # doctest: +SKIP
>>> w = g.walk({"Track:t1": 1.0})  # doctest: +SKIP
>>> w.score_of(["Track:t2"]), w.path("Track:t2")  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from kgjemb.catalog.schema import NODE_LABELS, REL_TYPES
from kgjemb.graph import csr, scatter
from kgjemb.graph.attributes import AttributeIncidence
from kgjemb.graph.base import GraphExport
from kgjemb.graph.frames import edge_weights

__all__ = ["RelWeights", "WalkConfig", "TypedGraph", "WalkResult", "WALK_TYPES", "WALK_ENTRIES_KEPT"]

logger = logging.getLogger(__name__)

#: relationship types the walk follows (HAS is scored as a meta-path, not walked)
WALK_TYPES: tuple[str, ...] = ("VERSION_OF", "ON", "BY", "SIMILAR_TO", "INFLUENCED_BY", "MEMBER_OF")


@dataclass(frozen=True)
class RelWeights:
    """Weight of each relationship type in the walk (≥ 0; 0 switches a type off).

    Defaults: ``version_of`` 4 (a stated rendition of the same work is the strongest fact),
    ``on`` 1, ``by`` 1, ``similar_to`` 1, ``influenced_by`` 0.7, ``member_of`` 1; ``has``
    (0.1) weighs the shared-attribute meta-path beside the walk; ``type_degree_power`` 0.5.

    ``type_degree_power`` γ: at a node, a type's share of the mass is its weight × (the
    summed weight of its edges there)^γ. γ = 0: each type present gets its weight's share
    however many edges it has, so an artist with 400 tracks and 3 similar artists sends
    half its mass to the 3 (and their few tracks then outrank the artist's own); γ = 1: a
    plain weighted walk, where the many edges drown the few.
    """

    version_of: float = 4.0
    on: float = 1.0
    by: float = 1.0
    similar_to: float = 1.0
    influenced_by: float = 0.7
    member_of: float = 1.0
    has: float = 0.1
    type_degree_power: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            if not getattr(self, f.name) >= 0:
                raise ValueError(f"relationship weight {f.name} must be >= 0, got {getattr(self, f.name)}")
        if self.type_degree_power > 1:
            raise ValueError(f"type_degree_power must be in [0, 1], got {self.type_degree_power}")

    def of(self, rel: str) -> float:
        return float(getattr(self, rel.lower()))


@dataclass(frozen=True)
class WalkConfig:
    """``restart`` (0.3): chance per step of jumping back to the anchors, so mass stays
    near them; ``steps`` (4): longest path walked; ``max_frontier`` (50,000): nodes kept
    per step (the heaviest), which bounds a step's cost on hub nodes; ``min_mass`` (1e-4): a
    node holding less mass than this pushes no further (it keeps its own score), the
    approximate push of local PageRank: it bounds a walk's cost by the graph's size near
    the anchors instead of its size within ``steps`` hops (at 10^6 tracks an artist
    reaches ~250,000 nodes in 4 steps; see ``scripts/bench_query.py``). 0 is the exact
    truncated walk; the default 1e-4 gave the exact walk's figures on the demo suites."""

    restart: float = 0.3
    steps: int = 4
    max_frontier: int = 50_000
    min_mass: float = 1e-4

    def __post_init__(self) -> None:
        if not 0 < self.restart < 1:
            raise ValueError(f"restart must be in (0, 1), got {self.restart}")
        if self.steps < 0 or self.max_frontier <= 0:
            raise ValueError(f"steps must be >= 0 and max_frontier > 0, got {self.steps}, {self.max_frontier}")
        if not 0 <= self.min_mass < 1:
            raise ValueError(f"min_mass must be in [0, 1), got {self.min_mass}")


@dataclass
class WalkResult:
    """Mass per node (``nodes`` sorted global indices, ``mass`` aligned) and, per step, the
    mass each node received (``steps[t] = (nodes, contrib)``) and the frontier it was
    pushed from (``pushed[t] = (nodes, mass)``, for ``t >= 1``), for :meth:`path`."""

    graph: "TypedGraph"
    nodes: np.ndarray  # (m,) int64, sorted
    mass: np.ndarray  # (m,) float64
    steps: list[tuple[np.ndarray, np.ndarray]]  # (nodes, contrib) per step, nodes sorted
    pushed: list[tuple[np.ndarray, np.ndarray]]  # (frontier, its mass) that made step t (t >= 1)
    restart: float = 0.3

    def __post_init__(self) -> None:
        for arr in (self.nodes, self.mass, *(a for pair in (*self.steps, *self.pushed) for a in pair)):
            arr.setflags(write=False)  # shared between queries and threads (TypedGraph.walk keeps it)

    @property
    def entries(self) -> int:
        """Array entries this result holds (what ``TypedGraph.walks_kept`` counts)."""
        return len(self.nodes) + sum(len(a) for a, _ in self.steps) + sum(len(a) for a, _ in self.pushed)

    def score(self, index: np.ndarray) -> np.ndarray:
        """Mass of the nodes at global ``index`` ``(n,)`` (0 where not reached)."""
        index = np.asarray(index, dtype=np.int64)
        pos = np.searchsorted(self.nodes, index)
        pos = np.minimum(pos, max(len(self.nodes) - 1, 0))
        found = (len(self.nodes) > 0) & (self.nodes[pos] == index) if len(self.nodes) else np.zeros(len(index), bool)
        return np.where(found, self.mass[pos] if len(self.nodes) else 0.0, 0.0)

    def score_of(self, keys: list[str]) -> np.ndarray:
        return self.score(np.array([self.graph.node(k) for k in keys], dtype=np.int64))

    def top(self, label: str, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` heaviest nodes of ``label``: (row positions within that label, mass)."""
        lo, hi = self.graph.offsets[label]
        a, b = np.searchsorted(self.nodes, [lo, hi])  # nodes are sorted: the label is one slice
        rows, mass = self.nodes[a:b] - lo, self.mass[a:b]
        if exclude is not None and len(exclude):
            keep = ~np.isin(rows, exclude)
            rows, mass = rows[keep], mass[keep]
        if len(rows) > k:
            part = np.argpartition(-mass, k - 1)[:k]
            rows, mass = rows[part], mass[part]
        order = np.lexsort((rows, -mass))
        return rows[order], mass[order]

    def _parents(self, t: int, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``nodes`` ``(m,)``, the in-edge that brought it the most mass at step
        ``t``: (previous nodes, edge type codes), both ``(m,)``; ties go to the lowest
        previous node, then the first entry of its row. Every walked edge is stored both ways,
        so a node's in-neighbours are its out-neighbours, and the entry u → node is the
        reverse (``TypedGraph.reverse``) of the entry node → u. All nodes at once: a path step for
        every hit of a query is one pass of array operations, not one per hit."""
        g = self.graph
        frontier, val = self.pushed[t]
        prev = np.zeros(len(nodes), dtype=np.int64)
        edge = np.full(len(nodes), int(g.edge_of[0]) if len(g.edge_of) else 0, dtype=np.int64)
        if not len(nodes) or not len(frontier):  # (not reached through an edge: cannot happen for walked nodes)
            return prev, edge
        owner, pos = csr.gather(g.indptr, nodes)
        nb = g.indices[pos]  # (e,) neighbours of each node
        at = np.minimum(np.searchsorted(frontier, nb), len(frontier) - 1)
        ok = frontier[at] == nb  # neighbours that pushed at step t
        own, us = owner[ok], nb[ok]
        p = g.reverse[pos[ok]]  # the entries u → node (one per typed edge), in u's row
        flow = (1 - self.restart) * val[at[ok]] * g.prob[p]  # (f,)
        # per node: the largest flow; ties: lowest previous node, then its first entry (storage order)
        order = np.lexsort((p, us, -flow, own))
        firsts = order[np.r_[True, own[order][1:] != own[order][:-1]]] if len(order) else order
        prev[own[firsts]] = us[firsts]
        edge[own[firsts]] = g.edge_of[p[firsts]]
        return prev, edge

    def paths(self, keys: list[str]) -> list[list[str]]:
        """The path that carried most of each key's mass, from the key back to an anchor:
        ``['Track:t2', '-BY->', 'Artist:a', '<-BY-', 'Track:t1']`` (empty if not reached).
        Same as :meth:`path` for each key, traced for all keys together."""
        g = self.graph
        nodes = np.array([g.node(k) for k in keys], dtype=np.int64)  # (m,)
        best_t = np.full(len(keys), -1, dtype=np.int64)
        best = np.zeros(len(keys))
        known = nodes >= 0
        for t, (step_nodes, contrib) in enumerate(self.steps):
            if not len(step_nodes):
                continue
            at = np.minimum(np.searchsorted(step_nodes, nodes), len(step_nodes) - 1)
            got = np.where(known & (step_nodes[at] == nodes), contrib[at], 0.0)
            better = got > best  # strictly more: the earliest step wins a tie
            best_t[better], best[better] = t, got[better]
        out = [[g.key_of(int(n))] if bt >= 0 else [] for n, bt in zip(nodes.tolist(), best_t.tolist())]
        cur = nodes.copy()
        for t in range(int(best_t.max(initial=0)), 0, -1):
            walking = np.flatnonzero(best_t >= t)  # every path still walking back is at step t
            prev, edge = self._parents(t, cur[walking])
            for i, u, e in zip(walking.tolist(), prev.tolist(), edge.tolist()):
                # the edge goes u → node; forward means u is the stored source
                out[i].append(f"<-{g.edge_rel[e]}-" if g.edge_fwd[e] else f"-{g.edge_rel[e]}->")
                out[i].append(g.key_of(u))
            cur[walking] = prev
        return out

    def path(self, key: str) -> list[str]:
        """The path that carried most of ``key``'s mass (see :meth:`paths`)."""
        return self.paths([key])[0]

    def ends(self, keys: list[str], paths: list[list[str]] | None = None) -> list[str | None]:
        """The anchor each key's :meth:`path` ends at (None when the key is not reached, or
        when its path is the key alone: an anchor). ``paths``: those of ``keys``, if already
        traced. A walk from one anchor ends every other reached node's path there, so only
        a walk from several anchors (or that anchor's own path) is traced."""
        anchors = self.steps[0][0] if self.steps else np.zeros(0, dtype=np.int64)
        if paths is None and len(anchors) == 1:
            anchor = self.graph.key_of(int(anchors[0]))
            reached = (self.score_of(keys) > 0).tolist()
            own = [k for k in keys if k == anchor]  # its own path may loop back through others
            looped = dict(zip(own, self.ends(own, self.paths(own)))) if own else {}
            return [looped[k] if k == anchor else (anchor if r else None) for k, r in zip(keys, reached)]
        return [p[-1] if len(p) > 1 else None for p in (paths if paths is not None else self.paths(keys))]


#: walk results a TypedGraph keeps by default (least recently used dropped first; its
#: ``walks_kept`` argument, ``EngineConfig.walks_kept``), counted in stored array entries
#: (16 bytes each with its mass): 2,000,000 ≈ 32 MB, ~40 walks from an artist
#: of a 10^6-track graph (~47,000 entries each), ~570 on the demo graph (~3,500 each)
WALK_ENTRIES_KEPT = 2_000_000


def _kept_size(walk: WalkResult) -> int:
    """What a kept walk counts against ``walks_kept``: its entries, at least 1 (so that empty
    walks, from unknown seeds, cannot pile up uncounted)."""
    return max(walk.entries, 1)


class TypedGraph(AttributeIncidence):
    """The graph's nodes under one global index (labels in ``NODE_LABELS`` order, rows in
    export order) with a typed, normalised transition matrix for :meth:`walk`, and the
    Track × Attribute incidence for shared-attribute scores
    (:class:`~kgjemb.graph.attributes.AttributeIncidence`: ``track_attributes``, ``profile``).

    :meth:`key_of` gives ``"Label:id"`` of a global index, :meth:`node` the reverse;
    ``offsets[label]`` is the global range of a label. ``compiled``: whether walks sum with
    numba's compiled loops (default: on graphs of ``scatter.COMPILED_FROM`` nodes or more;
    the same results either way, see :mod:`kgjemb.graph.scatter`).
    """

    def __init__(self, export: GraphExport, weights: RelWeights = RelWeights(), *,
                 walks_kept: int = WALK_ENTRIES_KEPT, compiled: bool | None = None) -> None:
        if walks_kept < 0:
            raise ValueError(f"walks_kept must be >= 0, got {walks_kept}")
        self.weights = weights
        self.walks_kept = int(walks_kept)  # array entries of kept walks (0: keep none), see walk()
        self._walks: OrderedDict[tuple, WalkResult] = OrderedDict()  # (seeds, config) -> walk, see walk()
        self._walk_entries = 0
        self._walk_lock = threading.Lock()
        self.offsets: dict[str, tuple[int, int]] = {}
        self._ids: dict[str, pd.Index] = {}
        self._id_list: dict[str, np.ndarray] = {}  # the same ids as an object array: key_of reads one
        start = 0
        for label in NODE_LABELS:
            frame = export.nodes[label]
            arr = frame["id"].to_numpy(dtype=object) if len(frame) else np.array([], dtype=object)
            ids = pd.Index(arr)
            self.offsets[label] = (start, start + len(ids))
            self._ids[label] = ids
            self._id_list[label] = arr
            start += len(ids)
        self.n = start
        self._scratch = scatter.ScratchPool(self.n, compiled=compiled)  # the walk's sums (numpy or compiled)
        self._build_walk(export)
        self._build_attributes(export)
        logger.info("typed graph: %d nodes, %d walk entries", self.n, len(self.indices))

    @classmethod
    def from_export(cls, export: GraphExport, weights: RelWeights = RelWeights(), *,
                    walks_kept: int = WALK_ENTRIES_KEPT, compiled: bool | None = None) -> "TypedGraph":
        return cls(export, weights, walks_kept=walks_kept, compiled=compiled)

    def rows_of(self, label: str, ids) -> np.ndarray:
        """Global indices of ``ids`` of ``label`` (-1 where unknown), vectorised."""
        pos = self._ids[label].get_indexer(np.asarray(ids, dtype=object))
        return np.where(pos >= 0, pos + self.offsets[label][0], -1).astype(np.int64)

    def node(self, key: str) -> int:
        """Global index of ``"Label:id"`` (-1 when unknown)."""
        label, _, node_id = key.partition(":")
        ids = self._ids.get(label)
        if ids is None:
            return -1
        try:
            pos = ids.get_loc(node_id)  # the id index's hash table: no array built per look-up
        except KeyError:
            return -1
        return int(pos + self.offsets[label][0]) if isinstance(pos, (int, np.integer)) else -1

    def key_of(self, i: int) -> str:
        """``"Label:id"`` of global index ``i``."""
        for label, (lo, hi) in self.offsets.items():
            if lo <= i < hi:
                return f"{label}:{self._id_list[label][i - lo]}"
        raise IndexError(f"node index {i} out of range 0..{self.n - 1}")

    @property
    def keys(self) -> list[str]:
        """Every node's ``"Label:id"`` in global order (built on demand)."""
        return [f"{label}:{i}" for label in NODE_LABELS for i in self._ids[label]]

    # -- construction -----------------------------------------------------------------------

    def _build_walk(self, export: GraphExport) -> None:
        src, dst, w, etype = [], [], [], []
        partner: list[np.ndarray] = []  # per entry, the entry of the same edge the other way
        rels: list[tuple[str, bool]] = []  # per type code: (rel, forward)
        for key in REL_TYPES:
            s_label, rel, d_label = key
            if rel not in WALK_TYPES or self.weights.of(rel) <= 0:
                continue
            frame = export.edges[key]
            if not len(frame):
                continue
            s = self.rows_of(s_label, frame["src"].to_numpy(dtype=object))
            d = self.rows_of(d_label, frame["dst"].to_numpy(dtype=object))
            ew = edge_weights(frame)
            ok = (s >= 0) & (d >= 0) & (ew > 0)
            s, d, ew = s[ok], d[ok], ew[ok]
            start = sum(len(a) for a in src)  # this type's forward block, then its backward block
            partner.append(start + len(s) + np.arange(len(s)))
            partner.append(start + np.arange(len(s)))
            for forward, (a, b) in ((True, (s, d)), (False, (d, s))):
                rels.append((rel, forward))
                src.append(a)
                dst.append(b)
                w.append(ew)
                etype.append(np.full(len(a), len(rels) - 1, dtype=np.int64))
        if src:
            src_a, dst_a, w_a, t_a, pair_a = map(np.concatenate, (src, dst, w, etype, partner))
        else:
            src_a = dst_a = t_a = pair_a = np.zeros(0, dtype=np.int64)
            w_a = np.zeros(0)
        # typed normalisation: share of a type at u ∝ its weight × (its edge weight at u)^γ;
        # within the type ∝ edge weight
        rel_names = sorted({r for r, _ in rels})
        rel_code = {r: i for i, r in enumerate(rel_names)}
        code = np.array([rel_code[rels[t][0]] for t in t_a], dtype=np.int64) if len(t_a) else t_a
        n_rel = max(len(rel_names), 1)
        pair = src_a * n_rel + code  # (u, rel) groups
        within = np.bincount(pair, weights=w_a, minlength=self.n * n_rel) if len(pair) else np.zeros(self.n * n_rel)
        within = within.reshape(self.n, n_rel)  # (n, n_rel) total edge weight per node and type
        gamma = self.weights.type_degree_power
        type_w = np.array([self.weights.of(r) for r in rel_names] or [0.0])
        share = np.where(within > 0, type_w[None, :] * within ** gamma, 0.0)  # (n, n_rel) unnormalised type shares
        z = share.sum(axis=1)  # (n,)
        if len(src_a):
            prob = share[src_a, code] * w_a / within[src_a, code] / z[src_a]
        else:
            prob = np.zeros(0)
        order = np.lexsort((dst_a, src_a))
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(src_a, minlength=self.n))]).astype(np.int64)
        self.indices = dst_a[order]
        self.prob = prob[order]
        self.edge_of = t_a[order].astype(np.int16)  # type code per entry (2 per walked type), for rendering paths
        at = np.empty(len(order), dtype=np.int64)
        at[order] = np.arange(len(order))  # sorted position of each built entry
        pos_type = np.int32 if len(order) < 2**31 else np.int64
        self.reverse = at[pair_a[order]].astype(pos_type)  # per entry u → v, the entry v → u (paths)
        self.edge_rel = [r for r, _ in rels]
        self.edge_fwd = np.array([f for _, f in rels] or [True])

    # -- the walk -----------------------------------------------------------------------------

    def walk(self, seeds: dict[str, float], config: WalkConfig = WalkConfig()) -> WalkResult:
        """Personalised walk from ``seeds`` (``"Label:id"`` → weight; unknown keys ignored,
        weights normalised to sum 1). Kept per seeds and config (the graph is immutable;
        anchors repeat across queries: "songs like" a popular artist): the last walks up to
        ``walks_kept`` array entries, read-only and shared between threads."""
        key = (tuple(sorted((str(k), float(v)) for k, v in seeds.items())), config)
        with self._walk_lock:
            hit = self._walks.get(key)
            if hit is not None:
                self._walks.move_to_end(key)
                return hit
        result = self._walk(seeds, config)
        size = _kept_size(result)
        if size <= self.walks_kept:
            with self._walk_lock:
                if key not in self._walks:
                    self._walks[key] = result
                    self._walk_entries += size
                while self._walk_entries > self.walks_kept:
                    _, old = self._walks.popitem(last=False)
                    self._walk_entries -= _kept_size(old)
        return result

    def clear_walks(self) -> None:
        """Forget the kept walks (benchmarks that time walks from scratch)."""
        with self._walk_lock:
            self._walks.clear()
            self._walk_entries = 0

    def _walk(self, seeds: dict[str, float], config: WalkConfig) -> WalkResult:
        idx = [(i, float(v)) for i, v in ((self.node(k), v) for k, v in seeds.items()) if i >= 0 and v > 0]
        if not idx:
            empty = np.zeros(0, dtype=np.int64)
            return WalkResult(self, empty, np.zeros(0), [], [], config.restart)
        cur = np.array([i for i, _ in idx], dtype=np.int64)
        val = np.array([v for _, v in idx])
        order = np.argsort(cur)
        cur, val = cur[order], val[order] / val.sum()
        a = config.restart
        acc_nodes, acc_mass = [cur], [a * val]
        steps, pushed = [(cur, a * val)], [(cur, val)]
        with self._scratch.take() as scratch:
            for _ in range(config.steps):
                if config.min_mass > 0:
                    heavy = val >= config.min_mass
                    cur, val = cur[heavy], val[heavy]
                if len(cur) > config.max_frontier:
                    keep = np.sort(np.argpartition(-val, config.max_frontier - 1)[: config.max_frontier])
                    cur, val = cur[keep], val[keep]
                if not len(cur):
                    break
                uniq, nxt = scatter.push(self.indptr, self.indices, self.prob, cur, val, 1 - a, scratch)
                if not len(uniq):
                    break
                pushed.append((cur, val))  # the best in-edge of a node is found from it on demand (path)
                steps.append((uniq, a * nxt))
                acc_nodes.append(uniq)
                acc_mass.append(a * nxt)
                cur, val = uniq, nxt
            # each step's nodes are sorted: a few sorted runs
            uniq, total = scatter.group_sum(np.concatenate(acc_nodes), np.concatenate(acc_mass), scratch, runs=True)
        return WalkResult(self, uniq, total, steps, pushed, a)
