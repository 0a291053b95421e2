"""The embedded store: upsert semantics, persistence, look-ups, traversals, export."""
from __future__ import annotations

import os
import pickle

import networkx as nx
import pytest

from kgjemb.catalog import catalog_to_rows, validate_catalog
from kgjemb.catalog.schema import EDGE_PROPERTIES, NODE_LABELS, NODE_PROPERTIES, REL_TYPES
from kgjemb.errors import StoreError, UnknownEntityError
from kgjemb.graph.base import GraphRows, GraphStore
from kgjemb.graph.embedded import GRAPH_FILE, EmbeddedGraphStore
from kgjemb.graph.frames import export_diff


def _rows(catalog_dir):
    catalog, report = validate_catalog(catalog_dir)
    assert report.valid
    return catalog_to_rows(catalog)


def test_implements_the_protocol(embedded_store):
    assert isinstance(embedded_store, GraphStore)


def test_upsert_counts_and_idempotence(embedded_store, fixture_catalog):
    rows = _rows(fixture_catalog)
    first = embedded_store.upsert(rows, progress=False)
    for label in NODE_LABELS:
        assert first.nodes_created[label] == len(rows.nodes[label]) and first.nodes_changed[label] == 0
    assert first.rels_created["BY"] == len(rows.edges[("Track", "BY", "Artist")]) + len(rows.edges[("Album", "BY", "Artist")])
    export1 = embedded_store.export()
    second = embedded_store.upsert(rows, progress=False)
    assert sum(second.nodes_created.values()) == 0 and sum(second.rels_created.values()) == 0
    # "changed" means a property really changed: a second identical load changes nothing
    assert sum(second.nodes_changed.values()) == 0 and sum(second.rels_changed.values()) == 0
    assert sum(second.nodes_unchanged.values()) == sum(len(v) for v in rows.nodes.values())
    assert export_diff(export1, embedded_store.export()) == []
    stats = embedded_store.stats().to_dict()
    assert stats["nodes"] == {lb: len(rows.nodes[lb]) for lb in NODE_LABELS}
    assert sum(stats["relationships"].values()) == sum(len(v) for v in rows.edges.values())


def test_updated_catalog_updates_properties_and_adds(embedded_store, fixture_catalog):
    rows = _rows(fixture_catalog)
    embedded_store.upsert(rows, progress=False)
    changed = GraphRows(
        nodes={"Artist": [{"id": "satie", "name": "Erik Satie", "aliases": ["Satie"], "born": 1866, "died": 1925,
                           "country": "France"},
                          {"id": "new", "name": "New Artist", "aliases": [], "born": None, "died": None, "country": None}]},
        edges={("Artist", "SIMILAR_TO", "Artist"): [{"src": "new", "dst": "satie", "weight": 0.4, "source": "x", "role": None},
                                                    {"src": "satie", "dst": "debussy", "weight": 0.1, "source": "y", "role": None}]},
    )
    report = embedded_store.upsert(changed, progress=False)
    assert report.nodes_created["Artist"] == 1 and report.nodes_changed["Artist"] == 1
    assert report.rels_created["SIMILAR_TO"] == 1 and report.rels_changed["SIMILAR_TO"] == 1
    changes = report.diff.nodes["Artist"].changed["satie"]
    assert changes[0][4] == "FR" and changes[1][4] == "France"
    assert embedded_store.get_node("Artist", "satie")["country"] == "France"
    edges = embedded_store.export().edges[("Artist", "SIMILAR_TO", "Artist")]
    assert edges.set_index(["src", "dst"]).loc[("satie", "debussy"), "weight"] == 0.1
    assert embedded_store.stats().nodes["Track"] == len(rows.nodes["Track"])  # untouched


def test_dangling_edges_are_left_out(embedded_store):
    rows = GraphRows(nodes={"Artist": [{"id": "a", "name": "A", "aliases": [], "born": None, "died": None, "country": None}]},
                     edges={("Artist", "SIMILAR_TO", "Artist"): [{"src": "a", "dst": "ghost", "weight": 1.0, "source": "s", "role": None}]})
    report = embedded_store.upsert(rows, progress=False)
    assert report.rels_created["SIMILAR_TO"] == 0 and embedded_store.stats().relationships["SIMILAR_TO"] == 0


def test_persistence_and_atomic_write(loaded_embedded_store, tmp_path):
    path = loaded_embedded_store.path
    assert sorted(p.name for p in path.iterdir()) == [".lock", GRAPH_FILE]  # no temp file left
    reopened = EmbeddedGraphStore(path)
    assert export_diff(loaded_embedded_store.export(), reopened.export()) == []
    # the leftover of a killed writer (pid that no longer exists) is cleaned up on open
    leftover = path / f".{GRAPH_FILE}.tmp-999999999-1-0123abcd.pkl"  # kgjemb.atomic names temps so
    leftover.write_bytes(b"partial")
    EmbeddedGraphStore(path)
    assert not leftover.exists()
    (path / GRAPH_FILE).write_bytes(pickle.dumps({"format": 999}))
    with pytest.raises(StoreError, match="not an embedded graph"):
        EmbeddedGraphStore(path)


def test_two_writers_do_not_lose_rows(tmp_path):
    a, b = EmbeddedGraphStore(tmp_path / "g"), EmbeddedGraphStore(tmp_path / "g")

    def artist(i):
        return {"id": i, "name": i.upper(), "aliases": [], "born": None, "died": None, "country": None}

    a.upsert(GraphRows(nodes={"Artist": [artist("x")]}), progress=False)
    b.upsert(GraphRows(nodes={"Artist": [artist("y")]}), progress=False)  # b re-reads a's write first
    assert EmbeddedGraphStore(tmp_path / "g").stats().nodes["Artist"] == 2


def test_clear(loaded_embedded_store):
    loaded_embedded_store.clear()
    assert sum(loaded_embedded_store.stats().nodes.values()) == 0
    assert sum(EmbeddedGraphStore(loaded_embedded_store.path).stats().relationships.values()) == 0


def test_lookup_exact_alias_fuzzy(loaded_embedded_store):
    s = loaded_embedded_store
    m = s.lookup("antonin dvorak")
    assert m[0].id == "dvorak" and m[0].how == "exact" and m[0].name == "Antonín Dvořák"
    m = s.lookup("J.S. Bach")
    assert (m[0].id, m[0].how, m[0].matched) == ("bach", "alias", "J.S. Bach")
    m = s.lookup("Gymnopedie No 1", labels=["Track"])
    assert {x.id for x in m[:2]} == {"t07", "t12"} and all(x.label == "Track" for x in m)
    m = s.lookup("Debusy", labels=["Artist"], cutoff=80)
    assert m and m[0].id == "debussy" and m[0].how == "fuzzy" and m[0].score >= 80
    assert s.lookup("Debusy", fuzzy=False) == []
    scores = [x.score for x in s.lookup("Largo", limit=10) if x.how == "fuzzy"]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(ValueError, match="choose from"):
        s.lookup("x", labels=["Song"])


def test_injection_like_name_is_stored_verbatim(embedded_store):
    name = "x'}) DETACH DELETE n //"
    rows = GraphRows(nodes={"Artist": [{"id": "evil", "name": name, "aliases": ["`; MATCH (n) DELETE n"],
                                        "born": None, "died": None, "country": None}]})
    embedded_store.upsert(rows, progress=False)
    again = EmbeddedGraphStore(embedded_store.path)
    assert again.get_node("Artist", "evil")["name"] == name
    assert [(m.id, m.how) for m in again.lookup(name)] == [("evil", "exact")]
    assert again.lookup("`; MATCH (n) DELETE n")[0].how == "alias"


def _reference_neighbours(export, label, node_id, types, hops, direction):
    """Shortest distances by networkx on a plain DiGraph built from the export."""
    g = nx.DiGraph()
    for (sl, rtype, dl), frame in export.edges.items():
        if rtype not in types:
            continue
        for s, d in zip(frame["src"], frame["dst"]):
            if direction in ("out", "both"):
                g.add_edge((sl, s), (dl, d))
            if direction in ("in", "both"):
                g.add_edge((dl, d), (sl, s))
    start = (label, node_id)
    if start not in g:
        return []
    dist = nx.single_source_shortest_path_length(g, start, cutoff=hops)
    return sorted((d, lb, i) for (lb, i), d in dist.items() if (lb, i) != start)


def test_neighbours_match_networkx_reference(loaded_embedded_store):
    s = loaded_embedded_store
    export = s.export()
    starts = [("Track", "t11"), ("Artist", "bach"), ("Attribute", "mood:melancholic"), ("Album", "chorales")]
    for types in (None, ["BY"], ["VERSION_OF", "BY"], ["HAS"], ["SIMILAR_TO", "MEMBER_OF"]):
        all_types = {t for _, t, _ in REL_TYPES} if types is None else set(types)
        for direction in ("out", "in", "both"):
            for label, node_id in starts:
                for hops in (1, 2, 3):
                    got = [(n.hops, n.label, n.id)
                           for n in s.neighbours(label, node_id, rel_types=types, hops=hops, direction=direction)]
                    want = _reference_neighbours(export, label, node_id, all_types, hops, direction)
                    assert got == want, (types, direction, label, node_id, hops)


def test_neighbours_errors(loaded_embedded_store):
    s = loaded_embedded_store
    assert [(n.label, n.id) for n in s.neighbours("Track", "t11", rel_types=["VERSION_OF"], direction="out")] == [("Track", "t01")]
    with pytest.raises(UnknownEntityError):
        s.neighbours("Track", "nope")
    with pytest.raises(ValueError, match="choose from"):
        s.neighbours("Track", "t11", rel_types=["LIKES"])
    with pytest.raises(ValueError, match="hops"):
        s.neighbours("Track", "t11", hops=0)


def test_export_shape_types_and_hetero_data(loaded_embedded_store):
    export = loaded_embedded_store.export()
    assert set(export.nodes) == set(NODE_LABELS) and set(export.edges) == set(REL_TYPES)
    for label, frame in export.nodes.items():
        assert list(frame.columns) == ["id", *NODE_PROPERTIES[label]]
        assert list(frame["id"]) == sorted(frame["id"])
    for key, frame in export.edges.items():
        assert list(frame.columns) == ["src", "dst", *EDGE_PROPERTIES]
        assert list(zip(frame["src"], frame["dst"])) == sorted(zip(frame["src"], frame["dst"]))
        assert all(isinstance(w, float) for w in frame["weight"])
    artists = export.nodes["Artist"].set_index("id")
    assert type(artists.loc["bach", "born"]) is int and artists.loc["mara-lind", "died"] is None
    assert artists.loc["bach", "aliases"] == ["J.S. Bach", "Bach"]
    data = export.to_hetero_data()
    assert data["Track"].num_nodes == len(export.nodes["Track"])
    ei = data[("Track", "HAS", "Attribute")].edge_index
    assert ei.shape == (2, len(export.edges[("Track", "HAS", "Attribute")]))
    assert int(ei[1].max()) < data["Attribute"].num_nodes


def test_from_export_round_trip(loaded_embedded_store):
    export = loaded_embedded_store.export()
    mem = EmbeddedGraphStore.from_export(export)
    assert mem.path is None
    assert export_diff(export, mem.export()) == []
    assert mem.lookup("Clair de lune")[0].id == "t09"
    assert mem.neighbours("Album", "arrangements", direction="in", rel_types=["ON"]) == \
        loaded_embedded_store.neighbours("Album", "arrangements", direction="in", rel_types=["ON"])
    assert not os.listdir(loaded_embedded_store.path.parent) == []  # the persisted store is untouched


def test_networkx_view_matches_the_tables(loaded_embedded_store):
    g = loaded_embedded_store.graph
    assert isinstance(g, nx.MultiDiGraph)
    stats = loaded_embedded_store.stats()
    assert g.number_of_nodes() == sum(stats.nodes.values())
    assert g.number_of_edges() == sum(stats.relationships.values())
    assert g.has_edge(("Track", "t11"), ("Track", "t01"), key="VERSION_OF")
    assert g.has_edge(("Track", "t11"), ("Artist", "mara-lind"), key="BY")


def _reference_lookup(export, query, labels, limit, cutoff):
    """Every node scored one by one (the slow, obvious way)."""
    from rapidfuzz import fuzz

    from kgjemb.graph.names import NAME_PROPERTY, normalise_name

    q = normalise_name(query)
    exact, alias, fuzzy = [], [], []
    for label in labels:
        frame = export.nodes[label]
        for row in frame.to_dict("records"):
            name = row[NAME_PROPERTY[label]]
            aliases = row.get("aliases") or []
            if normalise_name(name) == q:
                exact.append((label, row["id"], "exact"))
            elif any(normalise_name(a) == q for a in aliases):
                alias.append((label, row["id"], "alias"))
            else:
                best = max(fuzz.WRatio(q, normalise_name(x)) for x in [name, *aliases])
                if best >= cutoff:
                    fuzzy.append((-best, label, row["id"]))
    ranked = sorted(exact) + sorted(alias) + [(lb, i, "fuzzy") for _, lb, i in sorted(fuzzy)]
    return ranked[:limit]


def test_lookup_matches_bruteforce_reference(loaded_embedded_store):
    export = loaded_embedded_store.export()
    queries = ["bach", "Gymnopedie", "largo string quartet", "satie", "clair de lune", "Lind", "melancholic",
               "string quartet", "Dvorak humoresque", "Jesu meine Freude", "debussy reverie", "piano"]
    kinds = set()
    for labels in (("Artist", "Album", "Track", "Attribute"), ("Track",), ("Artist", "Attribute")):
        for cutoff in (60.0, 80.0, 95.0):
            for q in queries:
                got = [(m.label, m.id, m.how) for m in loaded_embedded_store.lookup(q, labels=labels, limit=8, cutoff=cutoff)]
                assert got == _reference_lookup(export, q, labels, 8, cutoff), (q, labels, cutoff)
                kinds.update(how for _, _, how in got)
    assert kinds == {"exact", "alias", "fuzzy"}  # the queries exercise every kind of match


def test_catalog_export_loads_a_valid_catalog_in_memory_and_refuses_a_bad_one(tmp_path):
    from pathlib import Path

    from kgjemb.errors import KgjembError
    from kgjemb.graph.open import catalog_export

    fixtures = Path(__file__).resolve().parents[1] / "graph" / "fixtures"
    catalog, report = validate_catalog(fixtures / "example")
    assert report.valid
    export = catalog_export(fixtures / "example")
    assert sorted(export.nodes["Track"]["id"]) == sorted(catalog.tables["tracks"]["id"])
    with pytest.raises(KgjembError, match=r"does not validate \(\d+ problems\)"):
        catalog_export(fixtures / "defects")
