"""The scalar fields stored beside each track vector, derived from a graph export.

:func:`fields_from_export` gives, per indexed track, what an :class:`~kgjemb.index.base.IndexFilter`
tests: credited artists (every ``BY`` edge, primary first), album (``ON``), attributes
(the track's ``HAS`` edges plus those of its credited artists) and the effective year (the
track's own, else its album's, else the middle of the primary artist's working life:
born + 20 … died, or born + 60 while alive). The same rules as the engine's in-memory
filters (:mod:`kgjemb.query.filters`), so a pushed-down filter selects the same tracks.

>>> fields = fields_from_export(bundle.export, bundle.track_ids)  # doctest: +SKIP
>>> fields[0]  # doctest: +SKIP
ItemFields(artists=('bach',), album='bwv227', attributes=('era:baroque', ...), year=1723.0)
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from kgjemb.graph.base import GraphExport
from kgjemb.index.base import ItemFields

__all__ = ["fields_from_export"]


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
