"""Fusion arithmetic against hand computations; filters pushed down on a tiny graph."""
from __future__ import annotations

import numpy as np
import pytest

from kgjemb.index import FaissIndex, fields_from_export
from kgjemb.query.config import EngineConfig, SignalWeights
from kgjemb.query.filters import TrackTable, parse_year_range
from kgjemb.query.fusion import Signal, normalise, ranks, raw_scores
from kgjemb.query.fusion import fuse as fuse_raw
from kgjemb.query.types import Filter
from tests.parser_graph import make_export

# three candidates in 2-D with known cosines to the signal vectors
CANDS = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
X = np.array([1.0, 0.0], dtype=np.float32)
Y = np.array([0.0, 1.0], dtype=np.float32)


def fuse(cands, signals, **kwargs):
    """Fuse candidate vectors: raw scores (dot products) then :func:`fuse_raw`."""
    return fuse_raw(raw_scores(cands, np.arange(len(cands)), signals), signals, **kwargs)


def test_weighted_minmax_by_hand():
    signals = [Signal("like:Track:a", "entity", 1.0, vector=X, ref="Track:a"), Signal("text:soft", "text", 0.5, vector=Y),
               Signal("not:loud", "negation", 0.25, vector=X, negative=True)]
    scores, parts = fuse(CANDS, signals, method="weighted", norm="minmax")
    # raw cosines: X -> [1, .6, 0], Y -> [0, .8, 1]; min-max: X -> [1, .6, 0], Y -> [0, .8, 1]
    expected_parts = np.array([
        [1.0 * 1.0, 0.5 * 0.0, -0.25 * 1.0],
        [1.0 * 0.6, 0.5 * 0.8, -0.25 * 0.6],
        [1.0 * 0.0, 0.5 * 1.0, -0.25 * 0.0],
    ])
    np.testing.assert_allclose(parts, expected_parts, atol=1e-6)
    np.testing.assert_allclose(scores, [0.75, 0.85, 0.5], atol=1e-6)
    np.testing.assert_allclose(scores, parts.sum(axis=1), atol=1e-9)


def test_weighted_zscore_by_hand():
    signals = [Signal("text:a", "text", 2.0, vector=X)]
    scores, _ = fuse(CANDS, signals, norm="zscore")
    raw = np.array([1.0, 0.6, 0.0])
    np.testing.assert_allclose(scores, 2.0 * (raw - raw.mean()) / raw.std(), atol=1e-5)


def test_rrf_by_hand():
    signals = [Signal("text:a", "text", 1.0, vector=X), Signal("text:b", "text", 1.0, vector=Y), Signal("not:c", "negation", 0.5, vector=Y, negative=True)]
    scores, parts = fuse(CANDS, signals, method="rrf", rrf_k=60)
    # ranks by X: [1, 2, 3]; by Y: [3, 2, 1]
    expected = np.array([
        1 / 61 + 1 / 63 - 0.5 / 63,
        1 / 62 + 1 / 62 - 0.5 / 62,
        1 / 63 + 1 / 61 - 0.5 / 61,
    ])
    np.testing.assert_allclose(scores, expected, atol=1e-9)
    assert parts.shape == (3, 3)


def test_constant_signal_contributes_nothing_and_edge_cases():
    same = np.tile(X, (4, 1))
    scores, parts = fuse(same, [Signal("text:a", "text", 1.0, vector=X)])
    np.testing.assert_array_equal(scores, 0.0)
    assert fuse(CANDS, [])[0].tolist() == [0.0, 0.0, 0.0]
    assert fuse(CANDS[:0], [Signal("text:a", "text", 1.0, vector=X)])[0].shape == (0,)
    assert ranks(np.array([[0.5], [0.9], [0.5]])).ravel().tolist() == [2, 1, 3]
    with pytest.raises(ValueError, match="choose from"):
        normalise(np.ones((2, 1)), "softmax")
    with pytest.raises(ValueError, match="choose from"):
        fuse(CANDS, [Signal("t", "text", 1.0, vector=X)], method="borda")
    with pytest.raises(ValueError, match="choose from"):
        EngineConfig(fusion="borda")
    with pytest.raises(ValueError, match=">= 0"):
        SignalWeights(text=-1)


def test_filters_pushed_down_on_tiny_graph():
    """The engine's filters as an IndexFilter, evaluated by a FAISS index holding the
    tiny graph's fields: the tracks each filter keeps."""
    export = make_export()
    ids = export.nodes["Track"]["id"].tolist()
    table = TrackTable(export, ids)
    index = FaissIndex(2)
    index.index(ids, np.ones((len(ids), 2), dtype=np.float32), fields=fields_from_export(export, ids))

    def allowed(*filters):
        f, warnings = table.index_filter(list(filters))
        return (set(ids) if f is None else set(index.select(f))), warnings

    bach = {"t_jesu", "t_wachet", "t_air"}
    assert allowed(Filter(kind="by", value="Bach", node_id="bach"))[0] == bach
    assert allowed(Filter(kind="not_by", value="Bach", node_id="bach"))[0] == set(ids) - bach
    # by name only (API callers), resolved through names and aliases
    assert allowed(Filter(kind="by", value="J. S. Bach"))[0] == bach
    assert allowed(Filter(kind="exclude", value="Chorales", node_id="alb_chorales"))[0] == set(ids) - {"t_jesu", "t_wachet"}
    assert allowed(Filter(kind="exclude", value="Largo", node_id="t_largo"))[0] == set(ids) - {"t_largo"}
    assert allowed(Filter(kind="era", value="baroque", node_id="era:baroque"))[0] == {
        "t_jesu", "t_wachet", "t_hallelujah", "t_water"}
    assert allowed(Filter(kind="attribute", value="reel", node_id="form:reel"))[0] == {"t_morning", "t_spear"}
    assert "t_morning" not in allowed(Filter(kind="not_attribute", value="fast", node_id="tempo:fast"))[0]
    got, warnings = allowed(Filter(kind="by", value="Nobody At All"))
    assert got == set(ids) and "ignored" in warnings[0]
    # no years in this graph: a year range keeps nothing (unknown years are excluded)
    assert allowed(Filter(kind="year_range", value="1700-1750"))[0] == set()
    assert parse_year_range("-1799") == (-np.inf, 1799.0) and parse_year_range("1751-") == (1751.0, np.inf)


def test_graph_signal_reads_scores_and_negative_subtracts():
    sig = [Signal("graph:a", "graph", 1.0, score=lambda rows: np.array([0.0, 2.0, 4.0])[rows]),
           Signal("not has:x", "fact", 0.5, score=lambda rows: np.array([1.0, 0.0, 1.0])[rows], negative=True)]
    scores, parts = fuse(CANDS, sig)
    np.testing.assert_allclose(parts, [[0.0, -0.5], [0.5, 0.0], [1.0, -0.5]])
    with pytest.raises(ValueError, match="exactly one"):
        Signal("bad", "text", 1.0)
    with pytest.raises(ValueError, match="choose from"):
        Signal("bad", "vibes", 1.0, vector=X)


def test_fact_scores_partial_metadata():
    """A fact scores 1 for tracks that HAVE it, 0.5 via the artist only, 0 when the track has
    another attribute of that kind, and the neutral ``unknown`` when it has none of that kind."""
    from kgjemb.query.snapshot import GraphSnapshot

    export = make_export()
    ids = export.nodes["Track"]["id"].tolist()
    snap = GraphSnapshot(export, ids)
    rows = np.array([ids.index(t) for t in ("t_moonlight", "t_air", "t_jesu")])
    got = snap.fact_scores(rows, ["instrument:piano"], via_artist=0.5, unknown=0.3)[:, 0]
    # Moonlight has piano; Air has strings (known other instrument); Jesu has organ
    assert got.tolist() == [1.0, 0.0, 0.0]
    rows = np.array([ids.index("t_ode")])  # no instrument at all: unknown
    assert snap.fact_scores(rows, ["instrument:piano"], via_artist=0.5, unknown=0.3)[0, 0] == pytest.approx(0.3)
    # another artist weighting than the snapshot's is computed for the rows asked: the same
    # known / unknown reading, in any row order
    rows = np.array([ids.index(t) for t in ("t_ode", "t_jesu", "t_moonlight", "t_air")])
    other = snap.fact_scores(rows, ["instrument:piano", "no:such"], via_artist=0.25, unknown=0.3)
    np.testing.assert_allclose(other, [[0.3, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    having = snap.rows_having("instrument:piano", limit=100)
    assert {ids[r] for r in having} == {t for t in ids if "instrument:piano" in snap.tracks.attributes(t)}
    assert snap.rows_having("instrument:piano", limit=0) is None
