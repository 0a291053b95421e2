"""The raw-array CSR gathers of the query path agree with scipy's own indexing."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from kgjemb.graph import csr


def _matrix(seed: int = 0) -> sp.csr_matrix:
    m = sp.random(40, 25, density=0.15, random_state=seed, format="csr")
    m.sort_indices()
    return m


def test_gather_and_row_dot_match_scipy():
    m = _matrix()
    rows = np.array([3, 0, 39, 3, 17])  # repeats and any order
    owner, pos = csr.gather(m.indptr, rows)
    for i, r in enumerate(rows):
        assert sorted(m.indices[pos[owner == i]].tolist()) == sorted(m[r].indices.tolist())
    vec = np.random.default_rng(1).normal(size=25)
    np.testing.assert_allclose(csr.row_dot(m.indptr, m.indices, m.data, rows, vec), m[rows] @ vec)
    assert csr.row_dot(m.indptr, m.indices, m.data, np.array([], dtype=np.int64), vec).shape == (0,)
    np.testing.assert_array_equal(csr.row(m.indptr, m.indices, 17), m[17].indices)


def test_lookup_reads_a_column_at_any_rows():
    m = _matrix(2)
    c = m.tocsc()
    c.sort_indices()
    rows = np.array([39, 0, 5, 5, 22])
    dense = m.toarray()
    for col in range(25):
        np.testing.assert_array_equal(csr.lookup(c.indptr, c.indices, c.data, col, rows), dense[rows, col])


def test_unique_and_union_are_numpys():
    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 7, 1000):
        x = rng.integers(0, max(n // 2, 1), n)
        np.testing.assert_array_equal(csr.unique(x), np.unique(x))
        y = rng.integers(0, 50, n // 3 + 1)
        np.testing.assert_array_equal(csr.union(x, y), np.union1d(x, y))
    assert csr.unique(np.array([5, 5, 5])).tolist() == [5]
    assert csr.union().shape == (0,)


def test_group_sum_is_unique_plus_bincount_bit_for_bit():
    rng = np.random.default_rng(5)
    for n in (0, 1, 2, 9, 5000):
        keys = rng.integers(0, max(n // 4, 1), n)
        w = rng.random(n) * 10.0 ** rng.integers(-8, 3, n)  # magnitudes that make the summing order show
        uniq, total = csr.group_sum(keys, w)
        ref, inv = np.unique(keys, return_inverse=True)
        np.testing.assert_array_equal(uniq, ref)
        np.testing.assert_array_equal(total, np.bincount(inv.ravel(), weights=w, minlength=len(ref)))
    for keys in (np.array([-3, 7, -3, 0]), np.array([2**60, 5, 2**60])):  # not packable: the argsort way
        uniq, total = csr.group_sum(keys, np.array([1.0, 2.0, 3.0, 4.0])[: len(keys)])
        ref, inv = np.unique(keys, return_inverse=True)
        np.testing.assert_array_equal(uniq, ref)
        np.testing.assert_array_equal(total, np.bincount(inv.ravel(), weights=np.array([1.0, 2.0, 3.0, 4.0])[: len(keys)]))
    for n in (1, 9, 5000):  # keys within a small known range: the bincount way (a zero sum stays a group)
        keys = rng.integers(0, max(n // 4, 1), n)
        w = rng.random(n) * 10.0 ** rng.integers(-8, 3, n)
        w[0] = 0.0
        uniq, total = csr.group_sum(keys, w, size=max(n // 4, 1) + 3)
        ref, inv = np.unique(keys, return_inverse=True)
        np.testing.assert_array_equal(uniq, ref)
        np.testing.assert_array_equal(total, np.bincount(inv.ravel(), weights=w, minlength=len(ref)))
    for sizes in ((1,), (3, 40, 900, 60), (0, 5, 5)):  # sorted runs, as a walk's steps: the merging way
        runs = [np.unique(rng.integers(0, 500, s)) for s in sizes]
        keys = np.concatenate(runs)
        w = rng.random(len(keys)) * 10.0 ** rng.integers(-8, 3, len(keys))
        uniq, total = csr.group_sum(keys, w, runs=True)
        ref, inv = np.unique(keys, return_inverse=True)
        np.testing.assert_array_equal(uniq, ref)
        np.testing.assert_array_equal(total, np.bincount(inv.ravel(), weights=w, minlength=len(ref)))


def test_rows_dot_either_way_is_row_dot():
    m = _matrix()
    vec = np.random.default_rng(4).normal(size=25)
    for rows in (np.array([3, 0, 39]), np.arange(40), np.array([], dtype=np.int64)):  # gathered, whole, none
        np.testing.assert_array_equal(csr.rows_dot(m, rows, vec), csr.row_dot(m.indptr, m.indices, m.data, rows, vec))
