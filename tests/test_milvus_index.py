"""The Milvus backend against a real Milvus 2.3 server (``milvus_uri``): the VectorIndex
contract on synthetic data, FAISS Flat vs Milvus FLAT parity on the CI bundle (track
vectors and the checked-in suites' query vectors, with and without filters), and a Milvus
bundle that Bundle.open / Engine.open reconnect to, answering the suites like FAISS."""
from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kgjemb.index import (
    Bundle, BundleContent, FaissIndex, IndexConfig, IndexFilter, ItemFields, MilvusConfig, MilvusIndex,
    fields_from_export, write_bundle,
)
from kgjemb.index.milvus_index import filter_expr
from tests.test_index import clustered
from tests.test_index_filter import FILTERS, reference, synthetic_fields

ROOT = Path(__file__).resolve().parents[1]
K = 10


def collection() -> str:
    return f"kgjemb_test_{uuid.uuid4().hex[:10]}"


def suite_queries() -> list[str]:
    out = []
    for name in ("handwritten.jsonl", "demo-generated.jsonl"):
        out += [json.loads(line)["query"] for line in (ROOT / "queries" / name).read_text().splitlines() if line.strip()]
    return out


@pytest.fixture(scope="module")
def synthetic(milvus_uri):
    n, dim = 3000, 16
    x, q = clustered(n, dim), clustered(20, dim, seed=9)
    ids, fields = [f"t{i}" for i in range(n)], synthetic_fields(n)
    idx = MilvusIndex(dim, MilvusConfig(uri=milvus_uri, collection=collection(), index_type="FLAT"))
    idx.index(ids, x, fields=fields)
    yield idx, x, q, ids, fields
    idx.pm.utility.drop_collection(idx.config.collection, using=idx._alias)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_milvus_flat_filters_match_exact_reference(synthetic, name):
    idx, x, q, ids, fields = synthetic
    f = FILTERS[name]
    D, got = idx.search(q, K, filter=f)
    truth = reference(x, ids, fields, q, f, K)
    assert [set(g) for g in got] == [set(t) for t in truth]
    for row, t in enumerate(truth):
        ref = np.sort(q[row] @ x[[ids.index(i) for i in t]].T)[::-1]
        np.testing.assert_allclose(D[row, : len(t)], ref, atol=1e-4)


def test_milvus_contract_upsert_delete_fetch_fields_save(synthetic, milvus_uri, tmp_path):
    idx, x, q, ids, fields = synthetic
    assert len(idx) == len(ids)
    np.testing.assert_allclose(idx.fetch(["t5", "t1", "t5"]), x[[5, 1, 5]], atol=1e-6)
    with pytest.raises(KeyError, match="nope"):
        idx.fetch(["t1", "nope"])
    assert idx.fields("t3") == fields[3]
    only = IndexFilter(artists_all={"zz"})
    idx.upsert(["t1", "new"], x[[7, 8]], fields=[ItemFields(artists=("zz",)), ItemFields(artists=("zz",), year=1750)])
    try:
        assert len(idx) == len(ids) + 1
        assert sorted(idx.search(q[:1], 5, filter=only)[1][0]) == ["new", "t1"]
        np.testing.assert_allclose(idx.fetch(["t1"]), x[[7]], atol=1e-6)
        assert idx.delete(["new", "absent"]) == 1
        assert idx.search(q[:1], 5, filter=only)[1] == [["t1"]]
        idx.save(tmp_path / "ix")
        assert "token" not in (tmp_path / "ix" / "config.json").read_text()
        back = MilvusIndex.load(tmp_path / "ix")
        assert back.config.collection == idx.config.collection and len(back) == len(ids)
        assert sorted(back.ids) == sorted(ids)
        bad = np.vstack([x[:3], [np.nan] * x.shape[1]])  # the bad row comes after the good ones
        with pytest.raises(ValueError, match="NaN"):
            idx.upsert(["t0", "t1", "t2", "t3"], bad)
        with pytest.raises(ValueError, match="dimension"):
            idx.upsert(["t0"], x[:1, :-1])
        over = ItemFields(artists=tuple(f"a{j}" for j in range(idx.config.max_artists + 1)))
        long_album = ItemFields(album="x" * 513)
        batch = idx.config
        idx.config = replace(batch, batch_size=2)  # the refused track is in the third batch
        try:
            for last, match in ((over, "capacity"), (long_album, "512-byte")):
                bad_fields = [fields[j] for j in range(5)] + [last]
                with pytest.raises(ValueError, match=match):
                    idx.upsert([f"t{j}" for j in range(6)], x[10:16], fields=bad_fields)
        finally:
            idx.config = batch
        assert len(idx) == len(ids) and sorted(idx.ids) == sorted(ids)  # nothing written
        np.testing.assert_allclose(idx.fetch(["t0", "t2", "t3", "t5"]), x[[0, 2, 3, 5]], atol=1e-6)
        idx.upsert(["t2"], x[[2]] * 5.0, fields=[fields[2]])  # stored normalised, batch by batch
        np.testing.assert_allclose(idx.fetch(["t2"]), x[[2]], atol=1e-6)
        idx.tune(ef_search=99, nprobe=7)
        assert (idx.config.ef_search, idx.config.nprobe) == (99, 7)
        assert idx.config.search_params(10)["params"] == {"HNSW": {"ef": 99}, "FLAT": {}}.get(idx.factory, {"nprobe": 7})
        with pytest.raises(TypeError, match="m"):
            idx.tune(m=8)
        with pytest.raises(ValueError, match="nprobe must be positive"):
            idx.tune(nprobe=0)
    finally:
        idx.tune(ef_search=MilvusConfig.ef_search, nprobe=MilvusConfig.nprobe)
        idx.upsert(["t1"], x[[1]], fields=[fields[1]])
    assert idx.fields("t1") == fields[1]


def test_filter_expressions_and_config_errors():
    assert filter_expr(None) == filter_expr(IndexFilter()) == ""
    assert filter_expr(IndexFilter(deny_ids={'a"b'})) == 'id not in ["a\\"b"]'
    with pytest.raises(ValueError, match="collection"):
        MilvusConfig(collection="bad-name")
    with pytest.raises(ValueError, match="choose from"):
        MilvusConfig(index_type="DISKANN_X")
    with pytest.raises(ValueError, match="uri"):
        MilvusConfig(uri="localhost:19530")


def test_unreachable_milvus_is_a_store_error():
    from kgjemb.errors import StoreError

    with pytest.raises(StoreError, match="cannot reach Milvus at http://127.0.0.1:9"):
        MilvusIndex(8, MilvusConfig(uri="http://127.0.0.1:9", connect_timeout=2))


# -- the CI bundle ------------------------------------------------------------------------

def bundle_filters(bundle: Bundle) -> dict[str, IndexFilter | None]:
    """Filters the engine could push down, picked from the bundle's own graph."""
    fields = fields_from_export(bundle.export, bundle.track_ids)
    artists = [a for f in fields for a in f.artists]
    top = max(set(artists), key=artists.count)
    attrs = [a for f in fields for a in f.attributes]
    common = sorted(set(attrs), key=lambda a: (-attrs.count(a), a))
    years = sorted(f.year for f in fields if f.year is not None)
    return {
        "none": None,
        "by_artist": IndexFilter(artists_all={top}),
        "not_by_artist": IndexFilter(artists_none={top}),
        "attribute_not_attribute": IndexFilter(attributes_all={common[0]}, attributes_none={common[1]}),
        "years": IndexFilter(year_min=years[len(years) // 4], year_max=years[3 * len(years) // 4]),
        "deny": IndexFilter(deny_ids=set(bundle.track_ids[::3])),
    }


@pytest.fixture(scope="module")
def milvus_bundle(bundle_dir, milvus_uri, tmp_path_factory):
    """The CI bundle with its index moved to a Milvus FLAT collection (same vectors, fields)."""
    faiss_bundle = Bundle.open(bundle_dir)
    index = MilvusIndex(faiss_bundle.dim, MilvusConfig(uri=milvus_uri, collection=collection(), index_type="FLAT"))
    index.index(faiss_bundle.track_ids, faiss_bundle.track_vectors,
                fields=fields_from_export(faiss_bundle.export, faiss_bundle.track_ids))
    c = faiss_bundle.content
    content = BundleContent(index, c.track_ids, c.track_vectors, c.entities, c.export, c.model_checksum,
                            extra={"graph_digest": faiss_bundle.manifest.get("graph_digest")})
    path = write_bundle(tmp_path_factory.mktemp("milvus-bundle") / "bundle", content, model_dir=None,
                        reuse_model_from=bundle_dir)
    yield faiss_bundle, path
    index.pm.utility.drop_collection(index.config.collection, using=index._alias)


def test_faiss_flat_and_milvus_flat_agree_on_the_ci_bundle(milvus_bundle):
    faiss_bundle, path = milvus_bundle
    bundle = Bundle.open(path)
    assert bundle.manifest["index"] == {"backend": "milvus", "uri": bundle.index.config.uri,
                                        "collection": bundle.index.config.collection, "factory": "FLAT"}
    assert isinstance(bundle.index, MilvusIndex) and len(bundle.index) == len(faiss_bundle.track_ids)
    faiss_index = FaissIndex(faiss_bundle.dim, IndexConfig(factory="Flat"))
    faiss_index.index(faiss_bundle.track_ids, faiss_bundle.track_vectors,
                      fields=fields_from_export(faiss_bundle.export, faiss_bundle.track_ids))
    model = faiss_bundle.load_model()
    text = np.asarray(model.embed_text(suite_queries()), dtype=np.float32)  # (n_queries, dim)
    queries = np.concatenate([faiss_bundle.track_vectors, text])
    compared = 0
    for name, f in bundle_filters(faiss_bundle).items():
        D1, I1 = faiss_index.search(queries, K, filter=f)
        D2, I2 = bundle.index.search(queries, K, filter=f)
        np.testing.assert_allclose(D1, D2, atol=1e-4, err_msg=name)
        # same top-10; positions may swap only between near-equal scores, and a track may
        # trade places with one just outside the top-10 only when both tie with the last kept
        for row, (a, b) in enumerate(zip(I1, I2)):
            a, b = list(a), list(b)
            if a != b:
                assert len(a) == len(b), (name, row)
                last = len(a) - 1
                for t in set(a) - set(b):
                    assert np.isclose(D1[row, a.index(t)], D1[row, last], atol=1e-4), (name, row, t)
                for t in set(b) - set(a):
                    assert np.isclose(D2[row, b.index(t)], D2[row, last], atol=1e-4), (name, row, t)
        compared += sum(map(len, I1))
        np.testing.assert_allclose(bundle.index.fetch(I2[0]), faiss_index.fetch(I2[0]), atol=1e-6)
    assert compared > 0


def test_engine_on_a_milvus_bundle_answers_the_suites_like_faiss(milvus_bundle, engine):
    from kgjemb.query.engine import Engine

    faiss_bundle, path = milvus_bundle
    milvus_engine = Engine.open(path, model=engine.model, parser=engine.parser)
    assert isinstance(milvus_engine.index, MilvusIndex)
    queries = suite_queries()
    for a, b in zip(engine.search_batch(queries, k=K), milvus_engine.search_batch(queries, k=K)):
        assert [h.track_id for h in a.hits] == [h.track_id for h in b.hits], a.query


def test_serve_on_a_milvus_bundle_answers_like_faiss(milvus_bundle, engine):
    """The HTTP service opened on the Milvus bundle (reconnecting from its manifest) answers
    the checked-in suites with the FAISS engine's hits."""
    import time

    from fastapi.testclient import TestClient

    from kgjemb.serve.app import create_app
    from kgjemb.serve.config import ServeConfig

    _, path = milvus_bundle
    queries = suite_queries()
    with TestClient(create_app(path, config=ServeConfig())) as client:
        deadline = time.monotonic() + 120
        while (ready := client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.2)
        assert ready.json()["bundle"]["path"] == str(Path(path).resolve())
        served = []
        for lo in range(0, len(queries), 64):  # the default max_batch
            r = client.post("/v1/search/batch",
                            json={"queries": [{"query": q, "k": K, "explain": False} for q in queries[lo:lo + 64]]})
            assert r.status_code == 200, r.text
            served += r.json()["results"]
    assert len(served) == len(queries)
    for got, want in zip(served, engine.search_batch(queries, k=K)):
        assert [h["track_id"] for h in got["hits"]] == [h.track_id for h in want.hits], want.query
