"""The index addressed by row (``VectorIndex.rows``): FAISS's key arrays (KeyRows) answer
exactly what the id calls answer, mapped to rows, for every filter of the filter tests;
they follow writes to the index; ids without an item and items without a row are handled."""
from __future__ import annotations

import numpy as np
import pytest

from kgjemb.index import FaissIndex, IndexConfig
from kgjemb.index.base import IndexRows
from kgjemb.index.rows import KeyRows
from tests.test_index import clustered
from tests.test_index_filter import FILTERS, synthetic_fields

N, DIM, K = 3_000, 16, 25


def by_ids(index, ids: list[str]):
    """The reference: the id calls, mapped to rows with a dict."""
    row = {i: r for r, i in enumerate(ids)}
    return lambda found: np.array([row[i] for i in found if i in row], dtype=np.int64)


@pytest.fixture(scope="module")
def built():
    x = clustered(N, DIM, seed=4)
    ids = [f"t{i}" for i in range(N)]
    index = FaissIndex(DIM, IndexConfig(factory="HNSW32", ef_search=64, exact_filter_max=200))
    index.index(ids, x, fields=synthetic_fields(N))
    rng = np.random.default_rng(0)
    # rows in another order than the keys, and two ids the index does not hold
    row_ids = [ids[i] for i in rng.permutation(N)] + ["absent-1", "absent-2"]
    return index, row_ids, clustered(8, DIM, seed=5)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_key_rows_answer_as_the_id_calls(built, name):
    index, row_ids, q = built
    f = FILTERS[name]
    rows = index.rows(row_ids)
    assert isinstance(rows, KeyRows)
    to_rows = by_ids(index, row_ids)
    for got, want in zip(rows.search(q, K, filter=f), index.search(q, K, filter=f)[1]):
        assert got.tolist() == to_rows(want).tolist()  # same items, best first
    if f is not None:
        sel = index.select(f)
        assert rows.select(f).tolist() == sorted(to_rows(sel).tolist())
        assert (rows.select(f, limit=10) is None) == (index.select(f, limit=10) is None)
        some = np.sort(np.random.default_rng(1).choice(len(row_ids), 400, replace=False))
        want = index.select(f.restrict([row_ids[r] for r in some]))
        assert rows.passing(some, f).tolist() == sorted(to_rows(want).tolist())
        generic = IndexRows(index, row_ids)  # the id calls, any backend: the same rows
        assert generic.passing(some, f).tolist() == rows.passing(some, f).tolist()
        assert generic.select(f).tolist() == rows.select(f).tolist()
    pick = np.array([5, 0, 2999, 17])
    np.testing.assert_array_equal(rows.fetch(pick), index.fetch([row_ids[r] for r in pick]))
    with pytest.raises(KeyError, match="absent-1"):
        rows.fetch(np.array([0, N]))


def test_key_rows_follow_writes_to_the_index():
    x = clustered(200, DIM, seed=6)
    ids = [f"t{i}" for i in range(200)]
    index = FaissIndex(DIM, IndexConfig(factory="Flat"))
    index.index(ids[:150], x[:150])
    rows = index.rows(ids)  # rows 150.. are not in the index yet
    q = x[160:161]
    assert 160 not in rows.search(q, 5)[0].tolist()
    index.upsert(ids[150:], x[150:])  # new keys: the view maps them on its next call
    assert rows.search(q, 5)[0].tolist()[0] == 160
    np.testing.assert_array_equal(rows.fetch(np.array([160])), x[160:161])
    index.delete(["t160"])
    assert 160 not in rows.search(q, 5)[0].tolist()
    index.upsert(["t3"], x[160:161])  # t3 now holds t160's vector under a new key
    assert rows.search(q, 1)[0].tolist() == [3]
    np.testing.assert_array_equal(rows.fetch(np.array([3])), x[160:161])
    other = FaissIndex(DIM, IndexConfig(factory="Flat"))
    other.index(["x", *ids[:10]], x[:11])  # an item without a row is never returned
    found = other.rows(ids[:10]).search(x[:1], 11)[0].tolist()
    assert found == [r for r in (by_ids(other, ids[:10])(other.search(x[:1], 11)[1][0])).tolist()]
    assert len(found) == 10
