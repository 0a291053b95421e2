"""FaissIndex: ANN recall against an exact IndexFlat on clustered data, ids, delete, persistence."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from kgjemb.index import FaissIndex, IndexConfig, as_matrix, resolve_factory
from kgjemb.index.base import IndexFilter


def clustered(n: int, dim: int, *, clusters: int = 50, seed: int = 0, latent: int = 8) -> np.ndarray:
    """Realistic unit vectors: cluster centres plus variation in a low-dimensional subspace
    and a little isotropic noise. Uniform random vectors make every ANN look bad."""
    basis = np.random.default_rng(12345)
    centres = basis.standard_normal((clusters, dim)).astype(np.float32)
    spread = basis.standard_normal((latent, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = (
        centres[rng.integers(0, clusters, n)]
        + 0.5 * rng.standard_normal((n, latent)).astype(np.float32) @ spread
        + 0.05 * rng.standard_normal((n, dim)).astype(np.float32)
    )
    return as_matrix(x)


def exact_top(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    return flat.search(q, k)[1]


@pytest.mark.parametrize("factory", ["HNSW32", "IVF64,Flat"])
def test_ann_recall_against_exact_flat(factory):
    x = clustered(8000, 48)
    q = clustered(200, 48, seed=1)
    ids = [f"t{i}" for i in range(len(x))]
    idx = FaissIndex(48, IndexConfig(factory=factory, ef_search=64, nprobe=16))
    idx.index(ids, x)
    assert idx.factory == factory
    _, got = idx.search(q, 10)
    truth = exact_top(x, q, 10)
    hits = sum(len({f"t{j}" for j in t} & set(g)) for t, g in zip(truth, got))
    recall = hits / truth.size
    assert recall >= 0.95, f"{factory} recall@10 = {recall:.3f}"


def test_flat_scores_are_cosines_and_ids_map_back():
    x = clustered(500, 16)
    idx = FaissIndex(16)
    idx.index([f"id{i}" for i in range(500)], x * 3.0)  # unnormalised in, normalised inside
    assert idx.factory == "Flat"
    D, I = idx.search(x[:5], 3)
    assert [row[0] for row in I] == [f"id{i}" for i in range(5)]
    np.testing.assert_allclose(D[:, 0], 1.0, atol=1e-5)
    ref = x[:5] @ x.T  # (5, 500)
    np.testing.assert_allclose(D, -np.sort(-ref, axis=1)[:, :3], atol=1e-5)


@pytest.mark.parametrize("factory", ["Flat", "HNSW32"])
def test_delete_append_and_replace(factory, tmp_path):
    x = clustered(300, 16)
    ids = [f"t{i}" for i in range(300)]
    idx = FaissIndex(16, IndexConfig(factory=factory))
    idx.index(ids, x)
    assert idx.delete(["t0", "t1", "nope"]) == 2
    assert len(idx) == 298 and "t0" not in idx
    _, I = idx.search(x[:2], 5)
    assert all("t0" not in row and "t1" not in row for row in I)
    # replacing an id moves it to the new vector
    idx.upsert(["t5"], x[7:8])
    assert len(idx) == 298
    _, I = idx.search(x[7:8], 2)
    assert set(I[0]) == {"t5", "t7"}
    idx.upsert(["new"], -x[3:4])
    _, I = idx.search(-x[3:4], 1)
    assert I == [["new"]]
    idx.save(tmp_path / "ix")
    back = FaissIndex.load(tmp_path / "ix")
    assert back.ids == idx.ids and back.factory == factory
    D1, I1 = idx.search(x[:20], 5)
    D2, I2 = back.search(x[:20], 5)
    assert I1 == I2
    np.testing.assert_allclose(D1, D2, atol=1e-6)
    # keys freed by deletes stay free after a load: a later item gets a new key, filters see it
    back.upsert(["after"], -x[9:10])
    assert back.search(-x[9:10], 1)[1] == [["after"]] and "after" in back and len(back) == 300
    assert back.ids[-1] == "after" and "t0" not in back.ids
    deny = IndexFilter(deny_ids=frozenset({"after", "t2"}))
    _, I3 = back.search(-x[9:10], 3, filter=deny)
    assert "after" not in I3[0] and "t2" not in I3[0]
    assert back.select(IndexFilter(allow_ids=frozenset({"after", "t0", "t3"}))) == ["t3", "after"]


def test_auto_factory_and_validation():
    assert resolve_factory(IndexConfig(), 49_999) == "Flat"
    assert resolve_factory(IndexConfig(), 50_000) == "HNSW32"
    assert resolve_factory(IndexConfig(factory="IVF256,PQ16"), 10) == "IVF256,PQ16"
    idx = FaissIndex(8)
    with pytest.raises(ValueError, match="dimension"):
        idx.index(["a"], np.ones((1, 4)))
    with pytest.raises(ValueError, match="unique"):
        idx.index(["a", "a"], np.ones((2, 8)))
    with pytest.raises(ValueError, match="NaN"):
        idx.index(["a"], np.full((1, 8), np.nan))
    idx.index(["a"], np.ones((1, 8)))
    with pytest.raises(ValueError, match="k must be positive"):
        idx.search(np.ones((1, 8)), 0)
    with pytest.raises(ValueError, match="positive"):
        IndexConfig(ef_search=0)


def test_tune_widens_the_search_without_rebuilding():
    x = clustered(8000, 48, clusters=400)
    q = clustered(200, 48, clusters=400, seed=1)
    ids = [f"t{i}" for i in range(len(x))]
    truth = exact_top(x, q, 10)
    idx = FaissIndex(48, IndexConfig(factory="HNSW8", ef_search=10, ef_construction=16))
    idx.index(ids, x)

    def recall() -> float:
        got = idx.search(q, 10)[1]
        return sum(len({f"t{j}" for j in t} & set(g)) for t, g in zip(truth, got)) / truth.size

    narrow = recall()
    idx.tune(ef_search=256)
    assert idx.config.ef_search == 256 and idx.factory == "HNSW8"
    assert recall() > narrow + 0.02, f"efSearch 10 → 256 did not widen the search ({narrow:.3f})"
    with pytest.raises(TypeError, match="ef_construction"):
        idx.tune(ef_construction=80)
    with pytest.raises(ValueError, match="ef_search must be positive"):
        idx.tune(ef_search=0)
    assert idx.config.ef_search == 256


def test_builds_in_batches_without_a_normalised_copy(monkeypatch):
    """Above ADD_ROWS rows a build adds normalised batches (and IVF trains on a sample), so
    it never holds a normalised copy of the whole matrix; every row is checked first, so a
    bad row in the last batch leaves the index as it was."""
    import kgjemb.index.base as base
    import kgjemb.index.faiss_index as fi

    x = clustered(1000, 16) * 3.0  # unnormalised
    ids = [f"t{i}" for i in range(len(x))]
    q = clustered(30, 16, seed=1)
    whole = FaissIndex(16, IndexConfig(factory="Flat"))
    whole.index(ids, x)
    monkeypatch.setattr(fi, "ADD_ROWS", 128)
    monkeypatch.setattr(base, "CHECK_ROWS", 100)
    batched = FaissIndex(16, IndexConfig(factory="Flat"))
    batched.index(ids, x.astype(np.float64))  # float64 in: converted batch by batch
    D1, I1 = whole.search(q, 10)
    D2, I2 = batched.search(q, 10)
    assert I1 == I2
    np.testing.assert_allclose(D1, D2, atol=1e-6)
    np.testing.assert_allclose(batched.fetch(["t999"]), as_matrix(x[999:]), atol=1e-6)
    ivf = FaissIndex(16, IndexConfig(factory="IVF8,Flat", nprobe=8))
    ivf.index(ids, x)  # trained on 128 sampled rows, added in 8 batches
    assert len(ivf) == 1000 and ivf.search(q, 10)[1] == I1  # every list probed: exact
    bad = x.copy()
    bad[-1, 3] = np.inf  # in the last check chunk and the last add batch
    for write in (lambda: batched.index(ids, bad), lambda: batched.upsert(["n1", "n2"], np.vstack([x[:1], bad[-1:]]))):
        with pytest.raises(ValueError, match="NaN or infinity"):
            write()
    assert len(batched) == 1000 and batched.search(q, 10)[1] == I1
