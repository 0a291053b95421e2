"""The query engine end to end on the ci catalog: real model, real FAISS bundle, real parser."""
from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from dataclasses import replace

import numpy as np
import pytest

from kgjemb.errors import BundleError, QueryError, UnknownEntityError
from kgjemb.query.config import EngineConfig, SignalWeights
from kgjemb.query.engine import Engine
from kgjemb.query.fusion import Signal, fuse, raw_scores
from kgjemb.query.types import Filter


def related_sets(export, indexed: set[str]) -> dict[str, set[str]]:
    """Per indexed track: the other indexed tracks by the same primary artist or linked by VERSION_OF."""
    by = export.edges[("Track", "BY", "Artist")]
    artist_of = {s: d for s, d, r in zip(by["src"], by["dst"], by["role"]) if r == "primary"}
    tracks_of = defaultdict(set)
    for t, a in artist_of.items():
        if t in indexed:
            tracks_of[a].add(t)
    rel = {t: set(tracks_of[artist_of[t]]) - {t} for t in indexed if t in artist_of}
    ver = export.edges[("Track", "VERSION_OF", "Track")]
    for s, d in zip(ver["src"], ver["dst"]):
        if s in indexed and d in indexed:
            rel.setdefault(s, set()).add(d)
            rel.setdefault(d, set()).add(s)
    return rel


def test_like_track_ranks_related_tracks_above_base_rate(engine):
    """'pieces like <title>' must put same-artist / version tracks in the top 5 far more
    often than their share of the catalog: a broken router or fusion would not."""
    export = engine.bundle.export
    indexed = set(engine.track_ids)
    rel = related_sets(export, indexed)
    titles = dict(zip(export.nodes["Track"]["id"], export.nodes["Track"]["title"]))
    # anchors whose title is unique (so the parser links exactly this track)
    counts = defaultdict(int)
    for t in titles.values():
        counts[t.casefold()] += 1
    anchors = sorted(t for t in indexed if rel.get(t) and counts[titles[t].casefold()] == 1)[:12]
    assert len(anchors) >= 4, "ci catalog should have tracks with related tracks"
    precision, base = [], []
    for t in anchors:
        result = engine.search(f"pieces like {titles[t]}", k=5)
        linked = [e for e in result.parse.entities if e.role == "like" and e.label == "Track"]
        assert linked and linked[0].id == t, (titles[t], result.parse.entities)
        got = [h.track_id for h in result.hits]
        assert t not in got  # the anchor itself is excluded
        precision.append(len(set(got) & rel[t]) / len(got))
        base.append(len(rel[t]) / (len(indexed) - 1))
        top = result.hits[0]
        assert f"like:Track:{t}" in top.signals and f"audio:Track:{t}" in top.signals
        assert abs(sum(top.signals.values()) - top.score) < 1e-4
        if top.track_id in rel[t]:  # related hits are explained by a graph path to the anchor
            assert top.path[0] == f"Track:{top.track_id}" and top.path[-1] == f"Track:{t}"
            assert "path:" in top.explanation
    assert np.mean(precision) > 1.5 * np.mean(base), (np.mean(precision), np.mean(base))


def test_scores_equal_bruteforce_fusion_over_all_tracks(bundle_dir):
    """With a candidate budget covering the index, engine scores equal a brute-force
    fusion computed here from the parse, the model and the stored vectors."""
    eng = Engine.open(bundle_dir, config=EngineConfig(min_candidates=100_000))
    q = "slow and sad, not fast"
    result = eng.search(q, k=5)
    parsed = result.parse
    assert parsed.phrases and parsed.negations
    texts = parsed.phrases + parsed.negations
    vecs = eng.model.embed_text(texts)
    w = eng.config.weights
    sigs = [Signal(f"text:{p}", "text", w.text / len(parsed.phrases), vector=vecs[i])
            for i, p in enumerate(parsed.phrases)]
    sigs += [Signal(f"not:{p}", "negation", w.negation / len(parsed.negations), vector=vecs[len(parsed.phrases) + i],
                    negative=True) for i, p in enumerate(parsed.negations)]
    # attribute facts, scored by brute force over every track from the snapshot
    attrs = [(e.id, e.role == "exclude", e.score / 100) for e in parsed.entities if e.label == "Attribute"]
    spec = dict(zip([a[0] for a in attrs], eng.snapshot.specificity([a[0] for a in attrs])))
    for attr, neg, conf in attrs:
        col = eng.snapshot.fact_scores(np.arange(len(eng.track_ids)), [attr], via_artist=0.5, unknown=0.5)[:, 0]
        sigs.append(Signal(f"{'not ' if neg else ''}has:{attr}", "fact", w.fact * conf * spec[attr],
                           score=lambda rows, col=col: col[rows], negative=neg))
    rows = np.arange(len(eng.track_ids))
    scores, _ = fuse(raw_scores(eng.bundle.track_vectors, rows, sigs), sigs)  # the bundle's matrix: the reference
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], eng.track_ids[i]))[:5]
    assert [h.track_id for h in result.hits] == [eng.track_ids[i] for i in order]
    np.testing.assert_allclose([h.score for h in result.hits], scores[order], atol=1e-4)
    for h in result.hits:
        assert set(h.signals) == {s.name for s in sigs}


def test_filters_by_and_not_by(engine):
    export = engine.bundle.export
    artists = dict(zip(export.nodes["Artist"]["id"], export.nodes["Artist"]["name"]))
    credits = defaultdict(set)
    by = export.edges[("Track", "BY", "Artist")]
    for s, d in zip(by["src"], by["dst"]):
        credits[s].add(d)
    artist = max(artists, key=lambda a: sum(a in c for t, c in credits.items() if t in set(engine.track_ids)))
    name = artists[artist]
    not_by = engine.search(f"slow music not by {name}", k=10)
    assert any(f.kind == "not_by" and f.node_id == artist for f in not_by.parse.filters)
    assert not_by.hits and all(artist not in credits[h.track_id] for h in not_by.hits)
    explicit = engine.search("slow music", k=10, filters=[Filter(kind="by", value=name, node_id=artist)])
    assert explicit.hits and all(artist in credits[h.track_id] for h in explicit.hits)
    assert all(name in h.artists for h in explicit.hits)


def test_unknown_entity_warns_and_answers_the_rest(engine):
    result = engine.search("slow, like Zqxwv Plonkety Quux", k=3)
    assert any("Zqxwv" in w for w in result.warnings)
    assert len(result.hits) == 3 and all(any(n.startswith("text:") for n in h.signals) for h in result.hits)
    alone = engine.search("songs like Zqxwv Plonkety Quux", k=3)
    assert alone.hits == [] and alone.warnings


def test_a_corrected_misspelling_is_named_in_the_warnings(engine):
    fuzzy = engine.search("songs like Mozrat", k=3)
    assert fuzzy.parse.entities[0].how == "fuzzy" and fuzzy.hits
    assert any(w.startswith("'Mozrat' read as ") and "(Artist:mozart)" in w for w in fuzzy.warnings), fuzzy.warnings
    exact = engine.search("songs like Mozart", k=3)
    assert not any("read as" in w for w in exact.warnings)
    assert [h.track_id for h in exact.hits] == [h.track_id for h in fuzzy.hits]


def test_explanations_show_the_terms_that_moved_the_score(engine):
    """The sentence's terms are the nonzero signals and add up to the score; a zero signal
    (a track without the vocals the query avoids) is left out, not shown as "+ has … 0.000"."""
    import re

    seen_zero = False
    for query in ("slow piano, no vocals", "songs like Mozart but on strings, not fast", "fast reel on fiddle"):
        for h in engine.search(query, k=10).hits:
            head = h.explanation.split(";")[0]
            score, _, terms = head.partition(" = ")
            values = [float(v) * (-1 if sign == "−" else 1)
                      for sign, v in re.findall(r"(?:^|([+−]) )[^+−]*? (\d+\.\d{3})(?= [+−]|$)", terms)]
            assert values and all(v != 0 for v in values), h.explanation
            assert len(values) == sum(abs(v) >= 5e-4 for v in h.signals.values()), h.explanation
            assert sum(values) == pytest.approx(float(score), abs=2e-3 * len(values)), h.explanation
            seen_zero |= any(round(v, 3) == 0 for v in h.signals.values())
    assert seen_zero  # the case the rule is for did occur


@pytest.mark.parametrize("bad", ["", "   \n\t", "x" * 1001])
def test_bad_queries_raise_query_error(engine, bad):
    with pytest.raises(QueryError):
        engine.search(bad)


def test_bad_k_and_missing_bundle(engine, tmp_path):
    with pytest.raises(QueryError, match="k must be"):
        engine.search("slow", k=0)
    with pytest.raises(BundleError, match="not found"):
        Engine.open(tmp_path / "nope")


def test_similar_track_artist_and_unknown(engine):
    t = engine.track_ids[0]
    res = engine.similar(t, k=5)
    assert res.hits and t not in [h.track_id for h in res.hits]
    same = engine.similar(("Track", t), k=5)
    assert [h.track_id for h in same.hits] == [h.track_id for h in res.hits]
    artist = engine.bundle.export.nodes["Artist"]["id"].iloc[0]
    assert engine.similar(f"Artist:{artist}", k=3).hits
    with pytest.raises(UnknownEntityError) as err:
        engine.similar(t + "_typo", k=3)
    assert t in " ".join(err.value.candidates)


def _same(a, b) -> None:
    """Equal results: same hits in the same order with the same explanations; scores may
    differ in the last float bits (the text encoder pads a batch differently)."""
    assert a.parse == b.parse and a.warnings == b.warnings
    assert [h.track_id for h in a.hits] == [h.track_id for h in b.hits]
    np.testing.assert_allclose([h.score for h in a.hits], [h.score for h in b.hits], atol=1e-4)
    assert [h.path for h in a.hits] == [h.path for h in b.hits]
    assert [h.matched_attributes for h in a.hits] == [h.matched_attributes for h in b.hits]


def test_batch_and_threads_match_sequential(engine):
    titles = engine.bundle.export.nodes["Track"]["title"].tolist()
    queries = ["slow and sad", "fast, not slow", f"pieces like {titles[0]}", f"like {titles[3]} but slow",
               "no vocals", "happy dance tune"]
    sequential = [engine.search(q, k=5) for q in queries]
    for a, b in zip(engine.search_batch(queries, k=5), sequential):
        _same(a, b)
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda q: engine.search(q, k=5), queries * 3))
    for a, b in zip(threaded, sequential * 3):
        _same(a, b)
    # threads running the very same query agree exactly
    assert threaded[0].model_dump() == threaded[len(queries)].model_dump()
    # the ids-only ranking (evaluation) is search's ranking, also deep into the catalog
    deep = engine.search_batch(queries, k=200)
    assert engine.rank_batch(queries, k=200) == [[h.track_id for h in r.hits] for r in deep]
    assert engine.rank_batch([], k=5) == []


def test_unexplained_hits_are_the_explained_hits_without_sentences_or_paths(engine):
    titles = engine.bundle.export.nodes["Track"]["title"].tolist()
    artists = engine.bundle.export.nodes["Artist"]["name"].tolist()
    queries = ["slow and sad", f"pieces like {titles[0]}", f"like {titles[3]} but slow",
               f"songs like {titles[1]} and {titles[5]}", f"in the style of {artists[0]}",
               f"like {artists[1]} and {titles[2]}"]
    full = engine.search_batch(queries, k=20)
    terse = engine.search_batch(queries, k=20, explain=False)
    assert any(len([e for e in r.parse.entities if e.id]) > 1 for r in full)  # a walk from several anchors
    assert any(h.path for r in full for h in r.hits)  # and paths to leave out
    for a, b in zip(full, terse):
        assert [h.model_dump(exclude={"explanation", "path"}) for h in a.hits] == \
               [h.model_dump(exclude={"explanation", "path"}) for h in b.hits]
        assert all(h.explanation == "" and h.path == [] for h in b.hits)
        assert a.warnings == b.warnings
    assert engine.search(queries[1], k=5, explain=False).hits[0].matched_entity == terse[1].hits[0].matched_entity


def test_engine_threads_hold_on_every_calling_thread(engine):
    """FAISS's OpenMP thread count is a setting of each thread: a search from a thread the
    engine was not opened on (serve's pool) must still run FAISS on ``config.threads``."""
    import faiss

    one = Engine(engine.bundle, model=engine.model, parser=engine.parser, snapshot=engine.snapshot,
                 config=replace(engine.config, threads=1))
    seen = []

    def search_from_a_pool_thread():
        faiss.omp_set_num_threads(3)  # what a fresh thread has by default on a 3-core machine
        one.search("slow and sad", k=3)
        seen.append(faiss.omp_get_max_threads())

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(search_from_a_pool_thread).result()
    assert seen == [1]


def test_to_frame_and_rrf(bundle_dir, engine):
    frame = engine.search("slow and sad", k=4).to_frame()
    assert list(frame["rank"]) == [1, 2, 3, 4]
    assert {"track_id", "title", "score", "explanation", "path"} <= set(frame.columns)
    assert any(c.startswith("signal_text:") for c in frame.columns)
    rrf = Engine.open(bundle_dir, config=EngineConfig(fusion="rrf", weights=SignalWeights(fact=0.0)))
    hits = rrf.search("slow and sad", k=4).hits
    assert all(0 < h.score <= 1 / 61 + 1e-9 for h in hits)  # one text signal, weight 1


def test_batch_frame_and_a_bad_query_named_by_its_position(engine):
    from kgjemb import results_frame

    queries = ["slow and sad", "songs like Zqxwv Plonkety Quux", "fast reel on fiddle"]
    results = engine.search_batch(queries, k=3)
    frame = results_frame(results)
    assert list(frame.columns[:3]) == ["query_index", "query", "rank"]
    assert list(frame["query_index"]) == [0, 0, 0, 2, 2, 2] and list(frame["rank"]) == [1, 2, 3] * 2
    assert list(frame["track_id"]) == [h.track_id for r in results for h in r.hits]
    assert set(frame["query"]) == {queries[0], queries[2]} and results_frame([]).empty
    with pytest.raises(QueryError, match=r"^queries\[1\]: query is empty$"):
        engine.search_batch(["slow", "  ", "fast"])
    with pytest.raises(QueryError, match=r"^queries\[2\]: query must be a string, got int$"):
        engine.rank_batch(["slow", "fast", 3])
    with pytest.raises(QueryError, match="got one string"):
        engine.search_batch("slow and sad")  # would have been 12 one-letter queries
    with pytest.raises(QueryError, match="^query is empty$"):
        engine.search("")


def test_filtered_search_widens_until_enough_candidates(bundle_dir, engine):
    """With a 1-candidate budget and no exact-filter shortcut, a restrictive filter forces
    the fetch to grow; the result must equal the exhaustive one."""
    export = engine.bundle.export
    by = export.edges[("Track", "BY", "Artist")]
    indexed = set(engine.track_ids)
    counts = by[by["src"].isin(indexed)]["dst"].value_counts()
    artist = counts.index[-1]  # the artist with the fewest indexed tracks
    flt = [Filter(kind="by", value=artist, node_id=artist)]
    tight = Engine.open(bundle_dir, config=EngineConfig(overfetch=1, min_candidates=1, exact_filter_max=1),
                        model=engine.model, parser=engine.parser)
    exhaustive = Engine.open(bundle_dir, config=EngineConfig(min_candidates=100_000), model=engine.model, parser=engine.parser)
    k = int(counts.iloc[-1])
    got = tight.search("fast and bright", k=k, filters=flt)
    want = exhaustive.search("fast and bright", k=k, filters=flt)
    assert len(got.hits) == k and {h.track_id for h in got.hits} == {h.track_id for h in want.hits}


def test_ef_search_override_tunes_the_saved_index(bundle_dir, engine):
    """EngineConfig.ef_search changes the search breadth of the bundle's index and nothing
    else it saved (the index is tuned after loading, whatever its backend)."""
    import json

    saved = json.loads((bundle_dir / "index" / "config.json").read_text())["config"]
    eng = Engine.open(bundle_dir, config=EngineConfig(ef_search=321), model=engine.model, parser=engine.parser)
    assert eng.index.config.ef_search == 321
    assert {k: v for k, v in vars(eng.index.config).items() if k != "ef_search"} == \
        {k: v for k, v in saved.items() if k != "ef_search"}
    assert engine.index.config.ef_search == saved["ef_search"]  # the other engine's index is its own
    assert [h.track_id for h in eng.search("slow and sad", k=5).hits] == \
        [h.track_id for h in engine.search("slow and sad", k=5).hits]
