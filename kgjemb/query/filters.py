"""Graph constraints on candidates: per indexed track, who made it, where it is, what it has.

Built once from the bundle's graph snapshot; a filter becomes a boolean mask over the
index rows with numpy look-ups (no per-candidate Python loops). Semantics:

- ``by`` / ``not_by`` (artist): tracks credited (``BY``, any role) to the artist, or not.
  An album or track id as the target keeps (drops) that album's tracks / that track.
- ``exclude``: drops an artist's tracks, an album's tracks, or one track.
- ``attribute`` / ``not_attribute``: tracks that HAVE the attribute (directly or through a
  credited artist), or do not.
- ``era``: tracks having the ``era:<word>`` attribute; when the graph has no such node,
  tracks whose year lies in :data:`ERA_YEARS`.
- ``year_range`` ("1720-1729", "-1799", "1751-"): on the track's year, else its album's,
  else the primary artist's working life (born + 20 … died). Unknown years are excluded.
"""
from __future__ import annotations

import logging
import math
from collections import defaultdict

import numpy as np

from kgjemb.graph.base import GraphExport
from kgjemb.graph.names import normalise_name
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
    """Metadata of the indexed tracks (rows = ``track_ids``) and the maps filters need."""

    def __init__(self, export: GraphExport, track_ids: list[str]) -> None:
        self.track_ids = track_ids
        self.row = {t: i for i, t in enumerate(track_ids)}
        n = len(track_ids)
        self.labels_of: dict[str, set[str]] = defaultdict(set)  # id -> labels having it
        for label, frame in export.nodes.items():
            for node_id in _col(frame, "id"):
                self.labels_of[node_id].add(label)
        tracks = export.nodes["Track"]
        self.title = dict(zip(_col(tracks, "id"), _col(tracks, "title")))
        track_year = dict(zip(_col(tracks, "id"), _col(tracks, "year")))
        artists = export.nodes["Artist"]
        self.artist_name = dict(zip(_col(artists, "id"), _col(artists, "name")))
        life = {a: (b, d) for a, b, d in zip(_col(artists, "id"), _col(artists, "born"), _col(artists, "died"))}
        albums = export.nodes["Album"]
        self.album_title = dict(zip(_col(albums, "id"), _col(albums, "title")))
        album_year = dict(zip(_col(albums, "id"), _col(albums, "year")))
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

        # inverted maps: node id -> index rows
        rows_by: dict[str, list[int]] = defaultdict(list)
        rows_on: dict[str, list[int]] = defaultdict(list)
        rows_has: dict[str, list[int]] = defaultdict(list)
        years = np.full(n, np.nan)
        for i, t in enumerate(track_ids):
            for a in self.credits.get(t, ()):
                rows_by[a].append(i)
            if t in self.album:
                rows_on[self.album[t]].append(i)
            for attr in self.attributes(t):
                rows_has[attr].append(i)
            years[i] = self._year(t, track_year, album_year, life)
        as_arr = lambda d: {k: np.asarray(v, dtype=np.int64) for k, v in d.items()}  # noqa: E731
        self.rows_by, self.rows_on, self.rows_has = as_arr(rows_by), as_arr(rows_on), as_arr(rows_has)
        self.years = years  # (n,) float, NaN = unknown

    def _year(self, t, track_year, album_year, life) -> float:
        if track_year.get(t) is not None:
            return float(track_year[t])
        album = self.album.get(t)
        if album is not None and album_year.get(album) is not None:
            return float(album_year[album])
        credits = self.credits.get(t)
        if credits:
            born, died = life.get(credits[0], (None, None))
            if born is not None:  # middle of the working life: born + 20 … died (or born + 60)
                end = died if died is not None else born + 60
                return float((born + 20 + end) / 2)
        return math.nan

    def attributes(self, track_id: str) -> set[str]:
        """Attribute ids the track HAS, directly or through a credited artist."""
        out = set(self.track_attrs.get(track_id, ()))
        for a in self.credits.get(track_id, ()):
            out |= self.artist_attrs.get(a, set())
        return out

    def _rows(self, node_id: str) -> np.ndarray | None:
        """Rows a by/exclude target covers: an artist's, an album's, or one track."""
        labels = self.labels_of.get(node_id, set())
        parts = []
        if "Artist" in labels:
            parts.append(self.rows_by.get(node_id, np.zeros(0, dtype=np.int64)))
        if "Album" in labels:
            parts.append(self.rows_on.get(node_id, np.zeros(0, dtype=np.int64)))
        if "Track" in labels and node_id in self.row:
            parts.append(np.array([self.row[node_id]], dtype=np.int64))
        if not labels:
            return None
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def mask(self, filters: list[Filter]) -> tuple[np.ndarray | None, list[str]]:
        """Boolean mask of allowed rows (None when nothing is filtered) and warnings for
        filters that could not be applied."""
        n = len(self.track_ids)
        if not filters:
            return None, []
        allowed = np.ones(n, dtype=bool)
        warnings: list[str] = []
        for f in filters:
            if not f.node_id:
                node = self.by_name.get(normalise_name(f.value))
                if node is not None and f.kind not in ("era", "year_range"):
                    f = f.model_copy(update={"node_id": node})
            if f.kind in ("by", "not_by", "exclude"):
                rows = self._rows(f.node_id) if f.node_id else None
                if rows is None:
                    warnings.append(f"filter {f.kind} {f.value!r}: no such artist, album or track in the graph; ignored")
                    continue
                hit = np.zeros(n, dtype=bool)
                hit[rows] = True
                allowed &= hit if f.kind == "by" else ~hit
            elif f.kind in ("attribute", "not_attribute"):
                if not f.node_id or f.node_id not in self.labels_of:
                    warnings.append(f"filter {f.kind} {f.value!r}: no such attribute in the graph; ignored")
                    continue
                hit = np.zeros(n, dtype=bool)
                hit[self.rows_has.get(f.node_id, np.zeros(0, dtype=np.int64))] = True
                allowed &= hit if f.kind == "attribute" else ~hit
            elif f.kind == "era":
                node = f.node_id or f"era:{f.value.lower()}"
                if node in self.labels_of:
                    hit = np.zeros(n, dtype=bool)
                    hit[self.rows_has.get(node, np.zeros(0, dtype=np.int64))] = True
                    allowed &= hit
                elif f.value.lower() in ERA_YEARS:
                    lo, hi = ERA_YEARS[f.value.lower()]
                    allowed &= (self.years >= lo) & (self.years <= hi)
                    warnings.append(f"era {f.value!r} is not an attribute in the graph; using the years {lo}-{hi}")
                else:
                    warnings.append(f"era {f.value!r}: unknown era; ignored")
            elif f.kind == "year_range":
                try:
                    lo, hi = parse_year_range(f.value)
                except ValueError as err:
                    warnings.append(f"{err}; ignored")
                    continue
                allowed &= (self.years >= lo) & (self.years <= hi)  # NaN compares False: unknown excluded
            else:  # pragma: no cover - Filter.kind is a closed Literal
                warnings.append(f"unknown filter kind {f.kind!r}; ignored")
        return allowed, warnings
