"""Catalog reading + validation: every defect reported once, with file, line and field."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from kgjemb.catalog import validate_catalog
from kgjemb.catalog.schema import TABLES
from kgjemb.catalog.validate import check_audio
from kgjemb.errors import CatalogError


def _write(root: Path, name: str, text: str | bytes) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


ARTISTS = "id,name,aliases,born,died,country\na1,Ada,,1900,,GB\na2,Bea,,,,FR\n"
TRACKS = "id,title,artist_id\nt1,One,a1\nt2,Two,a2\n"


def _count_rows(path: Path) -> int:
    """Rows of one table file, counted without kgjemb (reference for the reader)."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            return sum(1 for row in csv.reader(fh) if row) - 1
    if path.suffix == ".jsonl":
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return pq.read_metadata(path).num_rows


def test_example_catalog_is_valid_and_typed(fixture_catalog):
    catalog, report = validate_catalog(fixture_catalog)
    assert report.valid and report.problems == [], [str(p) for p in report.problems]
    formats = set()
    for path in fixture_catalog.iterdir():
        if path.stem in TABLES:
            formats.add(path.suffix)
            assert len(catalog.tables[path.stem]) == _count_rows(path), path.name
    assert formats == {".csv", ".jsonl", ".parquet"}
    artists = catalog.tables["artists"].set_index("id")
    assert artists["born"].dtype == "Int64" and artists["died"].dtype == "Int64"
    assert isinstance(artists.loc["dvorak", "aliases"], list) and "Dvorak" in artists.loc["dvorak", "aliases"]
    assert artists.loc["lind-quartet", "aliases"] == ["The Lind Quartet"]
    assert artists.loc["mara-lind", "aliases"] == [] and pd.isna(artists.loc["mara-lind", "died"])
    assert catalog.tables["tracks"]["duration_s"].dtype == "float64"
    assert catalog.tables["track_attributes"]["weight"].notna().sum() == sum(
        "weight" in json.loads(line) for line in (fixture_catalog / "track_attributes.jsonl").read_text().splitlines())
    # the multi-word CSV title with a comma stays one cell
    assert "Jesu, meine Freude" in set(catalog.tables["tracks"]["title"])


# One entry per defect in graph/fixtures/defects: (file, line, field, message fragment).
DEFECTS = [
    ("albums.csv", 1, "label", "unknown column 'label'"),
    ("albums.csv", 3, "artist_id", "unknown artist 'ghost'"),
    ("artists.csv", 3, "born", "expected an integer, got 'seventeen'"),
    ("artists.csv", 4, None, "not valid UTF-8"),
    ("artists.csv", 5, "id", "duplicate id 'a1' (first defined on line 2)"),
    ("relations.parquet", 3, "type", "unknown relationship type 'COVERS'; choose from ['BY', 'INFLUENCED_BY'"),
    ("relations.parquet", 4, "dst", "unknown artist 'ghost-artist'"),
    ("relations.parquet", 5, "role", "a BY relation needs a role; choose from"),
    ("track_attributes.jsonl", 2, "track_id", "unknown track 't404'"),
    ("track_attributes.jsonl", 3, "kind", "unknown attribute kind 'colour'; choose from"),
    ("track_attributes.jsonl", 4, None, "invalid JSON"),
    ("tracks.csv", 3, "title", "required field is missing"),
    ("tracks.csv", 4, "artist_id", "unknown artist 'nobody'"),
    ("tracks.csv", 5, "album_id", "unknown album 'no-such-album'"),
    ("tracks.csv", 6, "audio_path", "audio file not found"),
    ("tracks.csv", 7, "audio_path", "cannot decode audio"),
]


def test_defects_catalog_reports_each_defect_once(defects_catalog):
    _, report = validate_catalog(defects_catalog)
    assert not report.valid
    got = [(p.file, p.line, p.field) for p in report.problems]
    assert sorted(got, key=str) == sorted([d[:3] for d in DEFECTS], key=str), "\n".join(map(str, report.problems))
    by_place = {(p.file, p.line, p.field): p for p in report.problems}
    for file, line, field, fragment in DEFECTS:
        assert fragment in by_place[(file, line, field)].message
    assert [p.field for p in report.warnings] == ["label"]
    # every row-level error names its table, so --skip-invalid can leave the row out
    rows = report.error_rows()
    assert ("tracks", 7) in rows and ("relations", 3) in rows and ("artists", 4) in rows
    assert report.fatal() == []


def test_file_level_defects(defects_files_catalog):
    _, report = validate_catalog(defects_files_catalog)
    msgs = {p.file: p for p in report.problems}
    assert "given in 2 formats" in msgs["albums.csv, albums.jsonl"].message
    assert "file is empty" in msgs["artists.csv"].message
    assert msgs["tracks.csv"].line == 1 and "no header line" in msgs["tracks.csv"].message
    assert msgs["playlists.csv"].severity == "warning"
    assert len(report.errors) == 3 and len(report.fatal()) == 3


def test_csv_physical_lines_with_multiline_cells_blank_lines_crlf_and_bom(tmp_path):
    root = tmp_path / "cat"
    _write(root, "artists.csv", ARTISTS)
    text = ("\ufeffid,title,artist_id\r\n"
            "t1,\"Two\r\nline title\",a1\r\n"      # lines 2-3
            "\r\n"                                 # line 4: blank
            "t2,,a1\r\n"                           # line 5: missing title
            "t3,Three,zz\r\n")                     # line 6: dangling artist
    _write(root, "tracks.csv", text)
    catalog, report = validate_catalog(root)
    assert [(p.file, p.line, p.field) for p in report.errors] == [
        ("tracks.csv", 5, "title"), ("tracks.csv", 6, "artist_id")]
    assert list(catalog.tables["tracks"].index) == [2, 5, 6]
    assert catalog.tables["tracks"].loc[2, "title"] == "Two\r\nline title"


def test_csv_wrong_field_count_is_reported_per_line(tmp_path):
    root = tmp_path / "cat"
    _write(root, "artists.csv", ARTISTS)
    _write(root, "tracks.csv", "id,title,artist_id\nt1,One,a1\nt2,Two,a2,extra\nt3,Three\n")
    _, report = validate_catalog(root)
    msgs = {(p.line, p.field): p.message for p in report.errors}
    assert "expected 3 fields" in msgs[(3, None)]
    assert "expected 3 fields" in msgs[(4, None)]
    assert (4, "artist_id") in msgs  # the short row also lacks its required artist


def test_jsonl_values_are_coerced_and_wrong_types_reported(tmp_path):
    root = tmp_path / "cat"
    rows = [
        {"id": 7, "name": "Seven", "aliases": ["Sept", "Sieben"], "born": 1950},
        {"id": "a2", "name": ["not", "a", "string"], "born": "1960"},
        {"id": "a3", "name": "Three", "aliases": "X|Y", "born": 1970.5, "extra": 1},
    ]
    _write(root, "artists.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    _write(root, "tracks.csv", "id,title,artist_id\nt1,One,7\n")
    catalog, report = validate_catalog(root)
    errors = {(p.line, p.field): p.message for p in report.errors}
    assert set(errors) == {(2, "name"), (3, "born")}
    assert "expected a string, got list" in errors[(2, "name")]
    assert [(p.line, p.field) for p in report.warnings] == [(3, "extra")]
    artists = catalog.tables["artists"].set_index("id")
    assert artists.loc["7", "aliases"] == ["Sept", "Sieben"] and artists.loc["a3", "aliases"] == ["X", "Y"]
    assert artists.loc["a2", "born"] == 1960 and artists.loc["7", "born"] == 1950


def test_missing_required_table_and_column(tmp_path):
    root = tmp_path / "cat"
    _write(root, "artists.csv", "id,country\na1,GB\n")
    _, report = validate_catalog(root)
    problems = {(p.file, p.field): p for p in report.errors}
    assert "required table 'tracks' is missing" in problems[("tracks.csv", None)].message
    assert problems[("artists.csv", "name")].line == 1
    # a missing column is one problem, not one per row
    assert sum(p.field == "name" for p in report.problems) == 1
    assert len(report.fatal()) == 2


def test_missing_directory_raises(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        validate_catalog(tmp_path / "nope")


def test_check_audio(fixture_catalog, tmp_path):
    assert check_audio(fixture_catalog / "audio" / "t01.flac") is None
    bogus = tmp_path / "x.flac"
    bogus.write_text("not audio")
    assert "cannot decode audio" in check_audio(bogus)
    assert check_audio(tmp_path / "absent.wav") == "audio file not found"
