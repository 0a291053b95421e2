"""Neo4j's own bulk importer (``neo4j-admin database import full`` through the launcher's
``--import``, ``scripts/neo4j-dev import``) builds the same graph as the batched MERGE path
from the same rows — awkward strings, nulls, duplicates and a dangling relationship
included — whether the server runs (the launcher imports in its JVM and swaps the database in)
or not, and a failed import leaves the previous database as it was, never a half-written one. Also:
the diff against an empty graph (its C-speed shortcut) equals the general comparison."""
from __future__ import annotations

import copy
import shutil
import subprocess

import pytest

from kgjemb.catalog.rows import catalog_to_rows
from kgjemb.catalog.validate import validate_catalog
from kgjemb.errors import StoreError
from kgjemb.graph.base import GraphDiff, TableDiff
from kgjemb.graph.diff import diff_tables, rows_to_tables
from kgjemb.graph.frames import export_diff
from kgjemb.catalog.schema import EDGE_PROPERTIES, NODE_PROPERTIES
from kgjemb.graph.neo4j_import import _columns_text, _formatter, _lines, write_import_files
from tests.fixtures_neo4j import NEO4J_DEV, start_neo4j, stop_neo4j


@pytest.fixture(scope="module")
def rows(fixture_catalog):
    """The fixture catalog's rows plus what a CSV can get wrong: quotes, commas, newlines,
    non-ASCII, empty and null values, a duplicated id (the last row wins), a relationship
    to a missing node (left out)."""
    catalog, report = validate_catalog(fixture_catalog, check_audio_files=False)
    assert report.valid, report.errors[:5]
    out = copy.deepcopy(catalog_to_rows(catalog))
    tracks, artists = out.nodes["Track"], out.nodes["Artist"]
    tracks[0]["title"] = 'He said "hi", then\nleft; ok | done ü'
    tracks[1].update(year=None, duration_s=None, audio_path=None)
    tracks[2]["title"] = ""
    tracks.append(dict(tracks[3], title="duplicate: last wins"))
    artists[0]["aliases"] = ['Al "the" Pal', "a, b", "ß|x"]
    artists[1]["aliases"] = []
    out.edges[("Track", "BY", "Artist")].append(
        {"src": tracks[0]["id"], "dst": "no-such-artist", "weight": 1.0, "source": "catalog", "role": None})
    return out


def test_diff_from_an_empty_graph_equals_the_general_comparison(rows):
    new_nodes, new_edges = rows_to_tables(rows)
    fast = diff_tables({}, {}, new_nodes, new_edges)
    # one unrelated node in the old graph forces the general path
    general = diff_tables({"Attribute": {"zz:unrelated": ("unrelated", "zz")}}, {}, new_nodes, new_edges)
    assert general.nodes["Attribute"].unchanged == 0
    for label, table in fast.nodes.items():
        assert table.created == general.nodes[label].created
    for key, table in fast.edges.items():
        assert (table.created, table.dangling) == (general.edges[key].created, general.edges[key].dangling)
    assert fast.edges[("Track", "BY", "Artist")].dangling == 1


def test_import_files_are_typed_csv_and_refuse_what_they_cannot_carry(rows, tmp_path):
    diff = diff_tables({}, {}, *rows_to_tables(rows))
    files = write_import_files(diff, tmp_path / "imp")
    header = (tmp_path / "imp" / "nodes_Track.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "id:ID(Track),title,duration_s:double,year:long,audio_path"
    args = files.args_file.read_text(encoding="utf-8").splitlines()
    assert '"--bad-tolerance=0"' in args and any(a.startswith('"--nodes=Artist=') for a in args)
    assert files.rows == sum(len(t.created) for t in (*diff.nodes.values(), *diff.edges.values()))
    # only the file with a value spanning lines (a track title) takes the multi-line parser
    multiline = [a for a in args if a.startswith('"--multiline-fields=')]
    assert multiline == [f'"--multiline-fields={(tmp_path / "imp" / "nodes_Track.csv").resolve()}"']

    bad = copy.deepcopy(diff)
    artist_id = next(iter(bad.nodes["Artist"].created))
    name, _, *rest = bad.nodes["Artist"].created[artist_id]
    bad.nodes["Artist"].created[artist_id] = (name, ["a\x1fb"], *rest)
    with pytest.raises(ValueError, match=f"Artist '{artist_id}'.*U\\+001F"):
        write_import_files(bad, tmp_path / "bad")
    changed = GraphDiff(nodes={"Track": TableDiff(changed={"t": (("a", None, None, None), ("b", None, None, None))})},
                        edges={})
    with pytest.raises(ValueError, match="empty graph"):
        write_import_files(changed, tmp_path / "changed")



def _import(data, folder) -> subprocess.CompletedProcess:
    return subprocess.run([str(NEO4J_DEV), "import", "--data", str(data), "--files", str(folder)],
                          capture_output=True, text=True, timeout=900)


def test_column_formatting_writes_the_per_row_text(rows):
    """The fast path (a comprehension per column) against the reference (a formatter call
    per value, which also names a bad record): the same bytes for every table."""
    diff = diff_tables({}, {}, *rows_to_tables(rows))
    tables = [(t.created, NODE_PROPERTIES[label]) for label, t in diff.nodes.items()]
    tables += [(t.created, EDGE_PROPERTIES) for t in diff.edges.values()]
    assert sum(len(created) for created, _ in tables) > 100
    for created, props in tables:
        reference = "".join(_lines(created.keys(), created.values(), [_formatter(p) for p in props], "x"))
        assert _columns_text(created, props) == reference


@pytest.mark.neo4j
def test_bulk_importer_builds_the_batched_graph_and_fails_clean(neo4j_store, rows, tmp_path):
    from kgjemb.graph.neo4j_store import Neo4jGraphStore

    batched = neo4j_store.upsert(rows, bulk=False, batch_size=50, progress=False)
    expected = neo4j_store.export()
    with pytest.raises(StoreError, match="only loads an empty database"):
        neo4j_store.write_import_files(rows, tmp_path / "refused")

    data = tmp_path / "import-server"
    uri = start_neo4j(data)
    try:
        with Neo4jGraphStore(uri) as store:
            diff, files = store.write_import_files(rows, tmp_path / "files")
            assert diff.counts() == batched.diff.counts()
            store.upsert(rows, bulk=False, progress=False)  # a previous graph the failures must keep

        # a bad file: the importer aborts (--bad-tolerance=0) in a staging database; the
        # previous database stays as it was, whether the server runs (in-process import, no
        # restart) or not (the launcher's --import at start, which then exits)
        broken = tmp_path / "broken"
        shutil.copytree(files.folder, broken)
        args = files.args_file.read_text(encoding="utf-8").replace(str(files.folder), str(broken))
        (broken / "import.args").write_text(args, encoding="utf-8")
        nodes = broken / "nodes_Track.csv"
        lines = nodes.read_text(encoding="utf-8").splitlines(keepends=True)
        nodes.write_text("".join([*lines, lines[1]]), encoding="utf-8")  # a duplicate id
        failed = _import(data, broken)
        assert failed.returncode != 0 and "FAILED" in failed.stderr
        with Neo4jGraphStore(uri) as store:
            assert export_diff(expected, store.export()) == []
        stop_neo4j(data)
        failed = _import(data, broken)
        assert failed.returncode != 0
        assert "IMPORT FAILED" in (data / "launcher.log").read_text(errors="replace")
        uri = start_neo4j(data)
        with Neo4jGraphStore(uri) as store:
            assert export_diff(expected, store.export()) == []
            store.clear()

        # running server: imported in its JVM; stopped server: imported before it starts
        for running in (True, False):
            if not running:
                stop_neo4j(data)
            done = _import(data, files.folder)
            assert done.returncode == 0, done.stderr[-3000:]
            uri = done.stdout.strip().splitlines()[-1]
            with Neo4jGraphStore(uri) as store:  # opening creates the constraints and indexes
                assert export_diff(expected, store.export()) == []
                again = store.upsert(rows, progress=False)  # the store sees the imported graph as its own
                counts = again.diff.counts()
                assert all(c["created"] == c["changed"] == 0 for c in counts["nodes"].values())
                assert all(c["created"] == c["changed"] == 0 for c in counts["relationships"].values())
                with store._session() as session:  # the uniqueness constraints hold after the import
                    names = {r["name"] for r in session.run("SHOW CONSTRAINTS YIELD name").data()}
                assert {"artist_id", "album_id", "track_id", "attribute_id"} <= names
        assert "--multiline-fields=" in files.args_file.read_text(encoding="utf-8")  # the title with a newline

        # a swap cut short (launcher killed after the previous files moved aside and before
        # the database started on the imported ones): the next start puts the previous back
        stop_neo4j(data)
        home = data / "db"
        for part in ("databases", "transactions"):
            folder = home / "data" / part
            (folder / "neo4j").rename(folder / "neo4j.old")
            (folder / "neo4j").mkdir()
            (folder / "neo4j" / "neostore").write_bytes(b"not a store")
        (home / "import.swapping").write_text("2\n")
        uri = start_neo4j(data)
        assert "previous database is put back" in (data / "launcher.log").read_text(errors="replace")
        with Neo4jGraphStore(uri) as store:
            assert export_diff(expected, store.export()) == []
        assert not (home / "import.swapping").exists() and not (home / "data" / "databases" / "neo4j.old").exists()
    finally:
        stop_neo4j(data)
