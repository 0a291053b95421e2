"""The ONNX text path against the PyTorch text tower it was exported from (real MiniLM).

Every query of the suites (queries/*.jsonl) is embedded both ways: the float graph must
agree with PyTorch to float precision, the int8 graph (the CPU default) to cosine ≥ 0.99.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from kgjemb.model import KGJointModel, ModelConfig, load_model, load_text_model
from kgjemb.model.text_onnx import onnx_file

ROOT = Path(__file__).resolve().parents[1]


def suite_queries() -> list[str]:
    out = []
    for path in sorted((ROOT / "queries").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                out.append(json.loads(line)["query"])
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A saved model (untrained projection head, seeded: a random head checks that the
    head went into the graph at all) next to an empty cache directory."""
    root = tmp_path_factory.mktemp("onnx")
    KGJointModel(ModelConfig(dim=128), cache_dir=False, device="cpu", seed=3).save(root / "model")
    return root / "model"


@pytest.fixture(scope="module")
def torch_vectors(model_dir) -> np.ndarray:
    return load_model(model_dir, device="cpu", cache_dir=False).embed_text(suite_queries())  # (n, 128)


@pytest.mark.parametrize("quantized, floor", [(False, 0.99999), (True, 0.99)])
def test_onnx_matches_pytorch_on_the_suites(model_dir, torch_vectors, tmp_path_factory, quantized, floor, caplog):
    cache = tmp_path_factory.mktemp("cache")
    with caplog.at_level(logging.DEBUG):
        model = load_text_model(model_dir, cache_dir=cache, device="cpu", quantized=quantized)
    # the export logs under kgjemb's loggers only (the quantizer's root INFO lines and advice are dropped)
    assert [r.getMessage() for r in caplog.records if r.name == "root"] == []
    assert any(r.name.startswith("kgjemb.") and "exported the text tower" in r.getMessage() for r in caplog.records)
    queries = suite_queries()
    assert len(queries) > 100
    vectors = model.embed_text(queries)  # (n, 128)
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    cosine = (vectors * torch_vectors).sum(1)  # both unit vectors
    worst = int(np.argmin(cosine))
    assert cosine.min() >= floor, f"{queries[worst]!r}: cosine {cosine.min():.5f}"
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # cached under the cache dir, keyed by the model's checksum, and reused
    path = onnx_file(cache, model.config, model.checksum(), quantized=quantized)
    assert path.is_file() and [p.name for p in (cache / "text-onnx").iterdir()] == [path.name]
    stamp = path.stat().st_mtime_ns
    again = load_text_model(model_dir, cache_dir=cache, device="cpu", quantized=quantized)
    assert path.stat().st_mtime_ns == stamp
    # another batch (other padding) gives the same vectors, to the graph's precision
    assert ((again.embed_text(queries[:3]) * vectors[:3]).sum(1) >= floor).all()


def test_text_model_surface(model_dir, tmp_path):
    model = load_text_model(model_dir, cache_dir=tmp_path, device="cpu")
    assert model.checksum() == load_model(model_dir, device="cpu", cache_dir=False).checksum()
    assert model.dim == 128 and model.embed_text([]).shape == (0, 128)
    first = model.embed_text(["slow sad piano", "fast reel"])
    assert model.cache_hits == 0
    np.testing.assert_array_equal(model.embed_text(["fast reel"])[0], first[1])
    assert model.cache_hits == 1
    # int8 (dynamic ranges per run): a text's vector must not depend on what is encoded with it
    long = "a long description of a stormy orchestral symphony with brass and timpani in a minor key"
    fresh = load_text_model(model_dir, cache_dir=tmp_path, device="cpu")
    np.testing.assert_array_equal(fresh.embed_text(["fast reel", long])[0], first[1])
    np.testing.assert_array_equal(model.encoder([long, "slow sad piano"])[1], first[0])
    with pytest.raises(TypeError, match="not one string"):
        model.embed_text("slow")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        model.embed_text(["slow", 3])


def test_int8_on_the_trained_ci_model(trained_model_dir, tmp_path):
    """The same floor for a trained projection head (the CI model), the one queries use."""
    queries = suite_queries()
    reference = load_model(trained_model_dir, device="cpu", cache_dir=False).embed_text(queries)  # (n, dim)
    vectors = load_text_model(trained_model_dir, cache_dir=tmp_path, device="cpu").embed_text(queries)
    cosine = (vectors * reference).sum(1)
    assert cosine.min() >= 0.99, f"{queries[int(cosine.argmin())]!r}: cosine {cosine.min():.5f}"


def test_int8_texts_side_by_side_equal_one_after_another(model_dir, tmp_path):
    """The int8 path runs a call's texts on several threads, each alone: the vectors are
    exactly those of one run per text, in the given order, whatever the number of workers."""
    from kgjemb.model.text_onnx import OnnxTextEncoder

    model = load_text_model(model_dir, cache_dir=tmp_path, device="cpu")
    enc = model.encoder
    assert enc.per_text and enc.workers >= 1
    texts = suite_queries()[:40] + ["slow", "a long description of a stormy orchestral symphony in a minor key"]
    one_by_one = np.concatenate([enc([t]) for t in texts])
    for workers in (1, 2, 4):
        other = OnnxTextEncoder(enc.path, encoder_package=model.config.text_encoder,
                                max_length=model.config.text_max_length, per_text=True, workers=workers)
        assert other.workers == workers
        np.testing.assert_array_equal(other(texts), one_by_one)
