"""Breadth-first traversal over edge tables, for the embedded store.

Adjacency lists are built lazily per (edge key, direction) from the store's
``(src, dst) → props`` tables, so a traversal over one relationship type never indexes the
others (building all of them for 700k edges takes ~0.5 s; a networkx graph ~4 s).

>>> adj = Adjacency({("Track", "BY", "Artist"): {("t1", "a1"): (1.0, "catalog", "primary")}})
>>> bfs(adj, ("Track", "t1"), types={"BY"}, hops=1, direction="out")
{('Artist', 'a1'): 1}
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Literal

from kgjemb.graph.base import EdgeKey

__all__ = ["Adjacency", "bfs"]


class Adjacency:
    """Per-(edge key, direction) neighbour lists over edge tables, built on first use."""

    def __init__(self, edges: Mapping[EdgeKey, Mapping[tuple[str, str], tuple]]) -> None:
        self._edges = edges
        self._lists: dict[tuple[EdgeKey, bool], dict[str, list[str]]] = {}

    def lists(self, key: EdgeKey, forward: bool) -> dict[str, list[str]]:
        """``id → [neighbour ids]`` following ``key`` forward (src→dst) or backward."""
        cached = self._lists.get((key, forward))
        if cached is None:
            cached = {}
            for s, d in self._edges[key]:
                a, b = (s, d) if forward else (d, s)
                got = cached.get(a)
                if got is None:
                    cached[a] = [b]
                else:
                    got.append(b)
            self._lists[(key, forward)] = cached
        return cached


def bfs(
    adjacency: Adjacency,
    start: tuple[str, str],
    *,
    types: set[str] | frozenset[str],
    hops: int,
    direction: Literal["out", "in", "both"],
) -> dict[tuple[str, str], int]:
    """Shortest distance (1..hops) of every ``(label, id)`` reachable from ``start`` over
    relationships of ``types`` in ``direction``; ``start`` itself is not included."""
    steps: dict[str, list[tuple[str, dict[str, list[str]]]]] = {}
    for key in adjacency._edges:
        src_label, rtype, dst_label = key
        if rtype not in types:
            continue
        if direction in ("out", "both"):
            steps.setdefault(src_label, []).append((dst_label, adjacency.lists(key, True)))
        if direction in ("in", "both"):
            steps.setdefault(dst_label, []).append((src_label, adjacency.lists(key, False)))
    dist = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        d = dist[node]
        if d == hops:
            continue
        label, node_id = node
        for to_label, lists in steps.get(label, ()):
            for nbr_id in lists.get(node_id, ()):
                nbr = (to_label, nbr_id)
                if nbr not in dist:
                    dist[nbr] = d + 1
                    queue.append(nbr)
    del dist[start]
    return dist
