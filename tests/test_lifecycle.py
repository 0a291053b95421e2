"""The curator lifecycle on the embedded store, through the CLI: `graph diff`, `graph load
--prune` (relationships pruned by source), `graph delete`; a changed catalog is reported
property by property and the pruned graph equals a fresh load of the edited catalog."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from kgjemb.cli import app
from kgjemb.graph.base import GraphRows, Prune
from kgjemb.graph.embedded import GRAPH_FILE, EmbeddedGraphStore
from kgjemb.graph.frames import export_diff
from tests.lifecycle_catalog import EXAMPLE, GONE_TRACKS, NEW_NAME, copy_example, edit_example, rows_of

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _loaded_home(tmp_path, catalog=EXAMPLE):
    home = tmp_path / "home"
    assert invoke("graph", "load", catalog, "--home", home, "--no-progress").exit_code == 0
    return home


def _edited_home(tmp_path):
    """(home loaded with a copy of the example, that copy edited afterwards)."""
    catalog = copy_example(tmp_path / "catalog")
    home = _loaded_home(tmp_path, catalog)
    return home, edit_example(catalog)


def _fresh_export(catalog):
    store = EmbeddedGraphStore(None)
    store.upsert(rows_of(catalog), progress=False)
    return store.export()


def test_diff_shows_each_change_and_writes_nothing(tmp_path):
    home, edited = _edited_home(tmp_path)
    stamp = (home / "graph" / GRAPH_FILE).stat().st_mtime_ns
    res = invoke("graph", "diff", edited, "--home", home, "--prune", "--format", "json", "--no-progress")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (home / "graph" / GRAPH_FILE).stat().st_mtime_ns == stamp  # nothing written
    nodes = doc["nodes"]
    assert [x["id"] for x in nodes["Track"]["created"]] == ["t15"]
    assert nodes["Track"]["created"][0]["properties"]["title"] == "Pavane for a Quiet Afternoon"
    assert [x["id"] for x in nodes["Track"]["deleted"]] == GONE_TRACKS
    assert nodes["Artist"]["changed"] == [{"id": "satie", "changes": {"name": {"old": "Erik Satie", "new": NEW_NAME}}}]
    assert [x["id"] for x in nodes["Artist"]["deleted"]] == ["debussy"]
    assert {"id": "mood:unhurried"} in [{"id": x["id"]} for x in nodes["Attribute"]["created"]]
    influenced = doc["relationships"]["INFLUENCED_BY"]["deleted"]
    assert {"src": "Artist:dvorak", "dst": "Artist:bach"} in influenced  # the removed relation
    assert {"src": "Artist:debussy", "dst": "Artist:satie"} in influenced  # went with its artist
    has = doc["relationships"]["HAS"]["deleted"]
    assert {"src": "Track:t01", "dst": "Attribute:instrument:organ"} in has  # the dropped attribute
    assert doc["counts"]["nodes"]["Track"] == {"created": 1, "changed": 0, "unchanged": 11, "deleted": 3}
    # without --prune nothing is deleted, the rest is the same
    plain = json.loads(invoke("graph", "diff", edited, "--home", home, "--format", "json", "--no-progress").stdout)
    assert all(c["deleted"] == 0 for part in plain["counts"].values() for c in part.values())
    assert plain["nodes"]["Artist"]["changed"] == nodes["Artist"]["changed"]
    text = invoke("graph", "diff", edited, "--home", home, "--prune", "--no-progress")
    assert text.exit_code == 0
    assert f"~ (Artist satie) name: 'Erik Satie' → '{NEW_NAME}'" in text.stdout
    assert "- (Track t05)" in text.stdout and "+ (Track t15)" in text.stdout


def test_load_prune_mirrors_the_catalog_and_reports_true_changes(tmp_path):
    home, edited = _edited_home(tmp_path)
    diff = json.loads(invoke("graph", "diff", edited, "--home", home, "--prune", "--format", "json",
                             "--no-progress").stdout)
    res = invoke("graph", "load", edited, "--home", home, "--prune", "--format", "json", "--no-progress")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)["report"]
    assert report["pruned"] is True
    assert {"nodes": report["nodes"], "relationships": report["relationships"]} == diff["counts"]
    assert export_diff(_fresh_export(edited), EmbeddedGraphStore(home / "graph").export()) == []
    stats = json.loads(invoke("graph", "stats", "--home", home, "--format", "json").stdout)
    assert stats["nodes"]["Track"] == 12 and stats["nodes"]["Artist"] == 5
    # idempotent: a second pruning load creates, changes and deletes nothing
    again = json.loads(invoke("graph", "load", edited, "--home", home, "--prune", "--format", "json",
                              "--no-progress").stdout)["report"]
    for part in ("nodes", "relationships"):
        assert all(c["created"] == c["changed"] == c["deleted"] == 0 for c in again[part].values()), again
    assert sum(c["unchanged"] for c in again["nodes"].values()) == sum(stats["nodes"].values())


def test_prune_keeps_edges_of_other_sources_unless_asked(tmp_path):
    home = _loaded_home(tmp_path)
    store = EmbeddedGraphStore(home / "graph")
    derived = {"src": "bach", "dst": "dvorak", "weight": 0.2, "source": "derived", "role": None}
    store.upsert(GraphRows(edges={("Artist", "SIMILAR_TO", "Artist"): [derived]}), progress=False)
    res = json.loads(invoke("graph", "load", EXAMPLE, "--home", home, "--prune", "--format", "json",
                            "--no-progress").stdout)
    assert res["report"]["relationships"]["SIMILAR_TO"]["deleted"] == 0
    edges = EmbeddedGraphStore(home / "graph").export().edges[("Artist", "SIMILAR_TO", "Artist")]
    assert ("bach", "dvorak") in set(zip(edges["src"], edges["dst"]))
    text = invoke("graph", "diff", EXAMPLE, "--home", home, "--prune", "--no-progress").stdout
    assert "--prune-source derived" in text
    res = json.loads(invoke("graph", "load", EXAMPLE, "--home", home, "--prune", "--prune-source", "derived",
                            "--format", "json", "--no-progress").stdout)
    assert res["report"]["relationships"]["SIMILAR_TO"]["deleted"] == 1
    assert export_diff(_fresh_export(EXAMPLE), EmbeddedGraphStore(home / "graph").export()) == []
    assert invoke("graph", "load", EXAMPLE, "--home", home, "--prune-source", "x").exit_code == 2


def test_a_changed_value_of_the_same_meaning_is_unchanged(tmp_path):
    """`changed` compares normalised values: 1890 and 1890.0, [] and None are equal."""
    store = EmbeddedGraphStore(tmp_path / "g")
    rows = rows_of(EXAMPLE)
    store.upsert(rows, progress=False)
    same = GraphRows(nodes={"Album": [dict(r, year=float(r["year"]) if r["year"] else None) for r in rows.nodes["Album"]],
                            "Artist": [dict(r, aliases=r["aliases"] or None) for r in rows.nodes["Artist"]]})
    report = store.upsert(same, progress=False)
    assert report.nodes_changed == {"Artist": 0, "Album": 0, "Track": 0, "Attribute": 0}
    assert report.nodes_unchanged["Album"] == len(rows.nodes["Album"])
    assert not store.diff(rows)
    assert store.diff(rows, prune=Prune()).counts()["nodes"]["Track"]["deleted"] == 0


def test_graph_delete_is_idempotent_and_takes_relationships(tmp_path):
    home = _loaded_home(tmp_path)
    res = invoke("graph", "delete", "--track", "t05", "--artist", "mara-lind", "--track", "nope", "--home", home,
                 "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["deleted"] == {"Track": ["t05"], "Artist": ["mara-lind"]}
    assert doc["not_found"] == {"Track": ["nope"]}
    assert doc["report"]["relationships"]["MEMBER_OF"]["deleted"] == 1
    store = EmbeddedGraphStore(home / "graph")
    assert store.get_node("Track", "t05") is None and store.get_node("Artist", "mara-lind") is None
    export = store.export()
    for key, frame in export.edges.items():
        assert "t05" not in set(frame["src"]) | set(frame["dst"]), key
    again = invoke("graph", "delete", "--track", "t05", "--home", home, "--format", "json")
    assert again.exit_code == 1 and json.loads(again.stdout)["not_found"] == {"Track": ["t05"]}
    assert export_diff(export, EmbeddedGraphStore(home / "graph").export()) == []
    assert invoke("graph", "delete", "--home", home).exit_code == 2


def test_invalid_catalog_gives_no_diff_and_loads_nothing(defects_catalog, tmp_path):
    home = _loaded_home(tmp_path)
    before = EmbeddedGraphStore(home / "graph").export()
    res = invoke("graph", "diff", defects_catalog, "--home", home, "--prune", "--no-progress")
    assert res.exit_code == 1 and "no diff" in res.stdout
    res = invoke("graph", "load", defects_catalog, "--home", home, "--prune", "--no-progress")
    assert res.exit_code == 1 and "nothing written" in res.stdout
    res = invoke("graph", "load", defects_catalog, "--home", home, "--prune", "--skip-invalid", "--no-progress")
    assert res.exit_code == 2 and "needs a valid catalog" in res.output
    assert export_diff(before, EmbeddedGraphStore(home / "graph").export()) == []
