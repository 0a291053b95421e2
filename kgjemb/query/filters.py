"""Graph constraints on candidates, derived from the graph and pushed down to the index.

A query's filters become one :class:`~kgjemb.index.base.IndexFilter` over the scalar
fields the index stores beside each vector (:mod:`kgjemb.index.fields`: credited artists,
album, attributes, effective year), so the backend — FAISS in-process or a Milvus server
— evaluates them; nothing here holds a mask over every track. Semantics:

- ``by`` / ``not_by`` (artist): tracks credited (``BY``, any role) to the artist, or not.
  An album or track id as the target keeps (drops) that album's tracks / that track (an
  id that is several kinds of node at once is read as the artist, then the album, for
  ``by``; ``not_by`` and ``exclude`` drop all of them).
- ``exclude``: drops an artist's tracks, an album's tracks, or one track.
- ``attribute`` / ``not_attribute``: tracks that HAVE the attribute (directly or through a
  credited artist), or do not.
- ``era``: tracks having the ``era:<word>`` attribute; when the graph has no such node,
  tracks whose year lies in :data:`ERA_YEARS`.
- ``year_range`` ("1720-1729", "-1799", "1751-"): on the track's year, else its album's,
  else the primary artist's working life (born + 20 … died). Unknown years are excluded.

The index's fields follow the bundle's graph. An engine that sees another graph (honest
evaluation with a share of the attribute edges hidden) resolves attribute constraints in
its own graph instead and pushes them down as id sets (``own_attributes``), so hidden
metadata never filters.
"""
from __future__ import annotations

import logging
import math
import sys
from collections import defaultdict
from functools import cached_property

from kgjemb.graph.base import GraphExport
from kgjemb.graph.names import normalise_name
from kgjemb.index.base import IndexFilter
from kgjemb.query.parse.lexicon import ERA_YEARS
from kgjemb.query.types import Filter

__all__ = ["TrackTable", "parse_year_range"]

logger = logging.getLogger(__name__)


def parse_year_range(value: str) -> tuple[float, float]:
    """"1720-1729" → (1720, 1729); "-1799" → (-inf, 1799); "1751-" → (1751, inf)."""
    lo, sep, hi = value.strip().partition("-")
    if not sep:
        lo = hi = value
    try:
        return (float(lo) if lo.strip() else -math.inf, float(hi) if hi.strip() else math.inf)
    except ValueError as err:
        raise ValueError(f"bad year range {value!r}; expected like '1720-1729', '-1799' or '1751-'") from err


def _col(frame, name) -> list:
    return frame[name].tolist() if len(frame) else []


class TrackTable:
    """Metadata of the indexed tracks (rows = ``track_ids``) for hits and filters: titles,
    names, credits, albums and attributes, and the ids of every node by label and name."""

    def __init__(self, export: GraphExport, track_ids: list[str]) -> None:
        self.track_ids = track_ids
        self.row = {t: i for i, t in enumerate(track_ids)}
        self.labels_of: dict[str, set[str]] = defaultdict(set)  # id -> labels having it
        for label, frame in export.nodes.items():
            for node_id in _col(frame, "id"):
                self.labels_of[node_id].add(label)
        tracks = export.nodes["Track"]
        self.title = dict(zip(_col(tracks, "id"), _col(tracks, "title")))
        artists = export.nodes["Artist"]
        self.artist_name = dict(zip(_col(artists, "id"), _col(artists, "name")))
        albums = export.nodes["Album"]
        self.album_title = dict(zip(_col(albums, "id"), _col(albums, "title")))
        attrs = export.nodes["Attribute"]
        self.attribute_name = dict(zip(_col(attrs, "id"), _col(attrs, "name")))
        # name -> id for filters given by name only (API callers): artists (names, aliases),
        # albums, tracks, attributes; the first one seen wins
        self.by_name: dict[str, str] = {}
        named = [(_col(artists, "id"), _col(artists, "name")), (_col(albums, "id"), _col(albums, "title")),
                 (_col(tracks, "id"), _col(tracks, "title")), (_col(attrs, "id"), _col(attrs, "name"))]
        for ids, names in named:
            for node_id, name in zip(ids, names):
                if name:
                    self.by_name.setdefault(normalise_name(str(name)), node_id)
        for node_id, aliases in zip(_col(artists, "id"), _col(artists, "aliases")):
            for alias in aliases or ():
                self.by_name.setdefault(normalise_name(str(alias)), node_id)

        # credits: primary first, then other roles, each in edge order
        self.credits: dict[str, list[str]] = defaultdict(list)
        by = export.edges[("Track", "BY", "Artist")]
        for primary_pass in (True, False):
            for s, d, role in zip(_col(by, "src"), _col(by, "dst"), _col(by, "role")):
                if (role == "primary") == primary_pass:
                    self.credits[s].append(d)
        on = export.edges[("Track", "ON", "Album")]
        self.album = dict(zip(_col(on, "src"), _col(on, "dst")))
        self.track_attrs: dict[str, set[str]] = defaultdict(set)
        for s, d in zip(_col(export.edges[("Track", "HAS", "Attribute")], "src"), _col(export.edges[("Track", "HAS", "Attribute")], "dst")):
            self.track_attrs[s].add(d)
        self.artist_attrs: dict[str, set[str]] = defaultdict(set)
        ah = export.edges[("Artist", "HAS", "Attribute")]
        for s, d in zip(_col(ah, "src"), _col(ah, "dst")):
            self.artist_attrs[s].add(d)

    def attributes(self, track_id: str) -> set[str]:
        """Attribute ids the track HAS, directly or through a credited artist."""
        out = set(self.track_attrs.get(track_id, ()))
        for a in self.credits.get(track_id, ()):
            out |= self.artist_attrs.get(a, set())
        return out

    @cached_property
    def _having(self) -> dict[str, frozenset[str]]:
        """Attribute id → indexed tracks that HAVE it in this graph (built on first use)."""
        out: dict[str, set[str]] = defaultdict(set)
        for t in self.track_ids:
            for attr in self.attributes(t):
                out[attr].add(t)
        return {a: frozenset(ts) for a, ts in out.items()}

    def index_filter(self, filters: list[Filter], *, own_attributes: bool = False
                     ) -> tuple[IndexFilter | None, list[str]]:
        """The :class:`IndexFilter` of ``filters`` (None when nothing is filtered) and
        warnings for filters that could not be applied. ``own_attributes``: attribute
        constraints become id sets from this table's graph instead of attribute ids."""
        if not filters:
            return None, []
        allow: frozenset[str] | None = None
        deny: set[str] = set()
        has = {"artists_all": set(), "artists_none": set(), "albums_all": set(), "albums_none": set(),
               "attributes_all": set(), "attributes_none": set()}
        lo, hi = -math.inf, math.inf
        years = False
        warnings: list[str] = []

        def attribute(node: str, keep: bool) -> None:
            nonlocal allow
            if own_attributes:
                tracks = self._having.get(node, frozenset())
                if keep:
                    allow = tracks if allow is None else allow & tracks
                else:
                    deny.update(tracks)
            else:
                has["attributes_all" if keep else "attributes_none"].add(node)

        for f in filters:
            if not f.node_id:
                node = self.by_name.get(normalise_name(f.value))
                if node is not None and f.kind not in ("era", "year_range"):
                    f = f.model_copy(update={"node_id": node})
            if f.kind in ("by", "not_by", "exclude"):
                labels = self.labels_of.get(f.node_id, set()) if f.node_id else set()
                if not labels:
                    warnings.append(f"filter {f.kind} {f.value!r}: no such artist, album or track in the graph; ignored")
                    continue
                if f.kind == "by":
                    if "Artist" in labels:
                        has["artists_all"].add(f.node_id)
                    elif "Album" in labels:
                        has["albums_all"].add(f.node_id)
                    else:
                        allow = frozenset({f.node_id}) if allow is None else allow & {f.node_id}
                    continue
                if "Artist" in labels:
                    has["artists_none"].add(f.node_id)
                if "Album" in labels:
                    has["albums_none"].add(f.node_id)
                if "Track" in labels:
                    deny.add(f.node_id)
            elif f.kind in ("attribute", "not_attribute"):
                if not f.node_id or f.node_id not in self.labels_of:
                    warnings.append(f"filter {f.kind} {f.value!r}: no such attribute in the graph; ignored")
                    continue
                attribute(f.node_id, f.kind == "attribute")
            elif f.kind == "era":
                node = f.node_id or f"era:{f.value.lower()}"
                if node in self.labels_of:
                    attribute(node, True)
                elif f.value.lower() in ERA_YEARS:
                    e_lo, e_hi = ERA_YEARS[f.value.lower()]
                    lo, hi, years = max(lo, e_lo), min(hi, e_hi), True
                    warnings.append(f"era {f.value!r} is not an attribute in the graph; using the years {e_lo}-{e_hi}")
                else:
                    warnings.append(f"era {f.value!r}: unknown era; ignored")
            elif f.kind == "year_range":
                try:
                    r_lo, r_hi = parse_year_range(f.value)
                except ValueError as err:
                    warnings.append(f"{err}; ignored")
                    continue
                lo, hi, years = max(lo, r_lo), min(hi, r_hi), True
            else:  # pragma: no cover - Filter.kind is a closed Literal
                warnings.append(f"unknown filter kind {f.kind!r}; ignored")
        if years and math.isinf(lo) and math.isinf(hi):
            lo = -sys.float_info.max  # a range open at both ends still excludes unknown years
        out = IndexFilter(allow_ids=allow, deny_ids=deny, year_min=lo if years else None,
                          year_max=hi if years else None, **has)
        return (None if out.empty else out), warnings
