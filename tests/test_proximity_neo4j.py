"""Graph proximity computed in Neo4j equals the embedded computation (fixture catalog)."""
from __future__ import annotations

from pathlib import Path

import pytest

from kgjemb.catalog.rows import catalog_to_rows
from kgjemb.catalog.validate import validate_catalog
from kgjemb.graph.embedded import EmbeddedGraphStore
from kgjemb.graph.neo4j_proximity import walk_in_database
from kgjemb.graph.proximity import RelWeights, TypedGraph, WalkConfig

EXAMPLE = Path(__file__).resolve().parents[1] / "graph" / "fixtures" / "example"

pytestmark = pytest.mark.neo4j


@pytest.mark.parametrize("weights, config", [
    (RelWeights(), WalkConfig()),
    (RelWeights(version_of=1.0, influenced_by=2.0, on=0.0), WalkConfig(restart=0.5, steps=3)),
    (RelWeights(type_degree_power=0.5), WalkConfig()),
])
def test_walk_in_database_equals_embedded(neo4j_store, weights, config):
    catalog, report = validate_catalog(EXAMPLE)
    assert report.valid
    rows = catalog_to_rows(catalog)
    neo4j_store.upsert(rows, progress=False)
    embedded = EmbeddedGraphStore(None)
    embedded.upsert(rows, progress=False)
    graph = TypedGraph.from_export(embedded.export(), weights)
    tracks = [k for k in graph.keys if k.startswith("Track:")]
    artists = [k for k in graph.keys if k.startswith("Artist:")]
    for seeds in ({tracks[0]: 1.0}, {artists[0]: 1.0}, {tracks[1]: 2.0, artists[-1]: 1.0}):
        want = graph.walk(seeds, config)
        got = walk_in_database(neo4j_store, seeds, weights=weights, config=config)
        assert got, seeds
        expected = {graph.keys[i]: m for i, m in zip(want.nodes, want.mass) if m > 0}
        assert set(got) == set(expected), seeds
        for key, mass in expected.items():
            assert got[key] == pytest.approx(mass, rel=1e-9, abs=1e-15), (seeds, key)
    assert walk_in_database(neo4j_store, {"Track:no-such-track": 1.0}) == {}
