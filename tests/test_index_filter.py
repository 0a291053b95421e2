"""Filters pushed down into FAISS (IDSelectorBitmap) against an exact reference: brute force
over the items that pass ``IndexFilter.passes``; fields from a graph export against the
engine's filters; select against the reference; fetch/upsert/delete/save keep fields and vectors."""
from __future__ import annotations

import numpy as np
import pytest

from kgjemb.index import FaissIndex, IndexConfig, IndexFilter, ItemFields, fields_from_export
from tests.test_index import clustered

N, DIM, K = 12_000, 32, 10


def synthetic_fields(n: int, seed: int = 3) -> list[ItemFields]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        artists = tuple(f"a{j}" for j in sorted(set(rng.integers(0, 300, size=1 + (i % 7 == 0)).tolist())))
        attributes = tuple(f"attr{j}" for j in sorted(set(rng.integers(0, 40, size=3).tolist())))
        year = None if i % 11 == 0 else float(rng.integers(1600, 2000))
        out.append(ItemFields(artists=artists, album=f"al{i // 12}", attributes=attributes, year=year))
    return out


def reference(x, ids, fields, q, f: IndexFilter | None, k: int) -> list[list[str]]:
    passing = np.array([f is None or f.passes(i, fl) for i, fl in zip(ids, fields)])
    rows = np.flatnonzero(passing)
    scores = q @ x[rows].T  # (n_queries, n_passing)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[ids[rows[j]] for j in row] for row in order]


FILTERS = {
    "none": None,
    "artist": IndexFilter(artists_all={"a7"}),
    "not_artists": IndexFilter(artists_none={f"a{j}" for j in range(150)}),
    "attributes": IndexFilter(attributes_all={"attr1"}, attributes_none={"attr2", "attr3"}),
    "years": IndexFilter(year_min=1700, year_max=1799),
    "album": IndexFilter(albums_all={"al5"}),
    "not_album_deny": IndexFilter(albums_none={"al0", "al1"}, deny_ids={f"t{i}" for i in range(0, N, 2)}),
    "allow": IndexFilter(allow_ids={f"t{i}" for i in range(0, N, 97)}),
    "nothing": IndexFilter(allow_ids=set()),
}


@pytest.fixture(scope="module")
def data():
    x = clustered(N, DIM)
    q = clustered(40, DIM, seed=9)
    ids = [f"t{i}" for i in range(N)]
    return x, q, ids, synthetic_fields(N)


_BUILT: dict[str, FaissIndex] = {}


@pytest.mark.parametrize("factory", ["Flat", "HNSW32", "IVF64,Flat"])
@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filtered_search_matches_exact_reference(data, factory, name):
    x, q, ids, fields = data
    f = FILTERS[name]
    if factory not in _BUILT:  # one build per factory for all filters (search does not modify it)
        _BUILT[factory] = FaissIndex(DIM, IndexConfig(factory=factory, ef_search=64, nprobe=16, exact_filter_max=500))
        _BUILT[factory].index(ids, x, fields=fields)
    idx = _BUILT[factory]
    D, got = idx.search(q, K, filter=f)
    truth = reference(x, ids, fields, q, f, K)
    by_id = dict(zip(ids, fields))
    for row_got, row_truth in zip(got, truth):
        assert len(row_got) == len(row_truth)  # k results whenever k items pass, none when none pass
        assert all(f is None or f.passes(i, by_id[i]) for i in row_got)
    if f is not None:  # select lists exactly the items that pass
        assert sorted(idx.select(f)) == sorted(i for i in ids if f.passes(i, by_id[i]))
    hits = sum(len(set(g) & set(t)) for g, t in zip(got, truth))
    recall = hits / sum(map(len, truth)) if any(truth) else 1.0
    assert recall >= (0.999 if factory == "Flat" else 0.95), f"{factory} {name}: recall@{K} {recall:.3f}"
    if factory == "Flat":  # exact: the same scores as the reference, best first
        for row, (g, t) in enumerate(zip(got, truth)):
            ref = np.sort(q[row] @ x[[ids.index(i) for i in t]].T)[::-1]
            np.testing.assert_allclose(D[row, : len(g)], ref, atol=1e-5)


def test_fetch_upsert_delete_and_save_keep_fields(data, tmp_path):
    x, q, ids, fields = data
    idx = FaissIndex(DIM, IndexConfig(factory="HNSW32"))
    idx.index(ids[:2000], x[:2000], fields=fields[:2000])
    np.testing.assert_allclose(idx.fetch(["t5", "t1"]), x[[5, 1]], atol=1e-6)
    with pytest.raises(KeyError, match="nope"):
        idx.fetch(["t1", "nope"])
    only = IndexFilter(artists_all={"zz"})
    assert idx.search(q[:1], 5, filter=only)[1] == [[]]
    idx.upsert(["t1", "new"], x[[7, 8]], fields=[ItemFields(artists=("zz",)), ItemFields(artists=("zz",), year=1750)])
    assert sorted(idx.search(q[:1], 5, filter=only)[1][0]) == ["new", "t1"]
    np.testing.assert_allclose(idx.fetch(["t1"]), x[[7]], atol=1e-6)
    assert idx.delete(["t1"]) == 1
    assert idx.search(q[:1], 5, filter=only)[1] == [["new"]]
    idx.save(tmp_path / "ix")
    back = FaissIndex.load(tmp_path / "ix")
    assert back.fields("new") == ItemFields(artists=("zz",), year=1750.0)
    assert back.search(q[:1], 5, filter=IndexFilter(artists_all={"zz"}, year_min=1700))[1] == [["new"]]
    for name in ("artist", "years", "not_album_deny"):
        assert back.search(q, K, filter=FILTERS[name])[1] == idx.search(q, K, filter=FILTERS[name])[1]


def test_filter_validation():
    with pytest.raises(TypeError, match="string"):
        IndexFilter(artists_all="bach")
    with pytest.raises(ValueError, match="NaN"):
        IndexFilter(year_min=float("nan"))
    assert IndexFilter(year_min=float("-inf")).empty
    idx = FaissIndex(4)
    with pytest.raises(ValueError, match="fields for"):
        idx.index(["a", "b"], np.eye(2, 4), fields=[ItemFields()])


def test_engine_filters_become_the_index_filters_they_mean(ci_export):
    """Per artist, attribute and year range: the engine's filter becomes the IndexFilter of
    the same meaning, and FAISS selects exactly the tracks that pass it by the reference
    semantics (``IndexFilter.passes`` on fields from the graph export)."""
    from kgjemb.query.filters import TrackTable
    from kgjemb.query.types import Filter

    track_ids = ci_export.nodes["Track"]["id"].tolist()
    fields = fields_from_export(ci_export, track_ids)
    table = TrackTable(ci_export, track_ids)
    index = FaissIndex(4, IndexConfig(factory="Flat"))
    index.index(track_ids, np.ones((len(track_ids), 4), dtype=np.float32), fields=fields)
    artists = ci_export.nodes["Artist"]["id"].tolist()[:6]
    attributes = ci_export.nodes["Attribute"]["id"].tolist()[:8]
    cases = [(Filter(kind="by", value=a, node_id=a), IndexFilter(artists_all={a})) for a in artists]
    cases += [(Filter(kind="not_by", value=a, node_id=a), IndexFilter(artists_none={a})) for a in artists]
    cases += [(Filter(kind="attribute", value=a, node_id=a), IndexFilter(attributes_all={a})) for a in attributes]
    cases += [(Filter(kind="not_attribute", value=a, node_id=a), IndexFilter(attributes_none={a})) for a in attributes]
    cases += [(Filter(kind="year_range", value=v), IndexFilter(year_min=lo, year_max=hi))
              for v, lo, hi in [("1700-1750", 1700, 1750), ("-1799", None, 1799), ("1800-", 1800, None)]]
    checked = 0
    for engine_filter, index_filter in cases:
        assert table.index_filter([engine_filter]) == (index_filter, []), engine_filter
        expected = {t for t, f in zip(track_ids, fields) if index_filter.passes(t, f)}
        assert set(index.select(index_filter)) == expected, engine_filter
        if len(expected) > 1:
            assert index.select(index_filter, limit=len(expected) - 1) is None
        checked += len(expected)
    assert checked > 0
    # two constraints of one kind combine: a range open at both ends still drops unknown years
    both, _ = table.index_filter([Filter(kind="year_range", value="-"), Filter(kind="by", value=artists[0], node_id=artists[0]),
                                  Filter(kind="exclude", value=artists[1], node_id=artists[1])])
    assert both.artists_all == {artists[0]} and both.artists_none == {artists[1]} and both.year_min is not None
    assert set(index.select(both)) == {t for t, f in zip(track_ids, fields) if both.passes(t, f)}
    assert set(index.select(both.restrict(track_ids[:5]))) == {t for t in track_ids[:5] if both.passes(t, fields[track_ids.index(t)])}
