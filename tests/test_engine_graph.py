"""Graph-aware retrieval on the ci bundle: proximity from anchors, soft attribute facts,
relation queries, similar artists, explanations that carry the graph path."""
from __future__ import annotations

import numpy as np
import pytest

from kgjemb.graph.base import GraphExport
from kgjemb.query.config import EngineConfig, SignalWeights
from kgjemb.query.engine import Engine


def _credits(export) -> dict[str, set[str]]:
    by = export.edges[("Track", "BY", "Artist")]
    out: dict[str, set[str]] = {}
    for s, d in zip(by["src"], by["dst"]):
        out.setdefault(s, set()).add(d)
    return out


def test_like_a_track_ranks_its_version_first(engine):
    """Every indexed track with an indexed rendition: the rendition is the top hit of
    ``similar(track)``, credited by a VERSION_OF path."""
    ver = engine.bundle.export.edges[("Track", "VERSION_OF", "Track")]
    indexed = set(engine.track_ids)
    pairs = [(s, d) for s, d in zip(ver["src"], ver["dst"]) if s in indexed and d in indexed]
    assert len(pairs) >= 4, "ci catalog should have renditions"
    for s, d in pairs:
        top = engine.similar(f"Track:{d}", k=3).hits[0]
        assert top.track_id == s, (d, [h.track_id for h in engine.similar(f"Track:{d}", k=3).hits])
        assert "VERSION_OF" in " ".join(top.path) and "path:" in top.explanation
        assert top.signals[next(n for n in top.signals if n.startswith("graph:"))] > 0


def test_style_query_hits_are_the_artists_and_explained_by_path(engine):
    res = engine.search("in the style of Mozart", k=5)
    credits = _credits(engine.bundle.export)
    assert all("mozart" in credits[h.track_id] for h in res.hits)
    for h in res.hits:
        assert h.path and h.path[-1] == "Artist:mozart" and "path:" in h.explanation
        assert abs(sum(h.signals.values()) - h.score) < 1e-4


def test_relation_query_routes_to_the_graph(engine):
    """ci graph: Mozart and Chopin INFLUENCED_BY Bach. "music influenced by Bach" must
    return their tracks, not Bach's own."""
    res = engine.search("music influenced by Bach", k=3)
    rel = [e for e in res.parse.entities if e.relation]
    assert [(e.relation, e.id) for e in rel] == [("influenced_by", "bach")]
    assert any("Mozart" in w and "Chopin" in w for w in res.warnings), res.warnings
    credits = _credits(engine.bundle.export)
    assert res.hits and all(credits[h.track_id] & {"mozart", "chopin"} for h in res.hits)
    assert all("bach" not in credits[h.track_id] for h in res.hits)


def test_similar_artists_ranks_graph_linked_artists(engine):
    res = engine.similar_artists("Artist:bach", k=4)
    ids = [h.artist_id for h in res.hits]
    assert "bach" not in ids and set(ids[:2]) == {"mozart", "chopin"}
    assert "INFLUENCED_BY" in res.hits[0].explanation and res.hits[0].path[-1] == "Artist:bach"
    assert list(res.to_frame()["rank"]) == [1, 2, 3, 4]


def _mask_has(export: GraphExport, tracks: set[str]) -> GraphExport:
    edges = dict(export.edges)
    has = edges[("Track", "HAS", "Attribute")]
    edges[("Track", "HAS", "Attribute")] = has[~has["src"].isin(tracks)].reset_index(drop=True)
    return GraphExport(nodes=export.nodes, edges=edges)


def test_fact_signal_with_partial_metadata(engine, bundle_dir):
    """Half of the violin tracks lose all their attributes: they still rank through the
    text tower (no hard filter drops them), with the neutral 'unknown' fact score — below
    tracks known to have violin, above tracks known to have another instrument."""
    export = engine.bundle.export
    has = export.edges[("Track", "HAS", "Attribute")]
    indexed = set(engine.track_ids)
    violin = sorted(set(has[has["dst"] == "instrument:violin"]["src"]) & indexed)
    assert len(violin) >= 4
    hidden = set(violin[::2])
    masked = Engine.open(bundle_dir, model=engine.model, export=_mask_has(export, hidden),
                         config=EngineConfig(min_candidates=100_000))
    res = masked.search("violin", k=len(indexed))
    assert [(e.id, e.role) for e in res.parse.entities if e.label == "Attribute"] == [("instrument:violin", "like")]
    assert res.parse.filters == []
    got = {h.track_id: h for h in res.hits}
    assert hidden <= set(got)  # undescribed tracks are still ranked
    fact = "has:instrument:violin"
    known = [got[t].signals[fact] for t in violin if t not in hidden]
    unknown = [got[t].signals[fact] for t in hidden]
    other_instr = set(has[has["dst"].str.startswith("instrument:") & (has["dst"] != "instrument:violin")]["src"])
    others = [h.signals[fact] for t, h in got.items() if t in other_instr - set(violin)]
    assert min(known) > max(unknown) > max(others)
    assert all(u > 0 for u in unknown) and all(any(n.startswith("text:") for n in got[t].signals) for t in hidden)
    top = res.hits[0]
    assert "has: instrument:violin" in top.explanation and top.matched_attributes == ["instrument:violin"]
    # the sentence names the unknown share as such, not as a fact the track lacks
    assert all("instrument unknown (asked instrument:violin)" in got[t].explanation
               and "has instrument:violin" not in got[t].explanation for t in hidden)
    assert all("has instrument:violin " in got[t].explanation for t in violin if t not in hidden)
    # entity vectors are read through the bundle's id map: one map shared with the snapshot of
    # the bundle's own graph, a map of its own beside a masked graph
    assert engine.entity_row is engine.snapshot.entity_row and masked.entity_row is not masked.snapshot.entity_row
    assert masked.entity_row == engine.entity_row


def test_only_makes_an_attribute_a_hard_filter(engine):
    res = engine.search("a string quartet only on violin", k=10)
    assert [(f.kind, f.node_id) for f in res.parse.filters] == [("attribute", "instrument:violin")]
    has = engine.bundle.export.edges[("Track", "HAS", "Attribute")]
    violin = set(has[has["dst"] == "instrument:violin"]["src"])
    assert res.hits and all(h.track_id in violin for h in res.hits)


def test_graph_signals_switch_off(bundle_dir, engine):
    off = Engine.open(bundle_dir, model=engine.model, parser=engine.parser,
                      config=EngineConfig(weights=SignalWeights(graph=0.0, fact=0.0)))
    res = off.search("in the style of Mozart, on violin", k=5)
    names = {n for h in res.hits for n in h.signals}
    assert names and not any(n.startswith(("graph:", "has:", "not has:")) for n in names)
    on = engine.search("in the style of Mozart, on violin", k=5)
    assert any(n.startswith("graph:") for n in on.hits[0].signals)
    assert any(n.startswith("has:") for n in on.hits[0].signals)


@pytest.mark.parametrize("k", [1, 5])
def test_batch_with_graph_signals_matches_single(engine, k):
    qs = ["in the style of Mozart", "music influenced by Bach", "slow piece on violin, no vocals"]
    for a, b in zip(engine.search_batch(qs, k=k), [engine.search(q, k=k) for q in qs]):
        assert [h.track_id for h in a.hits] == [h.track_id for h in b.hits]
        np.testing.assert_allclose([h.score for h in a.hits], [h.score for h in b.hits], atol=1e-4)


def test_kept_walks_answer_as_fresh_ones(engine):
    """A query whose anchors were walked before (the graph keeps walks) gets the same hits,
    scores, paths and explanations as with every walk taken afresh."""
    qs = ["in the style of Mozart", "music influenced by Bach", "pieces like Bach but slow, not loud"]
    graph = engine.snapshot.graph
    graph.clear_walks()
    fresh = [engine.search(q, k=5).model_dump() for q in qs]
    assert graph._walks  # the anchors' walks are kept
    again = [engine.search(q, k=5).model_dump() for q in qs]
    assert again == fresh


def test_engine_warns_when_the_bundle_is_behind_its_store(bundle_dir, engine, ci_catalog):
    from kgjemb.catalog import catalog_to_rows, validate_catalog
    from kgjemb.graph.embedded import EmbeddedGraphStore

    catalog, report = validate_catalog(ci_catalog)
    store = EmbeddedGraphStore(None)
    store.upsert(catalog_to_rows(catalog), progress=False)
    fresh = Engine.open(bundle_dir, store=store, model=engine.model, parser=engine.parser)
    assert fresh.stale is None
    store.delete({"Track": [engine.track_ids[0]]})
    behind = Engine.open(bundle_dir, store=store, model=engine.model, parser=engine.parser)
    assert behind.stale and "index sync" in behind.stale
    assert behind.stale in behind.search("slow", k=1).warnings


def test_specific_attribute_outweighs_a_common_one(engine):
    """"slow violin": violin is rarer than slow in the ci catalog, so its fact weighs more,
    and the top hits are violin tracks (there are enough of them)."""
    snap = engine.snapshot
    spec = dict(zip(["instrument:violin", "tempo:slow"], snap.specificity(["instrument:violin", "tempo:slow"])))
    assert spec["instrument:violin"] == 1.0 and spec["tempo:slow"] < 1.0
    res = engine.search("slow violin", k=3)
    has = engine.bundle.export.edges[("Track", "HAS", "Attribute")]
    violin = set(has[has["dst"] == "instrument:violin"]["src"])
    assert all(h.track_id in violin for h in res.hits), [h.explanation for h in res.hits]


def test_serve_warns_at_start_when_the_bundle_is_behind(bundle_dir, engine, ci_catalog, tmp_path, caplog):
    import logging

    from kgjemb.catalog import catalog_to_rows, validate_catalog
    from kgjemb.cli.serve import _warn_if_stale
    from kgjemb.graph.embedded import EmbeddedGraphStore
    from kgjemb.paths import graph_dir

    catalog, _ = validate_catalog(ci_catalog)
    store = EmbeddedGraphStore(graph_dir(tmp_path))
    store.upsert(catalog_to_rows(catalog), progress=False)
    store.close()
    with caplog.at_level(logging.WARNING):
        _warn_if_stale(bundle_dir, uri=None, home=tmp_path)
    assert not [r for r in caplog.records if "behind its graph" in r.getMessage()]
    store = EmbeddedGraphStore(graph_dir(tmp_path))
    store.delete({"Track": [engine.track_ids[1]]})
    store.close()
    with caplog.at_level(logging.WARNING):
        _warn_if_stale(bundle_dir, uri=None, home=tmp_path)
    assert [r for r in caplog.records if "behind its graph" in r.getMessage()]


def test_other_versions_of_a_title(engine):
    """"other versions of <title>": the graph's VERSION_OF renditions of the linked track,
    the track itself left out."""
    export = engine.bundle.export
    ver = export.edges[("Track", "VERSION_OF", "Track")]
    titles = dict(zip(export.nodes["Track"]["id"], export.nodes["Track"]["title"]))
    indexed = set(engine.track_ids)
    src, dst = next((s, d) for s, d in zip(ver["src"], ver["dst"]) if s in indexed and d in indexed)
    res = engine.search(f"other versions of {titles[dst]}", k=3)
    rel = [e for e in res.parse.entities if e.relation == "versions"]
    assert rel and rel[0].label == "Track", res.parse.entities
    assert res.hits[0].track_id in {src, dst} - {rel[0].id}
    assert rel[0].id not in [h.track_id for h in res.hits]
    assert any("other versions of" in w for w in res.warnings)


def test_a_form_by_an_artist_is_the_form_filtered_to_the_artist(engine):
    """"mazurkas by Chopin" (the ci catalog has Chopin's album "Mazurkas, Op. 6"): the
    mazurka form with a "by Chopin" filter, not the one album whose title starts with the
    word; an exact title still names the work."""
    res = engine.search("mazurkas by Chopin", k=5)
    got = [(e.label, e.id, e.role) for e in res.parse.entities]
    assert got == [("Attribute", "form:mazurka", "like"), ("Artist", "chopin", "by")], got
    credits = _credits(engine.bundle.export)
    assert res.hits and all("chopin" in credits[h.track_id] for h in res.hits)
    work = engine.parse("Mazurkas, Op. 6 by Chopin")
    assert [(e.label, e.id) for e in work.entities] == [("Album", "chopin-mazurkas-op-6")]
    # after a similarity cue the same words are the form, with the artist as the anchor
    like = engine.parse("songs like mazurkas by Chopin")
    assert [(e.label, e.id, e.role) for e in like.entities] == [("Attribute", "form:mazurka", "like"),
                                                                 ("Artist", "chopin", "like")]
