"""catalog_to_rows: the graph content, checked against a slow per-row reference reading of
the raw files, plus the skip cascade and the synthetic generator."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq

from kgjemb.catalog import catalog_to_rows, select_rows, validate_catalog
from kgjemb.catalog.rows import build_rows
from kgjemb.catalog.schema import EDGE_PROPERTIES, NODE_PROPERTIES, REL_TYPES, attribute_id
from kgjemb.catalog.synthetic import write_synthetic_catalog


def _records(root: Path, table: str) -> list[dict]:
    """Raw rows of one table with None for empty cells, read without kgjemb."""
    for path in root.glob(f"{table}.*"):
        if path.suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                return [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(fh)]
        if path.suffix == ".jsonl":
            return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        if path.suffix == ".parquet":
            return [{k: (None if v != v else v) for k, v in r.items()} for r in pq.read_table(path).to_pylist()]
    return []


def _reference_edges(root: Path) -> dict[tuple, set]:
    """Expected edges by the rules in kgjemb/catalog/rows.py, one row at a time."""
    out: dict[tuple, dict] = {k: {} for k in REL_TYPES}

    def put(key, src, dst, weight=None, source=None, role=None):
        out[key][(src, dst)] = (float(weight) if weight is not None else 1.0, source or "catalog", role)

    for r in _records(root, "relations"):
        if r["type"] == "BY":
            put(("Track", "BY", "Artist"), r["src"], r["dst"], r.get("weight"), r.get("source"), r.get("role"))
    for r in _records(root, "tracks"):
        put(("Track", "BY", "Artist"), r["id"], r["artist_id"], role="primary")
        if r.get("album_id"):
            put(("Track", "ON", "Album"), r["id"], r["album_id"])
    for r in _records(root, "albums"):
        if r.get("artist_id"):
            put(("Album", "BY", "Artist"), r["id"], r["artist_id"], role="primary")
    for table, owner, key in (("track_attributes", "track_id", ("Track", "HAS", "Attribute")),
                              ("artist_attributes", "artist_id", ("Artist", "HAS", "Attribute"))):
        for r in _records(root, table):
            put(key, r[owner], attribute_id(r["kind"], r["value"]), r.get("weight"))
    ends = {"SIMILAR_TO": ("Artist", "Artist"), "INFLUENCED_BY": ("Artist", "Artist"),
            "MEMBER_OF": ("Artist", "Artist"), "VERSION_OF": ("Track", "Track")}
    for r in _records(root, "relations"):
        if r["type"] in ends:
            a, b = ends[r["type"]]
            put((a, r["type"], b), r["src"], r["dst"], r.get("weight"), r.get("source"), r.get("role"))
    return {k: {(s, d, *props) for (s, d), props in v.items()} for k, v in out.items()}


def test_rows_match_reference(fixture_catalog):
    catalog, report = validate_catalog(fixture_catalog)
    assert report.valid
    rows = catalog_to_rows(catalog)
    expected = _reference_edges(fixture_catalog)
    for key in REL_TYPES:
        got = {(e["src"], e["dst"], *(e[p] for p in EDGE_PROPERTIES)) for e in rows.edges[key]}
        assert len(got) == len(rows.edges[key]), f"duplicate edge in {key}"
        assert got == expected[key], key
    assert sum(len(v) for v in expected.values()) > 100  # the fixture exercises every table


def test_nodes_have_exactly_the_schema_properties(fixture_catalog):
    catalog, _ = validate_catalog(fixture_catalog)
    rows = catalog_to_rows(catalog)
    for label, records in rows.nodes.items():
        assert records, label
        for rec in records:
            assert list(rec) == ["id", *NODE_PROPERTIES[label]]
    tracks = {t["id"]: t for t in rows.nodes["Track"]}
    raw = {r["id"]: r for r in _records(fixture_catalog, "tracks")}
    assert set(tracks) == set(raw)
    for tid, t in tracks.items():
        if raw[tid]["audio_path"]:
            path = Path(t["audio_path"])
            assert path.is_absolute() and path.is_file() and path == (fixture_catalog / raw[tid]["audio_path"]).resolve()
        else:
            assert t["audio_path"] is None
        assert t["year"] == int(raw[tid]["year"]) and isinstance(t["year"], int)
    artists = {a["id"]: a for a in rows.nodes["Artist"]}
    assert artists["mara-lind"]["died"] is None and artists["mara-lind"]["aliases"] == []
    attrs = {a["id"]: a for a in rows.nodes["Attribute"]}
    # id from attribute_id; name = first spelling seen (track_attributes before artist_attributes)
    assert attrs["genre:baroque"]["name"] == "baroque" and attrs["genre:baroque"]["kind"] == "genre"
    assert attrs["era:baroque"]["name"] == "Baroque"
    assert attrs[attribute_id("key", "E minor")]["name"] == "E minor"
    expected_ids = {attribute_id(r["kind"], r["value"]) for t in ("track_attributes", "artist_attributes")
                    for r in _records(fixture_catalog, t)}
    assert set(attrs) == expected_ids


def test_primary_credit_wins_over_by_relation(tmp_path):
    root = tmp_path / "cat"
    root.mkdir()
    (root / "artists.csv").write_text("id,name\na1,Ada\na2,Bea\n")
    (root / "tracks.csv").write_text("id,title,artist_id\nt1,One,a1\n")
    (root / "relations.csv").write_text("src,type,dst,weight,source,role\nt1,BY,a1,0.5,x,composer\nt1,BY,a2,,,arranger\n")
    catalog, report = validate_catalog(root)
    assert report.valid
    by = {(e["src"], e["dst"]): e for e in catalog_to_rows(catalog).edges[("Track", "BY", "Artist")]}
    assert by[("t1", "a1")]["role"] == "primary" and by[("t1", "a1")]["weight"] == 1.0
    assert by[("t1", "a2")]["role"] == "arranger" and by[("t1", "a2")]["source"] == "catalog"


def test_skip_cascades_to_dependent_rows(defects_catalog):
    catalog, report = validate_catalog(defects_catalog)
    rows, dropped = build_rows(catalog, skip=report.error_rows())
    artists = {a["id"] for a in rows.nodes["Artist"]}
    tracks = {t["id"] for t in rows.nodes["Track"]}
    # a2 (bad born) and a3 (bad encoding) are skipped; a1 keeps its first row
    assert artists == {"a1"}
    assert tracks == {"t1"}  # t2..t6 each have an error
    assert {a["id"] for a in rows.nodes["Album"]} == {"al1"}
    assert {e["dst"] for e in rows.edges[("Track", "HAS", "Attribute")]} == {"genre:folk"}
    # relations: line 2 is valid itself but a2 was skipped, so it goes too
    assert all(not v for k, v in rows.edges.items() if k[1] in ("SIMILAR_TO", "VERSION_OF"))
    assert dropped["relations"] == 4 and dropped["artists"] == 3 and dropped["tracks"] == 5
    # every edge's endpoints are nodes of the rows
    ids = {lb: {n["id"] for n in v} for lb, v in rows.nodes.items()}
    for (a, _, b), edges in rows.edges.items():
        assert all(e["src"] in ids[a] and e["dst"] in ids[b] for e in edges)


def test_invalid_catalog_without_skip_still_gives_consistent_rows(defects_catalog):
    catalog, _ = validate_catalog(defects_catalog)
    rows = catalog_to_rows(catalog)
    ids = {lb: {n["id"] for n in v} for lb, v in rows.nodes.items()}
    assert "a2" in ids["Artist"]  # only unusable rows are dropped
    for (a, _, b), edges in rows.edges.items():
        assert all(e["src"] in ids[a] and e["dst"] in ids[b] for e in edges)


def test_synthetic_catalog_is_valid_and_complete(tmp_path):
    counts = write_synthetic_catalog(tmp_path / "syn", tracks=2000, seed=3)
    catalog, report = validate_catalog(tmp_path / "syn")
    assert report.valid, report.errors[:3]
    frames, dropped = select_rows(catalog)
    assert not any(dropped.values())
    rows = catalog_to_rows(catalog)
    assert len(rows.nodes["Track"]) == counts["tracks"] == 2000
    assert len(rows.nodes["Artist"]) == counts["artists"]
    assert len(rows.edges[("Track", "HAS", "Attribute")]) == counts["track_attributes"]
    assert len(rows.edges[("Track", "ON", "Album")]) == counts["tracks"]
    n_rel = sum(len(rows.edges[k]) for k in REL_TYPES if k[1] in ("SIMILAR_TO", "INFLUENCED_BY", "MEMBER_OF", "VERSION_OF"))
    extra_by = len(rows.edges[("Track", "BY", "Artist")]) - counts["tracks"]
    assert n_rel + extra_by <= counts["relations"] and n_rel > 0
    again = write_synthetic_catalog(tmp_path / "syn2", tracks=2000, seed=3)
    assert again == counts and (tmp_path / "syn" / "relations.csv").read_bytes() == (tmp_path / "syn2" / "relations.csv").read_bytes()


def test_parquet_lists_and_absent_columns_become_lists_and_none(tmp_path):
    import pandas as pd

    root = tmp_path / "cat"
    root.mkdir()
    pd.DataFrame({"id": ["a1", "a2"], "name": ["A", "B"], "aliases": [["x", "y"], []],
                  "born": [1900, None]}).to_parquet(root / "artists.parquet")
    (root / "tracks.jsonl").write_text('{"id": "t1", "title": "One", "artist_id": "a1", "year": 1999.0}\n')
    catalog, report = validate_catalog(root)
    assert report.valid, report.errors
    rows = catalog_to_rows(catalog)
    artists = {a["id"]: a for a in rows.nodes["Artist"]}
    assert artists["a1"] == {"id": "a1", "name": "A", "aliases": ["x", "y"], "born": 1900, "died": None, "country": None}
    assert artists["a2"]["born"] is None and artists["a2"]["aliases"] == []
    track = rows.nodes["Track"][0]
    assert track["year"] == 1999 and type(track["year"]) is int
    assert "album_id" not in track and track["audio_path"] is None and track["duration_s"] is None
