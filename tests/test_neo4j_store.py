"""Neo4jGraphStore against a real Neo4j 5: schema, idempotency, updates, hostile strings,
errors."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from kgjemb.catalog.rows import catalog_to_rows
from kgjemb.catalog.schema import NODE_LABELS, REL_TYPES
from kgjemb.catalog.validate import validate_catalog
from kgjemb.errors import StoreError
from kgjemb.graph.base import GraphRows, GraphStore
from kgjemb.graph.embedded import EmbeddedGraphStore
from kgjemb.graph.frames import export_diff
from kgjemb.graph.neo4j_store import Neo4jGraphStore, schema_statements
from kgjemb.graph.open import open_store

pytestmark = pytest.mark.neo4j

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "graph" / "fixtures" / "example"


@pytest.fixture(scope="module")
def example_rows() -> GraphRows:
    catalog, report = validate_catalog(EXAMPLE, check_audio_files=False)
    assert report.valid
    return catalog_to_rows(catalog)


def test_curator_schema_copy_equals_packaged_file():
    packaged = (ROOT / "kgjemb" / "graph" / "cypher" / "schema.cypher").read_text(encoding="utf-8")
    assert (ROOT / "graph" / "schema.cypher").read_text(encoding="utf-8") == packaged
    assert len(schema_statements()) >= len(NODE_LABELS)


def test_open_creates_constraints_idempotently(neo4j_uri, neo4j_store):
    import neo4j

    assert isinstance(neo4j_store, GraphStore)
    Neo4jGraphStore(neo4j_uri).close()  # a second open re-runs the schema: IF NOT EXISTS
    with neo4j.GraphDatabase.driver(neo4j_uri, auth=None) as driver:
        records, _, _ = driver.execute_query("SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties")
    unique = {(r["labelsOrTypes"][0], tuple(r["properties"])) for r in records if r["type"] == "UNIQUENESS"}
    assert unique >= {(lb, ("id",)) for lb in NODE_LABELS}


def test_open_store_picks_neo4j_for_a_uri(neo4j_uri):
    store = open_store(neo4j_uri)
    try:
        assert isinstance(store, Neo4jGraphStore)
        assert set(store.stats().nodes) == set(NODE_LABELS)
    finally:
        store.close()


def test_unreachable_server_is_a_store_error_naming_the_uri():
    from tests.fixtures_neo4j import free_port

    uri = f"bolt://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError, match=uri.replace(".", r"\.")):
        Neo4jGraphStore(uri, connection_timeout=2.0)


def test_load_twice_is_idempotent(neo4j_store, example_rows):
    first = neo4j_store.upsert(example_rows, batch_size=50, progress=False)
    export1 = neo4j_store.export()
    second = neo4j_store.upsert(example_rows, batch_size=50, progress=False)
    assert export_diff(neo4j_store.export(), export1) == []
    assert sum(second.nodes_created.values()) == 0 and sum(second.rels_created.values()) == 0
    assert second.nodes_unchanged == first.nodes_created and sum(second.nodes_changed.values()) == 0
    assert second.rels_unchanged == first.rels_created and sum(second.rels_changed.values()) == 0
    assert sum(first.nodes_created.values()) == sum(len(v) for v in example_rows.nodes.values())


def test_update_changes_properties_adds_rows_and_loses_nothing(neo4j_store, example_rows):
    neo4j_store.upsert(example_rows, progress=False)
    before = neo4j_store.export()
    changed = copy.deepcopy(example_rows)
    artist = changed.nodes["Artist"][0]
    old_name = artist["name"]
    assert neo4j_store.lookup(old_name, fuzzy=False)[0].id == artist["id"]  # builds the cached name index
    artist["name"] = artist["name"] + " (remastered)"
    artist["country"] = None  # an unset property is removed, as in the embedded store
    track = changed.nodes["Track"][0]
    changed.nodes["Track"].append({**track, "id": "t-new-1", "title": "A new tune"})
    changed.edges[("Track", "BY", "Artist")].append(
        {"src": "t-new-1", "dst": artist["id"], "weight": 0.5, "source": "update-test", "role": "arranger"})
    changed.edges[("Track", "VERSION_OF", "Track")].append(
        {"src": "t-new-1", "dst": track["id"], "weight": None, "source": "update-test", "role": None})
    report = neo4j_store.upsert(changed, batch_size=7, progress=False)
    assert report.nodes_created == {"Artist": 0, "Album": 0, "Track": 1, "Attribute": 0}
    assert report.rels_created["BY"] == 1 and report.rels_created["VERSION_OF"] == 1
    assert report.nodes_changed == {"Artist": 1, "Album": 0, "Track": 0, "Attribute": 0}
    node = neo4j_store.get_node("Artist", artist["id"])
    assert node["name"].endswith(" (remastered)") and node["country"] is None
    assert neo4j_store.get_node("Track", "t-new-1")["title"] == "A new tune"
    # the cached name index was dropped by the upsert: new names are found, old ones are gone
    assert [m.id for m in neo4j_store.lookup("A new tune", fuzzy=False)] == ["t-new-1"]
    assert all(m.id != artist["id"] for m in neo4j_store.lookup(old_name, fuzzy=False))
    after = neo4j_store.export()
    for label in NODE_LABELS:
        assert set(before.nodes[label]["id"]) <= set(after.nodes[label]["id"])
    for key in REL_TYPES:
        pairs_before = set(zip(before.edges[key]["src"], before.edges[key]["dst"]))
        assert pairs_before <= set(zip(after.edges[key]["src"], after.edges[key]["dst"]))
    embedded = EmbeddedGraphStore(None)
    embedded.upsert(example_rows, progress=False)
    embedded.upsert(changed, progress=False)
    assert export_diff(embedded.export(), after) == []


HOSTILE = [
    "x'}) DETACH DELETE n //",
    'x"}) MATCH (m) DETACH DELETE m RETURN 1 //',
    "`Artist`) DETACH DELETE n //",
    "{id: 'evil'}",
    "$rows",
    "Dvořák — «Humoreske» ♪ 日本の歌 🎻",
    "back\\slash\nnew line\ttab",
]


def _hostile_rows() -> GraphRows:
    artists = [{"id": s, "name": s, "aliases": [s, f"alias {s}"], "born": None, "died": None, "country": "}"}
               for s in HOSTILE]
    tracks = [{"id": f"t:{s}", "title": s, "duration_s": 1.5, "year": 2000, "audio_path": f"audio/{s}.wav"}
              for s in HOSTILE]
    by = [{"src": f"t:{s}", "dst": s, "weight": 1.0, "source": s, "role": "primary"} for s in HOSTILE]
    return GraphRows(nodes={"Artist": artists, "Track": tracks}, edges={("Track", "BY", "Artist"): by})


def test_hostile_strings_are_stored_verbatim_in_both_stores(neo4j_store, example_rows):
    neo4j_store.upsert(example_rows, progress=False)
    embedded = EmbeddedGraphStore(None)
    embedded.upsert(example_rows, progress=False)
    base = neo4j_store.stats()
    hostile = _hostile_rows()
    for store in (neo4j_store, embedded):
        store.upsert(hostile, progress=False)
        for s in HOSTILE:
            node = store.get_node("Artist", s)
            assert node is not None and node["name"] == s and node["aliases"] == [s, f"alias {s}"]
            assert store.get_node("Track", f"t:{s}")["title"] == s
            assert store.neighbours("Track", f"t:{s}", rel_types=["BY"], direction="out")[0].id == s
            assert any(m.id == s and m.how == "exact" for m in store.lookup(s, labels=["Artist"]))
    stats = neo4j_store.stats()
    assert stats.nodes["Artist"] == base.nodes["Artist"] + len(HOSTILE)
    assert stats.nodes["Track"] == base.nodes["Track"] + len(HOSTILE)
    assert stats.relationships["BY"] == base.relationships["BY"] + len(HOSTILE)
    assert stats == embedded.stats()
    assert export_diff(embedded.export(), neo4j_store.export()) == []


def test_bad_rows_are_refused_before_writing(neo4j_store):
    with pytest.raises(ValueError, match="choose from"):
        neo4j_store.upsert(GraphRows(nodes={"Playlist": [{"id": "p"}]}), progress=False)
    good_artist = {"id": "a", "name": "A", "aliases": [], "born": None, "died": None, "country": None}
    with pytest.raises(ValueError, match="lacks"):  # the good Artist batch comes first: not written either
        neo4j_store.upsert(GraphRows(nodes={"Artist": [good_artist], "Album": [{"id": "al", "title": "x"}]}),
                           progress=False)
    with pytest.raises(ValueError, match="lacks"):
        neo4j_store.upsert(GraphRows(nodes={"Artist": [good_artist]},
                                     edges={("Artist", "SIMILAR_TO", "Artist"): [{"src": "a", "dst": "a"}]}),
                           progress=False)
    assert sum(neo4j_store.stats().nodes.values()) == 0


def test_dangling_relationships_are_left_out_and_clear_empties(neo4j_store, example_rows):
    rows = copy.deepcopy(example_rows)
    rows.edges[("Track", "ON", "Album")].append(
        {"src": "no-such-track", "dst": rows.nodes["Album"][0]["id"], "weight": 1.0, "source": None, "role": None})
    report = neo4j_store.upsert(rows, progress=False)
    embedded = EmbeddedGraphStore(None)
    assert report.rels_created == embedded.upsert(rows, progress=False).rels_created
    assert neo4j_store.stats() == embedded.stats()
    neo4j_store.clear(batch_size=10)
    stats = neo4j_store.stats()
    assert sum(stats.nodes.values()) == 0 and sum(stats.relationships.values()) == 0
    assert neo4j_store.lookup("bach") == []
