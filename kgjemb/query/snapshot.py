"""One graph snapshot per engine, built at open, shared by the parser, the filters, the graph
signals and the explanations.

It holds the graph export the query path sees (the bundle's, or a masked one for honest
evaluation), the indexed tracks' metadata (:class:`~kgjemb.query.filters.TrackTable`),
the display name of every node, the typed walk graph with its attribute incidence
(:class:`~kgjemb.graph.proximity.TypedGraph`), and the index-row ↔ graph-node maps.
Immutable after construction, so any number of threads can read it.
"""
from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from kgjemb.catalog.schema import NODE_LABELS
from kgjemb.graph import csr
from kgjemb.graph.base import GraphExport
from kgjemb.graph.proximity import WALK_ENTRIES_KEPT, RelWeights, TypedGraph
from kgjemb.query.filters import TrackTable

__all__ = ["GraphSnapshot", "node_key"]

logger = logging.getLogger(__name__)


def node_key(label: str, node_id: str) -> str:
    return f"{label}:{node_id}"


class GraphSnapshot:
    """The query-time view of the graph over the indexed tracks ``track_ids``."""

    def __init__(self, export: GraphExport, track_ids: list[str], *, rel_weights: RelWeights = RelWeights(),
                 via_artist: float = 0.5, walks_kept: int = WALK_ENTRIES_KEPT) -> None:
        self.export = export
        self.track_ids = track_ids
        self.tracks = TrackTable(export, track_ids)
        self.graph = TypedGraph.from_export(export, rel_weights, walks_kept=walks_kept)
        self.entity_row = {lb: export.node_index(lb) for lb in NODE_LABELS}
        self.names: dict[str, str] = {}
        for label, frame in export.nodes.items():
            col = "title" if label in ("Track", "Album") else "name"
            if len(frame):
                for node_id, name in zip(frame["id"].tolist(), frame[col].tolist()):
                    self.names[node_key(label, node_id)] = name if name is not None else node_id
        # index row -> global graph node and -> row within the Track label (-1: not in the graph)
        self.row_node = self.graph.rows_of("Track", track_ids)  # (n,)
        t_lo = self.graph.offsets["Track"][0]
        self.row_track = np.where(self.row_node >= 0, self.row_node - t_lo, -1)  # (n,)
        # graph Track row -> index row (-1: a graph track that is not indexed)
        t_n = self.graph.offsets["Track"][1] - t_lo
        self.track_row = np.full(t_n, -1, dtype=np.int64)
        ok = self.row_track >= 0
        self.track_row[self.row_track[ok]] = np.flatnonzero(ok)
        self.attr_row = self.entity_row["Attribute"]
        kinds = self.graph.attr_kind
        self.attrs_of_kind = {k: np.flatnonzero(kinds == k) for k in set(kinds.tolist())}
        # how many graph tracks HAVE each attribute (directly or through an artist), and its
        # inverse document frequency: a rare attribute ("jig") says more than a common one
        g = self.graph
        having = ((g.track_attr > 0).astype(np.int8) + ((g.track_artist @ g.artist_attr) > 0).astype(np.int8)) > 0
        self.attr_df = np.asarray(having.sum(axis=0)).ravel()  # (n_attr,)
        n_tracks = max(g.track_attr.shape[0], 1)
        self.attr_idf = np.log((n_tracks + 1) / (self.attr_df + 1)) + 1.0  # (n_attr,), smoothed, ≥ 1
        # per index row, once: its attribute weights (direct, or via_artist × its artist's),
        # their norm, and which attribute kinds it has at all (facts: known vs unknown)
        self.via_artist = via_artist
        n_rows, n_attr = len(track_ids), g.track_attr.shape[1]
        ok = np.flatnonzero(self.row_track >= 0)
        known = g.track_attributes(self.row_track[ok], via_artist=via_artist).tocoo()  # (k, n_attr)
        self.row_attr = sp.csr_matrix((known.data, (ok[known.row], known.col)), shape=(n_rows, n_attr))
        self.row_attr.sort_indices()
        self.row_norm = np.sqrt(np.asarray(self.row_attr.multiply(self.row_attr).sum(axis=1)).ravel())  # (n_rows,)
        # the same by attribute (sorted rows), for one attribute's value on a few rows per query
        self.attr_col = self.row_attr.tocsc()  # (n_rows, n_attr)
        self.attr_col.sort_indices()
        self.kind_names = sorted(self.attrs_of_kind)
        self.kind_of_attr = {k: i for i, k in enumerate(self.kind_names)}
        kind_col = np.array([self.kind_of_attr[k] for k in kinds.tolist()], dtype=np.int64)  # (n_attr,)
        coo = self.row_attr.tocoo()
        self.row_kind = np.zeros((n_rows, max(len(self.kind_names), 1)), dtype=bool)  # (n_rows, n_kinds)
        self.row_kind[coo.row, kind_col[coo.col]] = True
        # attribute → tracks / artists having it, by row (rows_having reads one row, not a column)
        self.attr_tracks = g.track_attr.T.tocsr()  # (n_attr, n_tracks)
        self.attr_artists = g.artist_attr.T.tocsr()  # (n_attr, n_artists)

    def has(self, label: str, node_id: str) -> bool:
        return node_id in self.entity_row.get(label, {})

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

    # -- facts ----------------------------------------------------------------------------

    def fact_scores(self, rows: np.ndarray, attr_ids: list[str], *, via_artist: float, unknown: float) -> np.ndarray:
        """How surely each track at index ``rows`` ``(n,)`` HAS each attribute ``(n, a)``:
        its HAS weight (capped at 1), ``via_artist`` × its artist's, 0 when it has another
        attribute of the same kind (known otherwise), ``unknown`` when it has none of that
        kind at all."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full((len(rows), len(attr_ids)), float(unknown))
        if not len(rows) or not attr_ids:
            return np.zeros((len(rows), len(attr_ids)))
        if via_artist == self.via_artist:  # precomputed at build
            kinds = self.row_kind[rows]  # (n, n_kinds)
            col, at = self.attr_col, rows  # (n_rows, n_attr) CSC, read at the index rows
        else:  # another weighting than the snapshot's: compute it for these rows
            trows = self.row_track[rows]
            ok = np.flatnonzero(trows >= 0)
            part = self.graph.track_attributes(trows[ok], via_artist=via_artist).tocoo()
            col = sp.csc_matrix((part.data, (ok[part.row], part.col)), shape=(len(rows), self.row_attr.shape[1]))
            col.sum_duplicates()  # also sorts each column's rows (lookup needs that)
            at = np.arange(len(rows))
            kinds = np.zeros((len(rows), self.row_kind.shape[1]), dtype=bool)
            kind_col = np.array([self.kind_of_attr[k] for k in self.graph.attr_kind.tolist()], dtype=np.int64)
            kinds[ok[part.row], kind_col[part.col]] = True
        for j, a in enumerate(attr_ids):
            c = self.attr_row.get(a, -1)
            if c < 0:
                out[:, j] = 0.0
                continue
            has = np.minimum(csr.lookup(col.indptr, col.indices, col.data, c, at), 1.0)  # (n,)
            any_of_kind = kinds[:, self.kind_of_attr[self.graph.attr_kind[c]]]
            out[:, j] = np.where(has > 0, has, np.where(any_of_kind, 0.0, unknown))
        return out

    def specificity(self, attr_ids: list[str]) -> np.ndarray:
        """Each attribute's idf relative to the most specific one in ``attr_ids`` (0..1]:
        with "sad slow piano", piano (rarer) weighs more than slow."""
        idf = np.array([self.attr_idf[self.attr_row[a]] if a in self.attr_row else 1.0 for a in attr_ids])
        return idf / idf.max() if len(idf) else idf

    def rows_having(self, attr_id: str, *, limit: int) -> np.ndarray | None:
        """Index rows of the tracks that HAVE ``attr_id`` directly or through an artist,
        or None when more than ``limit`` do (then the ANN finds enough of them)."""
        c = self.attr_row.get(attr_id)
        if c is None:
            return np.zeros(0, dtype=np.int64)
        at, aa, art = self.attr_tracks, self.attr_artists, self.graph.artist_tracks
        direct = csr.row(at.indptr, at.indices, c)
        if len(direct) > limit:
            return None
        artists = csr.row(aa.indptr, aa.indices, c)
        via = art.indices[csr.gather(art.indptr, artists)[1]] if len(artists) else np.zeros(0, dtype=np.int64)
        trows = csr.union(direct, via)
        if len(trows) > limit:
            return None
        rows = self.track_row[trows]
        return np.sort(rows[rows >= 0])

    # -- relations --------------------------------------------------------------------------

    def related(self, relation: str, key: str) -> list[str]:
        """Nodes the graph relates to ``key`` (``Label:id``) by a relation query, sorted:
        ``influenced_by`` (artists X with X INFLUENCED_BY key), ``influenced`` (artists key
        was influenced by), ``similar_artists`` (SIMILAR_TO either way), ``versions`` (tracks
        linked to key by VERSION_OF chains, key excluded), ``same_album`` (the albums of a
        track, or the album itself), ``members`` (artists MEMBER_OF key)."""
        label, _, node_id = key.partition(":")
        e = self.export.edges

        def ends(rel: tuple[str, str, str], match: str, nodes) -> set[str]:
            """The other end of every ``rel`` edge whose ``match`` column is in ``nodes``."""
            f = e[rel]
            other = "dst" if match == "src" else "src"
            return set(f.loc[f[match].isin(nodes), other].tolist()) if len(f) else set()

        influence, similar = ("Artist", "INFLUENCED_BY", "Artist"), ("Artist", "SIMILAR_TO", "Artist")
        if label == "Artist" and relation in ("influenced_by", "influenced", "similar_artists", "members"):
            found = {
                "influenced_by": lambda: ends(influence, "dst", [node_id]),
                "influenced": lambda: ends(influence, "src", [node_id]),
                "similar_artists": lambda: (ends(similar, "src", [node_id]) | ends(similar, "dst", [node_id])) - {node_id},
                "members": lambda: ends(("Artist", "MEMBER_OF", "Artist"), "dst", [node_id]),
            }[relation]()
            return sorted(f"Artist:{a}" for a in found)
        if relation == "versions" and label == "Track":  # VERSION_OF chains, either way, hop by hop
            version = ("Track", "VERSION_OF", "Track")
            seen, frontier = {node_id}, {node_id}
            while frontier:
                frontier = (ends(version, "src", frontier) | ends(version, "dst", frontier)) - seen
                seen |= frontier
            return sorted(f"Track:{t}" for t in seen - {node_id})
        if relation == "same_album":
            if label == "Album":
                return [key]
            if label == "Track":
                return sorted(f"Album:{a}" for a in ends(("Track", "ON", "Album"), "src", [node_id]))
        return []
