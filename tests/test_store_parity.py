"""One catalog loaded into the embedded store and into a real Neo4j 5 must answer every
GraphStore call identically: stats, get_node, look-ups, neighbourhoods and exports."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from kgjemb.catalog.rows import catalog_to_rows
from kgjemb.catalog.schema import NODE_LABELS, NODE_PROPERTIES
from kgjemb.catalog.validate import validate_catalog
from kgjemb.graph.embedded import EmbeddedGraphStore
from kgjemb.graph.frames import export_diff
from kgjemb.graph.names import NAME_PROPERTY

pytestmark = pytest.mark.neo4j

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "graph" / "fixtures" / "example"

REL_FILTERS = [None, ["BY"], ["HAS", "SIMILAR_TO"], ["ON", "VERSION_OF"], ["MEMBER_OF", "INFLUENCED_BY", "BY"]]


def _bigger_catalog(request, tmp_path_factory) -> Path:
    """The demo area's CI catalog when it provides one, else a small synthetic catalog."""
    try:
        return Path(request.getfixturevalue("ci_catalog"))
    except pytest.FixtureLookupError:
        from kgjemb.catalog.synthetic import write_synthetic_catalog

        root = tmp_path_factory.mktemp("parity-synth")
        write_synthetic_catalog(root, tracks=400)
        return root


@pytest.fixture(scope="module", params=["example", "bigger"])
def loaded_pair(request, neo4j_uri, tmp_path_factory):
    """Both stores loaded with one catalog, once per catalog (the tests only read)."""
    from kgjemb.graph.neo4j_store import Neo4jGraphStore

    catalog_dir = EXAMPLE if request.param == "example" else _bigger_catalog(request, tmp_path_factory)
    catalog, report = validate_catalog(catalog_dir, check_audio_files=False)
    assert report.valid, report.errors[:5]
    rows = catalog_to_rows(catalog)
    embedded = EmbeddedGraphStore(None)
    r_emb = embedded.upsert(rows, progress=False)
    neo = Neo4jGraphStore(neo4j_uri)
    neo.clear()
    r_neo = neo.upsert(rows, batch_size=97, progress=False)  # odd size: many partial batches
    yield embedded, neo, r_emb, r_neo, rows
    neo.close()


def _sample_nodes(export, per_label: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for label in NODE_LABELS:
        ids = list(export.nodes[label]["id"])
        out += [(label, i) for i in rng.sample(ids, min(per_label, len(ids)))]
    return out


def test_load_reports_stats_and_exports_match(loaded_pair):
    embedded, neo, r_emb, r_neo, rows = loaded_pair
    assert r_neo.diff == r_emb.diff
    for field in ("nodes_created", "nodes_changed", "rels_created", "rels_changed", "rels_unchanged"):
        assert getattr(r_neo, field) == getattr(r_emb, field), field
    assert sum(r_neo.nodes_created.values()) > 0
    assert neo.stats() == embedded.stats()
    assert sum(neo.stats().relationships.values()) > 0
    a, b = embedded.export(), neo.export()
    assert export_diff(a, b) == []
    for label in NODE_LABELS:
        assert a.nodes[label].equals(b.nodes[label]), label
    for key in a.edges:
        assert a.edges[key].equals(b.edges[key]), key


def test_get_node_matches(loaded_pair):
    embedded, neo, *_ = loaded_pair
    export = embedded.export()
    checked = 0
    for label, node_id in _sample_nodes(export, 8):
        node = neo.get_node(label, node_id)
        assert node == embedded.get_node(label, node_id)
        assert set(node) == {"id", *NODE_PROPERTIES[label]}
        checked += 1
    assert checked >= 4
    assert neo.get_node("Artist", "no-such-artist") is None
    with pytest.raises(ValueError, match="choose from"):
        neo.get_node("Playlist", "x")


def test_lookups_match(loaded_pair):
    embedded, neo, *_ = loaded_pair
    export = embedded.export()
    queries: list[str] = []
    for label, node_id in _sample_nodes(export, 6, seed=11):
        node = embedded.get_node(label, node_id)
        name = node[NAME_PROPERTY[label]]
        queries += [name, name.upper(), name[:-1] if len(name) > 4 else name + "x"]
        queries += list(node.get("aliases") or [])[:2]
    queries += ["bach", "Dvorak", "melancholic", "zzzz qqqq", ""]
    kinds = set()
    for q in queries:
        for kwargs in ({}, {"fuzzy": False}, {"labels": ["Artist"]}, {"labels": ["Track", "Album"], "limit": 3},
                       {"cutoff": 60.0, "limit": 20}):
            expected = embedded.lookup(q, **kwargs)
            assert neo.lookup(q, **kwargs) == expected, (q, kwargs)
            kinds.update(m.how for m in expected)
    assert {"exact", "fuzzy"} <= kinds


def test_neighbourhoods_match(loaded_pair):
    embedded, neo, *_ = loaded_pair
    export = embedded.export()
    nonempty = 0
    for label, node_id in _sample_nodes(export, 2, seed=3):  # 8 starts x 5 filters x 3 directions x 2 depths
        for rel_types in REL_FILTERS:
            for direction in ("out", "in", "both"):
                for hops in (1, 3):
                    expected = embedded.neighbours(label, node_id, rel_types=rel_types, hops=hops, direction=direction)
                    got = neo.neighbours(label, node_id, rel_types=rel_types, hops=hops, direction=direction)
                    assert got == expected, (label, node_id, rel_types, direction, hops)
                    nonempty += bool(expected)
    assert nonempty > 15
    with pytest.raises(KeyError):
        neo.neighbours("Artist", "no-such-artist")
    with pytest.raises(ValueError, match="choose from"):
        neo.neighbours("Artist", "x", rel_types=["LIKES"])
