"""The scalar fields stored beside each track vector, derived from a graph export.

:func:`fields_from_export` gives, per indexed track, what an :class:`~kgjemb.index.base.IndexFilter`
tests: credited artists (every ``BY`` edge, primary first), album (``ON``), attributes
(the track's ``HAS`` edges plus those of its credited artists) and the effective year (the
track's own, else its album's, else the middle of the primary artist's working life:
born + 20 … died, or born + 60 while alive). The same rules as the engine's in-memory
filters (:mod:`kgjemb.query.filters`), so a pushed-down filter selects the same tracks.
:class:`FieldMasks` inverts them over an index's integer keys, for the FAISS backend to
evaluate a filter as boolean masks.

>>> fields = fields_from_export(bundle.export, bundle.track_ids)  # doctest: +SKIP
>>> fields[0]  # doctest: +SKIP
ItemFields(artists=('bach',), album='bwv227', attributes=('era:baroque', ...), year=1723.0)
"""
from __future__ import annotations

from collections import defaultdict
from typing import Collection, Sequence

import numpy as np

from kgjemb.graph.base import GraphExport
from kgjemb.index.base import ItemFields

__all__ = ["FieldMasks", "fields_from_export"]


def _col(frame, name) -> list:
    return frame[name].tolist() if len(frame) else []


def _year(value) -> float | None:
    if value is None:
        return None
    try:
        year = float(value)
    except (TypeError, ValueError):
        return None
    return None if year != year else year  # NaN from pandas = unknown


def fields_from_export(export: GraphExport, track_ids: Sequence[str]) -> list[ItemFields]:
    """:class:`ItemFields` of each id in ``track_ids`` (ids absent from the export get
    empty fields), in the same order."""
    tracks, albums, artists = export.nodes["Track"], export.nodes["Album"], export.nodes["Artist"]
    track_year = dict(zip(_col(tracks, "id"), map(_year, _col(tracks, "year"))))
    album_year = dict(zip(_col(albums, "id"), map(_year, _col(albums, "year"))))
    life = {a: (_year(b), _year(d)) for a, b, d in zip(_col(artists, "id"), _col(artists, "born"), _col(artists, "died"))}

    credits: dict[str, list[str]] = defaultdict(list)  # primary credit first, then the rest, in edge order
    by = export.edges[("Track", "BY", "Artist")]
    for primary_pass in (True, False):
        for s, d, role in zip(_col(by, "src"), _col(by, "dst"), _col(by, "role")):
            if (role == "primary") == primary_pass and d not in credits[s]:
                credits[s].append(d)
    on = export.edges[("Track", "ON", "Album")]
    album_of = dict(zip(_col(on, "src"), _col(on, "dst")))
    has: dict[str, set[str]] = defaultdict(set)
    for key in (("Track", "HAS", "Attribute"), ("Artist", "HAS", "Attribute")):
        for s, d in zip(_col(export.edges[key], "src"), _col(export.edges[key], "dst")):
            has[s].add(d)

    out = []
    for t in map(str, track_ids):
        credited = credits.get(t, [])
        attributes = set(has.get(t, ()))
        for a in credited:
            attributes |= has.get(a, set())
        album = album_of.get(t)
        year = track_year.get(t)
        if year is None and album is not None:
            year = album_year.get(album)
        if year is None and credited:
            born, died = life.get(credited[0], (None, None))
            if born is not None:
                year = (born + 20 + (died if died is not None else born + 60)) / 2
        out.append(ItemFields(artists=tuple(credited), album=album, attributes=tuple(sorted(attributes)), year=year))
    return out


class FieldMasks:
    """Inverted maps of the scalar fields over an index's integer keys ``0..n-1`` (``keys``
    present, ``fields`` per key): per artist, album and attribute the keys having it, each
    key's year, and boolean masks over the keys. The FAISS backend rebuilds them after each
    write and evaluates an :class:`~kgjemb.index.base.IndexFilter` on them."""

    def __init__(self, n: int, keys: Collection[int], fields: dict[int, ItemFields]) -> None:
        self.n = n
        self.present = np.zeros(n, dtype=bool)  # (next_key,) keys in the index
        self.present[np.fromiter(keys, dtype=np.int64, count=len(keys))] = True
        self.years = np.full(n, np.nan)  # (next_key,) NaN = unknown
        artists: dict[str, list[int]] = {}
        albums: dict[str, list[int]] = {}
        attributes: dict[str, list[int]] = {}
        for key, f in fields.items():
            for a in f.artists:
                artists.setdefault(a, []).append(key)
            if f.album is not None:
                albums.setdefault(f.album, []).append(key)
            for a in f.attributes:
                attributes.setdefault(a, []).append(key)
            if f.year is not None:
                self.years[key] = f.year
        as_arrays = lambda d: {v: np.asarray(keys, dtype=np.int64) for v, keys in d.items()}  # noqa: E731
        self.artists, self.albums, self.attributes = as_arrays(artists), as_arrays(albums), as_arrays(attributes)

    def member(self, keys: np.ndarray | None) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        if keys is not None and len(keys):
            out[keys] = True
        return out
