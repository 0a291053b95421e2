"""``--device`` resolution and the FAISS GPU path's routing (k above the GPU cap → CPU).

No GPU here: the GPU copy is stood in for by a real FAISS CPU clone behind the same capped,
locked searcher the GPU copy uses, so the routing is what runs; results are checked against
an exact ``IndexFlatIP``.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
from typer.testing import CliRunner

from kgjemb.device import DEVICE_ENV, Device, cuda_available, default_device, resolve_device, set_default_device
from kgjemb.errors import DeviceError
from kgjemb.index.faiss_index import GPU_MAX_K, FaissIndex, IndexConfig, _GpuSearcher, import_faiss


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)


def test_resolution(clean_env, monkeypatch):
    here = "cuda" if cuda_available() else "cpu"
    assert resolve_device("cpu") == "cpu" and resolve_device(Device.cpu) == "cpu"
    assert resolve_device("auto") == here and resolve_device(None) == here == default_device()
    with pytest.raises(DeviceError, match=r"choose from \['auto', 'cpu', 'cuda'\]"):
        resolve_device("tpu")
    if not cuda_available():
        with pytest.raises(DeviceError, match="no CUDA device"):
            resolve_device("cuda")
    assert set_default_device("cpu") == "cpu"
    assert default_device() == "cpu"
    monkeypatch.setenv(DEVICE_ENV, "auto")
    assert default_device() == here


@pytest.mark.skipif(cuda_available(), reason="checks the error for a machine without CUDA")
def test_cli_device_cuda_without_gpu_is_a_usage_error(clean_env, tmp_path):
    from kgjemb.cli import app

    res = CliRunner().invoke(app, ["search", "slow", "--bundle", str(tmp_path), "--device", "cuda"])
    assert res.exit_code == 2 and "no CUDA device" in res.output
    res = CliRunner().invoke(app, ["index", "build", "--home", str(tmp_path), "--device", "tpu"])
    assert res.exit_code == 2 and "tpu" in res.output


def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((20, dim))[rng.integers(0, 20, n)] + 0.3 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_k_above_the_gpu_cap_searches_the_cpu_master(clean_env):
    faiss = import_faiss()
    x = _clustered(300, 16)
    ids = [f"t{i}" for i in range(300)]
    idx = FaissIndex(16, IndexConfig(factory="Flat", gpu=False))
    idx.index(ids, x)
    assert idx._gpu is None  # gpu=False: never a GPU copy
    exact = faiss.IndexFlatIP(16)
    exact.add(x)
    q = _clustered(5, 16, seed=1)
    # the GPU copy's stand-in: a real FAISS clone behind the capped, locked searcher
    idx._gpu = _GpuSearcher(faiss.clone_index(idx._index), max_k=8)
    with pytest.raises(ValueError, match="at most 8"):
        idx._gpu.search(q, 9)
    for k, via_gpu in ((8, 1), (9, 0), (300, 0), (10_000, 0)):
        before = idx._gpu.searches
        D, I = idx.search(q, k)
        assert idx._gpu.searches - before == via_gpu
        kk = min(k, 300)
        D_ref, I_ref = exact.search(q, kk)
        assert D.shape == (5, kk) and all(len(row) == kk for row in I)
        np.testing.assert_allclose(D, D_ref, atol=1e-5)
        # ids in the exact order up to ties
        assert [set(row[:3]) for row in I] == [{ids[j] for j in r[:3]} for r in I_ref]
    assert GPU_MAX_K == 2048


def test_capped_searcher_is_safe_under_threads(clean_env):
    faiss = import_faiss()
    x = _clustered(500, 16)
    idx = FaissIndex(16, IndexConfig(factory="Flat", gpu=False))
    idx.index([f"t{i}" for i in range(500)], x)
    idx._gpu = _GpuSearcher(faiss.clone_index(idx._index), max_k=64)
    q = _clustered(40, 16, seed=2)
    want = idx._index.search(q, 32)[1]
    errors: list = []

    def worker(i: int) -> None:
        for _ in range(10):
            D, I = idx.search(q[i : i + 1], 32)
            if [idx._keys[t] for t in I[0]] != want[i].tolist():
                errors.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and idx._gpu.searches == 80
