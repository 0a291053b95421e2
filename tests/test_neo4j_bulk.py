"""The Neo4j bulk loader builds the same graph as the batched MERGE path: on the fixture
catalog and a synthetic one, as a first load (CREATE into an empty graph) and as a re-load
with changed and duplicated rows (parallel MERGE); and its report counts alike."""
from __future__ import annotations

import copy

import pytest

from kgjemb.catalog.rows import catalog_to_rows
from kgjemb.catalog.validate import validate_catalog
from kgjemb.graph.frames import export_diff
from kgjemb.graph.neo4j_bulk import BulkConfig, partition_by_source

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module", params=["fixture", "synthetic"])
def rows(request, fixture_catalog, tmp_path_factory):
    if request.param == "fixture":
        root = fixture_catalog
    else:
        from kgjemb.catalog.synthetic import write_synthetic_catalog

        root = tmp_path_factory.mktemp("bulk-synth")
        write_synthetic_catalog(root, tracks=3000)
    catalog, report = validate_catalog(root, check_audio_files=False)
    assert report.valid, report.errors[:5]
    return catalog_to_rows(catalog)


def changed(rows):
    """A re-load: some properties changed or nulled, some rows repeated (the last wins)."""
    out = copy.deepcopy(rows)
    tracks = out.nodes["Track"]
    for r in tracks[::5]:
        r["title"] = r["title"] + " (remastered)"
        r["year"] = None
    tracks.append(dict(tracks[0], title="duplicate, last wins"))
    for key, records in out.edges.items():
        for r in records[::4]:
            r["weight"] = 0.25
        if records:
            records.append(dict(records[0], source="duplicate"))
    return out


def test_bulk_first_load_and_reload_equal_the_batched_path(neo4j_store, rows):
    store = neo4j_store
    batched_first = store.upsert(rows, bulk=False, batch_size=500, progress=False)
    expected_first = store.export()
    again = changed(rows)
    batched_again = store.upsert(again, bulk=False, batch_size=500, progress=False)
    expected_again = store.export()

    store.clear()
    bulk_first = store.upsert(rows, bulk=True, batch_size=500, progress=False)  # CREATE path
    assert export_diff(expected_first, store.export()) == []
    assert bulk_first.nodes_created == batched_first.nodes_created
    assert bulk_first.rels_created == batched_first.rels_created
    bulk_again = store.upsert(again, bulk=True, batch_size=500, progress=False)  # parallel MERGE path
    assert export_diff(expected_again, store.export()) == []
    assert sum(bulk_again.nodes_created.values()) == 0 and sum(bulk_again.rels_created.values()) == 0
    # the store writes only what its diff says changed: same diff on both paths
    assert bulk_again.diff.counts() == batched_again.diff.counts()
    assert sum(bulk_again.rels_changed.values()) > 0


def test_bulk_leaves_out_dangling_relationships(neo4j_store, rows, caplog):
    broken = copy.deepcopy(rows)
    key = ("Track", "BY", "Artist")
    broken.edges[key] = broken.edges.get(key, []) + [{"src": "no-such-track", "dst": "no-such-artist", "weight": None,
                                                      "source": None, "role": None}]
    report = neo4j_store.upsert(broken, bulk=True, progress=False)
    by_keys = [k for k in rows.edges if k[1] == "BY"]  # Track-BY-Artist and Album-BY-Artist count as BY
    assert report.rels_created["BY"] == sum(len({(r["src"], r["dst"]) for r in rows.edges[k]}) for k in by_keys)
    assert "left out" in caplog.text


def test_partition_keeps_each_source_in_one_batch():
    rows = [{"src": f"s{i % 37}", "dst": f"d{i}"} for i in range(1000)]
    batches = partition_by_source(rows, 50)
    owner = {}
    for n, batch in enumerate(batches):
        for r in batch:
            assert owner.setdefault(r["src"], n) == n
    assert sum(map(len, batches)) == 1000 and len(batches) > 5
    with pytest.raises(ValueError, match="workers"):
        BulkConfig(workers=0)
