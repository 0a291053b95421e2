"""Why a hit matched: graph paths to the query's entity, matched attributes, a sentence.

Paths are shortest paths in the bundle's graph snapshot between the hit track and the
query entity, at most ``max_hops`` relationships, found by one breadth-first search per
entity that stops as soon as every hit is reached. Attribute nodes are not crossed (every
two tracks sharing "genre:classical" would otherwise be two hops apart, which explains
nothing); attributes are reported separately as ``matched_attributes``. Among equally
short paths, VERSION_OF, then BY/ON, then artist relations are preferred.

A path is rendered hit first: ``["Track:t2", "-BY->", "Artist:bach", "<-BY-", "Track:t1"]``
and in words: ``'Wachet auf' —BY→ Johann Sebastian Bach ←BY— 'Jesu, meine Freude'``.
"""
from __future__ import annotations

import re
from collections import defaultdict, deque

from kgjemb.catalog.schema import REL_TYPES
from kgjemb.graph.base import GraphExport

__all__ = ["GraphPaths", "AttributeMatcher", "node_key"]

#: preference among equally short paths (lower first)
_REL_ORDER = {"VERSION_OF": 0, "BY": 1, "ON": 2, "MEMBER_OF": 3, "SIMILAR_TO": 4, "INFLUENCED_BY": 5, "HAS": 9}


def node_key(label: str, node_id: str) -> str:
    return f"{label}:{node_id}"


class GraphPaths:
    """Undirected view of the snapshot (direction kept for rendering) and node names."""

    def __init__(self, export: GraphExport, *, cross_attributes: bool = False) -> None:
        self.names: dict[str, str] = {}
        for label, frame in export.nodes.items():
            col = "title" if label in ("Track", "Album") else "name"
            if len(frame):
                for node_id, name in zip(frame["id"].tolist(), frame[col].tolist()):
                    self.names[node_key(label, node_id)] = name if name is not None else node_id
        adj: dict[str, list[tuple[int, str, str, bool]]] = defaultdict(list)
        for key in REL_TYPES:
            src_label, rel, dst_label = key
            if not cross_attributes and "Attribute" in (src_label, dst_label):
                continue
            frame = export.edges[key]
            if not len(frame):
                continue
            order = _REL_ORDER.get(rel, 8)
            for s, d in zip(frame["src"].tolist(), frame["dst"].tolist()):
                a, b = node_key(src_label, s), node_key(dst_label, d)
                adj[a].append((order, b, rel, True))
                adj[b].append((order, a, rel, False))
        self.adj = {k: sorted(v) for k, v in adj.items()}

    def paths(self, source: str, targets: list[str], *, max_hops: int = 4) -> dict[str, list[str]]:
        """Shortest rendered path from each reachable target (hit) to ``source`` (entity)."""
        wanted = set(targets)
        found: dict[str, list[str]] = {}
        if source in wanted:
            found[source] = [source]
            wanted.discard(source)
        parent: dict[str, tuple[str, str, bool] | None] = {source: None}
        frontier = deque([(source, 0)])
        while frontier and wanted:
            node, depth = frontier.popleft()
            if depth >= max_hops:
                continue
            for _, nbr, rel, out in self.adj.get(node, ()):
                if nbr in parent:
                    continue
                parent[nbr] = (node, rel, out)
                frontier.append((nbr, depth + 1))
                if nbr in wanted:
                    wanted.discard(nbr)
                    found[nbr] = self._walk(nbr, parent)
        return found

    @staticmethod
    def _walk(node: str, parent: dict) -> list[str]:
        """From ``node`` back to the BFS source: [node, edge, node, edge, ..., source]."""
        out = [node]
        while parent[node] is not None:
            prev, rel, out_from_prev = parent[node]
            # edge was stored from prev's side: prev -rel-> node when out_from_prev
            out.append(f"<-{rel}-" if out_from_prev else f"-{rel}->")
            out.append(prev)
            node = prev
        return out

    def render(self, path: list[str]) -> str:
        """``['Track:t2', '-BY->', 'Artist:bach']`` → ``'Wachet auf' —BY→ Johann Sebastian Bach``."""
        words = []
        for i, part in enumerate(path):
            if i % 2:
                rel = part.strip("<->")
                words.append(f"—{rel}→" if part.endswith("->") else f"←{rel}—")
            else:
                name = self.names.get(part, part.split(":", 1)[-1])
                words.append(f"'{name}'" if part.startswith(("Track:", "Album:")) else str(name))
        return " ".join(words)


_TOKEN = re.compile(r"[\w#/'-]+")


class AttributeMatcher:
    """Find the graph attributes a phrase names: word n-grams (up to 4) looked up among
    attribute names, singular and plural ("reels" → form:reel)."""

    def __init__(self, export: GraphExport, max_words: int = 4) -> None:
        self.max_words = max_words
        self.by_name: dict[str, set[str]] = defaultdict(set)
        frame = export.nodes["Attribute"]
        if len(frame):
            for node_id, name in zip(frame["id"].tolist(), frame["name"].tolist()):
                for text in {str(name or ""), node_id.split(":", 1)[-1]}:
                    words = " ".join(_TOKEN.findall(text.lower()))
                    if words:
                        self.by_name[words].add(node_id)

    def find(self, phrases: list[str]) -> set[str]:
        out: set[str] = set()
        for phrase in phrases:
            tokens = _TOKEN.findall(phrase.lower())
            for n in range(1, self.max_words + 1):
                for i in range(len(tokens) - n + 1):
                    gram = " ".join(tokens[i : i + n])
                    out |= self.by_name.get(gram, set())
                    if gram.endswith("s"):
                        out |= self.by_name.get(gram[:-1], set())
        return out
