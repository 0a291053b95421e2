"""A curator's week on the example catalog: one of each change, for the lifecycle tests.

:func:`edit_example` applies to a copy of ``graph/fixtures/example`` (made with
:func:`copy_example`; audio paths are absolute in the graph, so load the copy, not the
original, before editing it) through the catalog files themselves (CSV, JSONL, Parquet):

- add a track (``t15``, by Satie, with audio and a new attribute),
- change a property (Satie's name),
- remove a track (``t05`` with its attribute rows),
- remove an artist with its tracks (``debussy``: ``t09``, ``t10``, their attributes, the
  artist's attributes and every relation naming it),
- remove a relation (``dvorak -INFLUENCED_BY-> bach``, source ``catalog``),
- drop an attribute (``t01`` loses ``instrument:organ``).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "graph" / "fixtures" / "example"

NEW_NAME = "Erik Alfred Satie"
GONE_TRACKS = ["t05", "t09", "t10"]


def copy_example(dst: Path) -> Path:
    """A private copy of the example catalog at ``dst``."""
    shutil.copytree(EXAMPLE, dst)
    return dst


def edit_example(dst: Path) -> Path:
    """Apply one of each change (module docstring) to the catalog copy at ``dst``, in place."""
    artists = pd.read_csv(dst / "artists.csv", dtype=str, keep_default_na=False)
    artists.loc[artists["id"] == "satie", "name"] = NEW_NAME
    artists[artists["id"] != "debussy"].to_csv(dst / "artists.csv", index=False)

    tracks = pd.read_csv(dst / "tracks.csv", dtype=str, keep_default_na=False)
    tracks = tracks[~tracks["id"].isin(GONE_TRACKS)]
    new = {"id": "t15", "title": "Pavane for a Quiet Afternoon", "artist_id": "satie", "album_id": "",
           "duration_s": "2.0", "year": "2024", "audio_path": "audio/t01.flac"}
    pd.concat([tracks, pd.DataFrame([new])]).to_csv(dst / "tracks.csv", index=False)

    ta = pd.read_json(dst / "track_attributes.jsonl", lines=True, dtype=False)
    ta = ta[~ta["track_id"].isin(GONE_TRACKS)]
    ta = ta[~((ta["track_id"] == "t01") & (ta["kind"] == "instrument") & (ta["value"] == "organ"))]
    ta = pd.concat([ta, pd.DataFrame([{"track_id": "t15", "kind": "mood", "value": "unhurried"}])])
    ta.to_json(dst / "track_attributes.jsonl", orient="records", lines=True, force_ascii=False)

    aa = pd.read_parquet(dst / "artist_attributes.parquet")
    aa[aa["artist_id"] != "debussy"].to_parquet(dst / "artist_attributes.parquet", index=False)

    rel = pd.read_csv(dst / "relations.csv", dtype=str, keep_default_na=False)
    rel = rel[(rel["src"] != "debussy") & (rel["dst"] != "debussy")]
    rel = rel[~((rel["src"] == "dvorak") & (rel["type"] == "INFLUENCED_BY"))]
    rel.to_csv(dst / "relations.csv", index=False)
    return dst


def rows_of(catalog: Path):
    """Validated graph rows of a catalog folder (fails the test on an invalid one)."""
    from kgjemb.catalog.rows import catalog_to_rows
    from kgjemb.catalog.validate import validate_catalog

    cat, report = validate_catalog(catalog, check_audio_files=False)
    assert report.valid, [str(p) for p in report.problems[:5]]
    return catalog_to_rows(cat)
