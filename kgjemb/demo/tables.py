"""Turn processed works into the catalog tables of ``kgjemb.catalog.schema`` (sorted rows).

Attributes written per track (only reliable ones): key, mode, meter, texture (see
:mod:`kgjemb.demo.analyse`); form (from the collection/ABC ``R:`` field); era, genre,
region (from the curated composer table); instrument, ensemble, vocal, tempo (from the
arrangement actually rendered); collection and licence (from :mod:`kgjemb.demo.sources`).
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from pathlib import Path

from kgjemb.atomic import atomic_open
from kgjemb.catalog.schema import TABLES
from kgjemb.demo.arrange import ensemble_of
from kgjemb.demo.relations import curated_relations
from kgjemb.demo.renditions import WorkResult
from kgjemb.demo.similar import PROFILE_KINDS, derived_similar
from kgjemb.demo.sources import COMPOSERS, Collection, Composer
from kgjemb.demo.titles import ALBUM_YEARS

__all__ = ["build_tables", "table_columns", "write_csv"]

_VOICE_INSTRUMENTS = {"choir", "voice"}
_TRACK_ERA = {"monteverdi": "Renaissance"}  # Books 3-5 (1592-1605) are late-Renaissance madrigals
_ARTIST_ERAS = {"monteverdi": ("Renaissance", "Baroque"), "beethoven": ("Classical", "Romantic"),
                "cpebach": ("Baroque", "Classical")}  # C. P. E. Bach: the transition between the two
_GENRES = {"joplin": "ragtime", "liliuokalani": "Hawaiian music"}


def _genre(comp: Composer) -> str:
    if comp.id in _GENRES:
        return _GENRES[comp.id]
    if comp.era == "traditional":
        return "Irish traditional" if comp.country == "Ireland" else "folk"
    if comp.era in ("Renaissance", "Medieval"):
        return "early music"
    return "classical"


def album_year(album_id: str, album_title: str) -> int | None:
    """Curated year (:data:`ALBUM_YEARS`), else a 4-digit year in parentheses in the title."""
    if album_id in ALBUM_YEARS:
        return ALBUM_YEARS[album_id]
    m = re.search(r"\((1[4-6]\d\d)\)", album_title)  # printed year of an early-music source
    return int(m.group(1)) if m else None


def _artist(coll: Collection) -> Composer:
    return COMPOSERS.get(coll.artist_id) or Composer(coll.artist_id, coll.title)


def build_tables(results: list[WorkResult], collections: list[Collection], *, seconds: float) -> dict[str, list[dict]]:
    """Rows for artists, albums, tracks, track_attributes, artist_attributes, relations."""
    by_coll = {c.key: c for c in collections}
    artists: dict[str, Composer] = {}
    albums: dict[str, dict] = {}
    tracks, tattrs, rels = [], [], []
    profiles: dict[str, Counter] = defaultdict(Counter)
    for r in sorted(results, key=lambda r: r.work.work_id):
        if r.error or not r.renditions:
            continue
        coll = by_coll[r.work.collection]
        comp = _artist(coll)
        artists[comp.id] = comp
        year = album_year(r.work.album_id, r.work.album_title)
        albums.setdefault(r.work.album_id, {"id": r.work.album_id, "title": r.work.album_title, "year": year,
                                            "artist_id": comp.id})
        form = r.work.form_hint
        era = _TRACK_ERA.get(comp.id, comp.era)
        base = [("key", r.key), ("mode", r.mode), ("meter", r.meter), ("texture", r.texture), ("form", form),
                ("era", era), ("genre", _genre(comp)), ("collection", coll.title), ("licence", coll.licence)]
        if comp.era == "traditional" and comp.region:
            base.append(("region", comp.region))
        first = r.renditions[0]
        for rend in r.renditions:
            tracks.append({"id": rend.track_id, "title": r.title or r.work.title, "artist_id": comp.id,
                           "album_id": r.work.album_id, "duration_s": float(seconds), "year": year,
                           "audio_path": rend.audio_path})
            attrs = list(base) + [("tempo", rend.tempo_band), ("ensemble", ensemble_of(rend.programs)),
                                  ("vocal", "vocal" if set(rend.instruments) & _VOICE_INSTRUMENTS else "instrumental")]
            attrs += [("instrument", name) for name in rend.instruments]
            seen = set()
            for kind, value in attrs:
                if value and (kind, value) not in seen:
                    seen.add((kind, value))
                    tattrs.append({"track_id": rend.track_id, "kind": kind, "value": value, "weight": 1.0})
                    if kind in PROFILE_KINDS:
                        profiles[comp.id][f"{kind}:{value.lower()}"] += 1
            if rend is not first:
                rels.append({"src": rend.track_id, "type": "VERSION_OF", "dst": first.track_id, "weight": 1.0,
                             "source": "rendition", "role": None})
            if coll.role == "tradition":
                rels.append({"src": rend.track_id, "type": "BY", "dst": comp.id, "weight": 1.0,
                             "source": coll.title, "role": "tradition"})
    aattrs = []
    for comp in artists.values():
        for era in _ARTIST_ERAS.get(comp.id, (comp.era,) if comp.era else ()):
            aattrs.append({"artist_id": comp.id, "kind": "era", "value": era, "weight": 1.0})
        if comp.region:
            aattrs.append({"artist_id": comp.id, "kind": "region", "value": comp.region, "weight": 1.0})
        if comp.country:
            aattrs.append({"artist_id": comp.id, "kind": "region", "value": comp.country, "weight": 1.0})
    curated = curated_relations(set(artists))
    stated = {(r["src"], r["type"], r["dst"]) for r in curated}
    rels += curated
    # a pair with a documented relation keeps that one (loaders merge one edge per pair)
    rels += [r for r in derived_similar({a: dict(p) for a, p in profiles.items()})
             if (r["src"], r["type"], r["dst"]) not in stated]
    artist_rows = [{"id": c.id, "name": c.name, "aliases": "|".join(c.aliases), "born": c.born, "died": c.died,
                    "country": c.country} for c in artists.values()]
    dedup_aattrs = list({(a["artist_id"], a["kind"], a["value"]): a for a in aattrs}.values())
    return {
        "artists": sorted(artist_rows, key=lambda r: r["id"]),
        "albums": sorted(albums.values(), key=lambda r: r["id"]),
        "tracks": sorted(tracks, key=lambda r: r["id"]),
        "track_attributes": sorted(tattrs, key=lambda r: (r["track_id"], r["kind"], r["value"])),
        "artist_attributes": sorted(dedup_aattrs, key=lambda r: (r["artist_id"], r["kind"], r["value"])),
        "relations": sorted(rels, key=lambda r: (r["type"], r["src"], r["dst"], r["source"] or "")),
    }


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


def write_csv(path: Path, columns: tuple[str, ...] | list[str], rows: list[dict]) -> None:
    """Write ``rows`` as CSV (fixed column order, ``\\n`` line ends) via a temp file + rename."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in columns])
    with atomic_open(path, "w", newline="") as fh:
        fh.write(buf.getvalue())


def table_columns(name: str) -> tuple[str, ...]:
    return TABLES[name].column_names

