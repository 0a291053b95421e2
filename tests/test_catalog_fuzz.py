"""A seeded catalog fuzzer: hostile rows in every table and every format, never a traceback.

Each case writes a small valid catalog (six tables, each as CSV, JSONL or Parquet at
random, tiny real WAV files under ``audio/``), then mutates rows: over-long cells and
header names, integers out of range, non-numbers, missing and dangling values, duplicate
ids, unknown kinds/types, negative weights, non-finite numbers, audio paths that escape
the catalog (``..``, absolute, symlinks, over-long names), rows with too few or too many
fields, deep JSON nesting, lone surrogates, invalid UTF-8 and JSON, truncated Parquet,
plus harmless changes that must stay valid (CR-only or CRLF line endings, a BOM). Every
mutation names the (file, line, field) it must be reported at.

Asserted for every case: validation returns (no exception); every expected problem is
reported where expected; the catalog is valid exactly when no mutation was harmful. For a
share of the cases the real CLI runs: ``graph validate`` exits 1/0 accordingly with the
same problems, ``graph load`` of an invalid catalog exits 1 and leaves a loaded embedded
store byte-for-byte unchanged, and ``load --dry-run`` of a valid one exits 0. Audio paths
that escape point at a FIFO outside the catalog: opening it would block, so "nothing
outside is opened" is checked by every case finishing.

The figures (cases, mutated rows, seconds) are printed; run with ``-s`` to see them.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from typer.testing import CliRunner

from kgjemb.catalog import validate_catalog
from kgjemb.catalog.schema import MAX_FIELD_CHARS, MAX_INT, TABLES
from kgjemb.cli import app

SEED = 20261130
N_CASES = 56
CLI_EVERY = 5
FORMATS = ("csv", "jsonl", "parquet")
runner = CliRunner()


# ------------------------------------------------------------------ the base catalog


def base_rows(rng: random.Random) -> dict[str, list[dict]]:
    """A small valid catalog as typed Python rows (None: no value): 112 rows in six tables."""
    n_artists, n_albums, n_tracks = 16, 8, 24
    artists = [{"id": f"a{i}", "name": rng.choice(["Ada", "Béla", "Chō", "Dvořák", "Eve"]) + f" {i}",
                "aliases": [f"alias{i}", f"A{i}"] if i % 2 else [], "born": 1800 + 10 * i if i % 3 else None,
                "died": 1850 + 10 * i if i % 4 == 1 else None, "country": rng.choice(["GB", "CZ", None])}
               for i in range(n_artists)]
    albums = [{"id": f"al{i}", "title": f"Album {i}", "year": 1900 + i, "artist_id": f"a{i}"} for i in range(n_albums)]
    tracks = [{"id": f"t{i}", "title": f"Track {i} ✓", "artist_id": f"a{i % n_artists}",
               "album_id": f"al{i % n_albums}" if i < 16 else None, "duration_s": 60.5 + i,
               "year": 1900 + i if i % 2 else None, "audio_path": f"audio/t{i}.wav" if i < 4 else None}
              for i in range(n_tracks)]
    kinds = ["genre", "mood", "instrument", "tempo"]
    track_attributes = [{"track_id": f"t{i % n_tracks}", "kind": kinds[i % 4], "value": f"value {i}",
                         "weight": 0.5 if i % 3 == 0 else None} for i in range(32)]
    artist_attributes = [{"artist_id": f"a{i}", "kind": "region", "value": f"region {i}", "weight": 1.0}
                         for i in range(n_artists)]
    relations = ([{"src": f"a{i}", "type": "SIMILAR_TO", "dst": f"a{(i + 1) % n_artists}", "weight": 0.8,
                   "source": "test", "role": None} for i in range(10)]
                 + [{"src": f"t{i + 1}", "type": "VERSION_OF", "dst": f"t{i}", "weight": None, "source": None,
                     "role": None} for i in range(0, 6, 2)]
                 + [{"src": "t2", "type": "BY", "dst": "a5", "weight": None, "source": None, "role": "composer"},
                    {"src": "a7", "type": "MEMBER_OF", "dst": "a6", "weight": None, "source": None, "role": None},
                    {"src": "a9", "type": "INFLUENCED_BY", "dst": "a3", "weight": 2.0, "source": None, "role": None}])
    return {"artists": artists, "albums": albums, "tracks": tracks, "track_attributes": track_attributes,
            "artist_attributes": artist_attributes, "relations": relations}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "|".join(value)
    return str(value)


def _csv_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


@dataclass
class Expect:
    """Where a harmful mutation must be reported (``line``/``field`` None: anywhere in it)."""

    file: str
    line: int | None
    field: str | None
    what: str


@dataclass
class Case:
    formats: dict[str, str]
    rows: dict[str, list[dict]]
    expects: list[Expect] = field(default_factory=list)
    touched: set[tuple[str, int]] = field(default_factory=set)
    text_ops: list[tuple[str, str, int | None]] = field(default_factory=list)  # (table, op, row)
    raw_cells: dict[tuple[str, int, str], str] = field(default_factory=dict)  # cells written verbatim (JSONL)
    mutated_rows: int = 0
    harmless: list[str] = field(default_factory=list)

    def file(self, table: str) -> str:
        return f"{table}.{self.formats[table]}"

    def line(self, table: str, row: int) -> int:
        return row + (1 if self.formats[table] == "jsonl" else 2)


# ------------------------------------------------------------------ mutations


def _columns(table: str, kind: str | None = None, required: bool | None = None, ref: bool | None = None) -> list[str]:
    return [c.name for c in TABLES[table].columns
            if (kind is None or c.type == kind) and (required is None or c.required == required)
            and (ref is None or (c.ref is not None) == ref)]


def _pick_row(case: Case, rng: random.Random, table: str) -> int | None:
    free = [i for i in range(len(case.rows[table])) if (table, i) not in case.touched]
    if not free:
        return None
    row = rng.choice(free)
    case.touched.add((table, row))
    case.mutated_rows += 1
    return row


def mutate(case: Case, rng: random.Random, outside: Path) -> None:
    """Apply one random mutation to ``case`` (skipped when it does not fit the table/format)."""
    table = rng.choice(list(TABLES))
    fmt = case.formats[table]
    op = rng.choice(["huge_cell", "int_range", "not_a_number", "missing_required", "dangling_ref", "duplicate_id",
                     "unknown_kind", "negative_weight", "bad_audio", "nonfinite", "bad_type", "bool_number",
                     "text_short_row", "text_long_row", "text_bad_utf8", "text_deep_json", "text_bad_json",
                     "text_surrogate", "text_not_object", "text_huge_int"])
    cols = {"str": _columns(table, "str"), "int": _columns(table, "int"), "float": _columns(table, "float"),
            "required": _columns(table, required=True), "ref": _columns(table, ref=True)}
    if op == "bad_audio":
        table = "tracks"
        fmt = case.formats[table]
    if op == "unknown_kind" and table not in ("track_attributes", "artist_attributes"):
        table = rng.choice(["track_attributes", "artist_attributes"])
        fmt = case.formats[table]
    if op == "bad_type":
        table, fmt = "relations", case.formats["relations"]
    if op in ("text_short_row", "text_long_row") and fmt != "csv":
        return
    if op in ("text_deep_json", "text_bad_json", "text_surrogate", "text_not_object", "text_huge_int", "bool_number") \
            and fmt != "jsonl":
        return
    if op == "text_bad_utf8" and fmt == "parquet":
        return
    if op == "not_a_number" and fmt == "parquet":
        return
    row = _pick_row(case, rng, table)
    if row is None:
        return
    r = case.rows[table][row]
    file, line = case.file(table), case.line(table, row)

    def expect(col: str | None, what: str) -> None:
        case.expects.append(Expect(file, line, col, what))

    if op == "huge_cell":
        col = rng.choice(cols["str"] + (["aliases"] if table == "artists" else []))
        big = "x" * (MAX_FIELD_CHARS + rng.randint(1, 5000))
        r[col] = [big] if col == "aliases" and fmt != "csv" else big
        expect(col, op)
    elif op == "int_range" and cols["int"]:
        col = rng.choice(cols["int"])
        r[col] = rng.choice([10**20, -(10**19), MAX_INT + 1, 1e30, -1e300] if fmt != "parquet" else [1e30, -1e25])
        expect(col, op)
    elif op == "not_a_number" and (cols["int"] or cols["float"]):
        col = rng.choice(cols["int"] + cols["float"])
        r[col] = rng.choice(["abc", "12x", "1,5", "--3"])
        expect(col, op)
    elif op == "missing_required":
        col = rng.choice(cols["required"])
        r[col] = rng.choice([None, "   "]) if fmt != "parquet" else None
        expect(col, op)
    elif op == "dangling_ref" and cols["ref"]:
        col = rng.choice(cols["ref"])
        r[col] = f"ghost-{rng.randint(0, 10**6)}"
        expect(col, op)
    elif op == "duplicate_id" and TABLES[table].key and (
            first := [i for i in range(row) if (table, i) not in case.touched]):
        source = rng.choice(first)
        case.touched.add((table, source))  # the first occurrence must stay as it is
        r["id"] = case.rows[table][source]["id"]
        expect("id", op)
    elif op == "unknown_kind":
        r["kind"] = rng.choice(["colour", "smell", "ゴースト"])
        expect("kind", op)
    elif op == "negative_weight" and "weight" in r:
        r["weight"] = -rng.uniform(0.1, 5.0)
        expect("weight", op)
    elif op == "bad_audio":
        r["audio_path"] = rng.choice([
            "../../outside/fifo", str(outside / "fifo"), "audio/escape.wav", "audio/../../../outside/fifo",
            "audio/" + "a" * 300 + ".wav", "a/" * 2100 + "x.wav", "audio/missing.wav", "audio/nul\x00.wav",
        ])
        expect("audio_path", op)
    elif op == "nonfinite" and cols["float"]:
        col = rng.choice(cols["float"])
        r[col] = float("inf") if fmt == "parquet" else rng.choice(["inf", "-inf", float("inf")])
        if fmt == "jsonl" and r[col] == float("inf"):
            case.raw_cells[(table, row, col)] = "1e400"  # JSON has no inf: a number too big for a float
        expect(col, op)
    elif op == "bad_type":
        r["type"] = rng.choice(["LIKES", "similar_to", "BY "])
        if r["type"] == "BY ":  # stripped: a valid type; make it harmful another way
            r["type"] = "OWNS"
        expect("type", op)
    elif op == "bool_number" and (cols["int"] or cols["float"]):
        col = rng.choice(cols["int"] + cols["float"])
        r[col] = rng.choice([True, False])
        expect(col, op)
    elif op.startswith("text_"):
        case.text_ops.append((table, op, row))
        expect(None, op)
    else:  # the op did not fit this table: nothing mutated
        case.touched.discard((table, row))
        case.mutated_rows -= 1


def harmless(case: Case, rng: random.Random) -> None:
    """Changes a reader must take in its stride: the catalog stays valid."""
    table = rng.choice([t for t, f in case.formats.items() if f != "parquet"] or [None])
    if table is None:
        return
    op = rng.choice(["cr_only", "crlf", "bom"])
    case.text_ops.append((table, op, None))
    case.harmless.append(f"{table}:{op}")


# ------------------------------------------------------------------ writing


def write_case(case: Case, root: Path, rng: random.Random, wav: bytes, outside: Path) -> None:
    root.mkdir(parents=True)
    (root / "audio").mkdir()
    for i in range(4):
        (root / "audio" / f"t{i}.wav").write_bytes(wav)
    (root / "audio" / "escape.wav").symlink_to(outside / "fifo")
    for table, rows in case.rows.items():
        fmt = case.formats[table]
        cols = list(TABLES[table].column_names)
        ops = [(op, row) for t, op, row in case.text_ops if t == table]
        path = root / f"{table}.{fmt}"
        if fmt == "parquet":
            frame = pd.DataFrame(rows, columns=cols)
            frame.to_parquet(path, index=False)
            continue
        if fmt == "csv":
            header = cols[:]
            lines = [_csv_line(header)]
            for i, r in enumerate(rows):
                cells = [_cell(r[c]) for c in cols]
                if ("text_short_row", i) in ops:
                    cells = cells[: rng.randint(1, len(cells) - 1)]
                if ("text_long_row", i) in ops:
                    cells += ["extra"] * rng.randint(1, 3)
                lines.append(_csv_line(cells))
            text = "\n".join(lines) + "\n"
        else:
            lines = []
            for i, r in enumerate(rows):
                obj = {c: v for c, v in r.items() if v is not None}
                line = json.dumps(obj, ensure_ascii=False)
                for (t, row, col), raw in case.raw_cells.items():
                    if t == table and row == i:
                        line = line.replace(json.dumps(col) + ": Infinity", json.dumps(col) + ": " + raw)
                if ("text_deep_json", i) in ops:
                    n = rng.choice([40, 5000, 200_000])
                    line = line[:-1] + ', "name": ' + "[" * n + "]" * n + "}"
                if ("text_bad_json", i) in ops:
                    line = line[: rng.randint(1, len(line) - 1)]
                if ("text_surrogate", i) in ops:
                    line = line[:-1] + ', "country": "\\ud800x"}'
                if ("text_not_object", i) in ops:
                    line = rng.choice(["[1, 2]", '"text"', "42", "null"])
                if ("text_huge_int", i) in ops:
                    line = line[:-1] + ', "weight": ' + "9" * 5000 + "}"
                lines.append(line)
            text = "\n".join(lines) + "\n"
        data = text.encode("utf-8")
        for op, row in ops:
            if op == "text_bad_utf8":
                target = (lines[row + 1] if fmt == "csv" else lines[row]).encode("utf-8")
                data = data.replace(target, target[:1] + b"\xff\xfe" + target[1:], 1)
            elif op == "cr_only":
                data = data.replace(b"\n", b"\r")
            elif op == "crlf":
                data = data.replace(b"\n", b"\r\n")
            elif op == "bom":
                data = b"\xef\xbb\xbf" + data
        path.write_bytes(data)


def new_case(rng: random.Random, outside: Path) -> Case:
    case = Case(formats={t: rng.choice(FORMATS) for t in TABLES}, rows=base_rows(rng))
    n = rng.choice([0, 16, 24, 32, 40])
    for _ in range(20 * n):  # a mutation that does not fit the table or format is redrawn
        if case.mutated_rows >= n:
            break
        mutate(case, rng, outside)
    if rng.random() < 0.3:
        harmless(case, rng)
    if rng.random() < 0.08:  # a corrupt Parquet file: one whole-file problem
        parquet = [t for t, f in case.formats.items() if f == "parquet"]
        if parquet:
            case.text_ops.append((rng.choice(parquet), "truncate_parquet", None))
    return case


def _truncate_parquets(case: Case, root: Path) -> None:
    for table, op, _ in case.text_ops:
        if op == "truncate_parquet":
            path = root / case.file(table)
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
            # an unreadable file is one whole-file problem: its rows are not read at all
            case.expects = [e for e in case.expects if e.file != case.file(table)]
            case.expects.append(Expect(case.file(table), None, None, op))


# ------------------------------------------------------------------ the test


def _validate_bounded(root: Path):
    """validate_catalog in a thread that must finish: a blocked open of the FIFO outside
    the catalog would hang it."""
    out: dict = {}

    def run() -> None:
        try:
            out["result"] = validate_catalog(root)
        except BaseException as err:  # noqa: BLE001 - reported below
            out["error"] = err

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout=120)
    assert not t.is_alive(), f"validation of {root} blocked (did it open the FIFO outside the catalog?)"
    if "error" in out:
        raise AssertionError(f"validation of {root} raised {out['error']!r}") from out["error"]
    return out["result"]


def _store_digest(home: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        h.update(path.relative_to(home).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _wav() -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, (0.1 * np.sin(np.arange(800) / 5.0)).astype(np.float32), 8000, format="WAV")
    return buf.getvalue()


@pytest.mark.slow
def test_fuzzed_catalogs_report_problems_never_crash(tmp_path):
    rng = random.Random(SEED)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.mkfifo(outside / "fifo")  # what an escaping audio path points at: opening it blocks
    wav = _wav()
    # the unmutated catalog is valid in every format, and loads into the store we then guard
    for fmt in FORMATS:
        case = Case(formats={t: fmt for t in TABLES}, rows=base_rows(random.Random(1)))
        write_case(case, tmp_path / f"base-{fmt}", rng, wav, outside)
        _, report = _validate_bounded(tmp_path / f"base-{fmt}")
        assert report.valid, [str(p) for p in report.errors]
    home = tmp_path / "home"
    loaded = runner.invoke(app, ["graph", "load", str(tmp_path / "base-csv"), "--home", str(home), "--no-progress"])
    assert loaded.exit_code == 0, loaded.output
    store = _store_digest(home)

    started = time.perf_counter()
    totals = {"cases": 0, "mutated_rows": 0, "invalid": 0, "cli": 0, "problems": 0,
              "formats": {f: 0 for f in FORMATS}, "tables": {t: 0 for t in TABLES}}
    for n in range(N_CASES):
        case = new_case(rng, outside)
        root = tmp_path / "cases" / f"c{n:03d}"
        write_case(case, root, rng, wav, outside)
        _truncate_parquets(case, root)
        catalog, report = _validate_bounded(root)
        errors = report.errors
        for exp in case.expects:
            hit = [p for p in errors if p.file == exp.file and (exp.line is None or p.line == exp.line)
                   and (exp.field is None or p.field == exp.field)]
            assert hit, (n, exp, case.formats, [str(p)[:160] for p in errors][:20])
        assert report.valid == (not case.expects), (n, case.harmless, [str(p)[:160] for p in errors][:10])
        assert all(p.file and p.message for p in report.problems)
        if n % CLI_EVERY == 0:
            result = runner.invoke(app, ["graph", "validate", str(root), "--format", "json", "--no-progress"])
            assert result.exit_code == (0 if report.valid else 1), result.output[-2000:]
            assert len(json.loads(result.stdout)["problems"]) == len(report.problems)
            if report.valid:
                dry = runner.invoke(app, ["graph", "load", str(root), "--dry-run", "--no-progress", "--format", "json"])
                assert dry.exit_code == 0, dry.output[-2000:]
            else:
                load = runner.invoke(app, ["graph", "load", str(root), "--home", str(home), "--no-progress"])
                assert load.exit_code == 1 and "nothing written" in load.stdout, load.output[-2000:]
                assert _store_digest(home) == store
            totals["cli"] += 1
        totals["cases"] += 1
        totals["mutated_rows"] += case.mutated_rows
        totals["invalid"] += not report.valid
        totals["problems"] += len(report.problems)
        for t, f in case.formats.items():
            totals["formats"][f] += 1
        for t, _ in case.touched:
            totals["tables"][t] += 1
    seconds = time.perf_counter() - started
    print(f"\ncatalog fuzz: seed {SEED}, {totals['cases']} cases ({totals['invalid']} invalid, {totals['cli']} through "
          f"the CLI), {totals['mutated_rows']} mutated rows, {totals['problems']} problems, {seconds:.1f} s; "
          f"tables mutated {totals['tables']}; table files by format {totals['formats']}")
    assert totals["mutated_rows"] >= 1000
    assert all(v > 0 for v in totals["tables"].values()) and all(v > 0 for v in totals["formats"].values())
