"""Scale figures for the vector backends, side by side in one run: FAISS HNSW, FAISS IVF-PQ
and Milvus (HNSW, over gRPC) at 10^5, 10^6 (10^7 where RAM and time allow) synthetic
clustered unit vectors of dimension 128, each through kgjemb's own ``VectorIndex`` wrapper.

Per backend and size: build time (insert + train/index + load), memory per million
vectors (FAISS: serialised index bytes; Milvus: growth of the server's RSS), single-query
latency p50/p99 (one query per call, like a serving request), recall@10 against an exact
IndexFlatIP, and the same with a pushed-down filter passing ~10% of the items (a year range).

    .venv/bin/python scripts/bench_scale.py                                   # 1e5 and 1e6, all backends
    .venv/bin/python scripts/bench_scale.py --sizes 100000 --queries 300
    .venv/bin/python scripts/bench_scale.py --milvus-uri http://127.0.0.1:19530  # an already running server
    .venv/bin/python scripts/bench_scale.py --json runs/bench_scale.json
    .venv/bin/python scripts/bench_scale.py --sizes 100000,1000000,10000000 --ef-search 64,128,256

Without ``--milvus-uri`` a private server is started with ``scripts/milvus-dev`` and stopped
at the end. Vectors are clustered (uniform random vectors make every ANN look bad): 1,000
centres, variation in a 16-d subspace, a little isotropic noise. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kgjemb.index import FaissIndex, IndexConfig, IndexFilter, ItemFields, MilvusConfig, MilvusIndex
from kgjemb.index.faiss_index import import_faiss

ROOT = Path(__file__).resolve().parents[1]

DIM = 128
FILTER = IndexFilter(year_min=1700, year_max=1739)  # years are uniform in [1600, 2000): ~10% pass


def clustered(n: int, *, seed: int, clusters: int = 1000, latent: int = 16, chunk: int = 200_000) -> np.ndarray:
    basis = np.random.default_rng(12345)
    centres = basis.standard_normal((clusters, DIM)).astype(np.float32)
    spread = basis.standard_normal((latent, DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)  # (n, 128)
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        x = (centres[rng.integers(0, clusters, m)] + 0.5 * rng.standard_normal((m, latent)).astype(np.float32) @ spread
             + 0.05 * rng.standard_normal((m, DIM)).astype(np.float32))
        out[lo: lo + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def exact(x: np.ndarray, years: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k row numbers, unfiltered and filtered (IndexFlatIP)."""
    faiss = import_faiss()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(x)
    _, plain = flat.search(q, k)
    rows = np.flatnonzero((years >= FILTER.year_min) & (years <= FILTER.year_max))
    sub = faiss.IndexFlatIP(DIM)
    sub.add(x[rows])
    _, fl = sub.search(q, k)
    return plain, rows[fl]


def recall(found: list[list[str]], truth: np.ndarray) -> float:
    hits = sum(len({f"t{j}" for j in t} & set(f)) for f, t in zip(found, truth))
    return hits / truth.size


def latencies(index, q: np.ndarray, k: int, f: IndexFilter | None) -> tuple[list[float], list[list[str]]]:
    times, found = [], []
    for row in q:
        t = time.perf_counter()
        _, ids = index.search(row[None, :], k, filter=f)
        times.append(time.perf_counter() - t)
        found.append(ids[0])
    return times, found


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def make(backend: str, n: int, uri: str | None, ef_search: int):
    nlist = 256 if n < 100_000 else 1024  # FAISS trains on ≤ 256·nlist sampled points
    if backend == "faiss-hnsw":
        return FaissIndex(DIM, IndexConfig(factory="HNSW32", ef_search=ef_search, ef_construction=40))
    if backend == "faiss-ivfpq":
        return FaissIndex(DIM, IndexConfig(factory=f"IVF{nlist},PQ32np", nprobe=32))  # np: no polysemous training (unused; 3x the train time)
    if backend == "milvus-hnsw":
        return MilvusIndex(DIM, MilvusConfig(uri=uri, collection=f"bench_scale_{n}", index_type="HNSW", m=32,
                                             ef_construction=64, ef_search=ef_search))
    raise ValueError(f"unknown backend {backend!r}; choose from faiss-hnsw, faiss-ivfpq, milvus-hnsw")


def faiss_bytes(index) -> int:
    """Serialised size of a :class:`FaissIndex`, streamed to a temporary file (an in-memory
    copy of a 10^7 HNSW is 8 GB)."""
    with tempfile.TemporaryDirectory() as tmp:
        index.faiss.write_index(index._index, f"{tmp}/index.faiss")
        return os.path.getsize(f"{tmp}/index.faiss")


def run_one(backend: str, n: int, x, ids, fields, q, truth, truth_f, k: int, uri, server_pid, *,
            threads: tuple[int, int], ef_search: list[int]) -> list[dict]:
    """Build ``backend`` over ``x`` and measure it; HNSW backends once per ``ef_search``
    value (the first at build time, the others by ``tune``, without rebuilding)."""
    faiss = import_faiss()
    faiss.omp_set_num_threads(threads[0])
    index = make(backend, n, uri, ef_search[0])
    before = rss_bytes(server_pid) if backend.startswith("milvus") and server_pid else 0
    t = time.perf_counter()
    index.index(ids, x, fields=fields)
    build_s = time.perf_counter() - t
    if backend.startswith("faiss"):
        mem = faiss_bytes(index)
    else:
        time.sleep(2.0)
        mem = rss_bytes(server_pid) - before if server_pid else float("nan")
    faiss.omp_set_num_threads(threads[1])
    rows = []
    for ef in (ef_search if "hnsw" in backend else ef_search[:1]):
        if "hnsw" in backend:
            index.tune(ef_search=ef)
        index.search(q[:20], k)  # warm-up
        t_plain, found = latencies(index, q, k, None)
        t_filt, found_f = latencies(index, q, k, FILTER)
        row = {
            "backend": backend, "n": n, "factory": index.factory, "build_s": round(build_s, 1),
            "ef_search": ef if "hnsw" in backend else None,
            "mem_mb_per_million": round(mem / n * 1e6 / 2**20, 1),
            "p50_ms": round(float(np.percentile(t_plain, 50)) * 1e3, 3),
            "p99_ms": round(float(np.percentile(t_plain, 99)) * 1e3, 3),
            "recall_at_10": round(recall(found, truth), 4),
            "filtered_p50_ms": round(float(np.percentile(t_filt, 50)) * 1e3, 3),
            "filtered_p99_ms": round(float(np.percentile(t_filt, 99)) * 1e3, 3),
            "filtered_recall_at_10": round(recall(found_f, truth_f), 4),
            "load_avg": round(os.getloadavg()[0], 2),
        }
        print(f"{backend:<12} n={n:>11,} {row['factory']:<14} ef {str(row['ef_search']):>4} build {row['build_s']:>7.1f}s  "
              f"{row['mem_mb_per_million']:>7.1f} MB/M  p50 {row['p50_ms']:>7.3f} ms  p99 {row['p99_ms']:>7.3f} ms  "
              f"R@10 {row['recall_at_10']:.3f} | filtered p50 {row['filtered_p50_ms']:>7.3f} ms  "
              f"p99 {row['filtered_p99_ms']:>7.3f} ms  R@10 {row['filtered_recall_at_10']:.3f}  "
              f"(load {row['load_avg']})", flush=True)
        rows.append(row)
    if backend.startswith("milvus"):
        index.pm.utility.drop_collection(index.config.collection, using=index._alias)
    del index
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated collection sizes")
    ap.add_argument("--backends", default="faiss-hnsw,faiss-ivfpq,milvus-hnsw")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--milvus-uri", default=None, help="use this server instead of starting one")
    ap.add_argument("--threads", type=int, default=1,
                    help="FAISS OpenMP threads while querying (1: one query per call gains nothing from more, and "
                         "on a shared machine OpenMP spin-waits make single queries slow); builds use all cores")
    ap.add_argument("--ef-search", default="64",
                    help="comma-separated HNSW search breadths, each measured on the same build (recall falls with n "
                         "at a fixed breadth)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here, after each backend")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    faiss = import_faiss()
    build_threads = faiss.omp_get_max_threads()
    backends = args.backends.split(",")
    ef_search = [int(v) for v in args.ef_search.split(",")]
    uri, base, pid = args.milvus_uri, None, None
    if any(b.startswith("milvus") for b in backends) and not uri:
        base = Path(tempfile.mkdtemp(prefix="bench-milvus-"))
        t = time.perf_counter()
        out = subprocess.run([sys.executable, str(ROOT / "scripts" / "milvus-dev"), "start", "--base", str(base)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"Milvus did not start:\n{out.stderr[-3000:]}")
        uri, pid = out.stdout.strip().splitlines()[-1], int((base / "milvus.pid").read_text())
        print(f"milvus server {uri} started in {time.perf_counter() - t:.1f}s (pid {pid})")
    rows = []
    try:
        for n in map(int, args.sizes.split(",")):
            t = time.perf_counter()
            x = clustered(n, seed=0)
            q = clustered(args.queries, seed=1)
            years = np.random.default_rng(2).integers(1600, 2000, n).astype(np.float64)
            ids = [f"t{i}" for i in range(n)]
            fields = [ItemFields(year=float(y)) for y in years]
            truth, truth_f = exact(x, years, q, args.k)
            print(f"-- n={n:,} dim={DIM}: data + exact ground truth in {time.perf_counter() - t:.1f}s", flush=True)
            for backend in backends:
                rows += run_one(backend, n, x, ids, fields, q, truth, truth_f, args.k, uri, pid,
                                threads=(build_threads, args.threads), ef_search=ef_search)
                if args.json:  # a long run keeps what it measured if a later size fails
                    args.json.parent.mkdir(parents=True, exist_ok=True)
                    args.json.write_text(json.dumps(rows, indent=2))
            del x, fields, ids
    finally:
        if base is not None:
            subprocess.run([sys.executable, str(ROOT / "scripts" / "milvus-dev"), "stop", "--base", str(base)],
                           capture_output=True, text=True)
    print("| backend | n | index | ef | build s | MB per 10^6 | p50 ms | p99 ms | recall@10 | filtered p50 ms | "
          "filtered p99 ms | filtered recall@10 |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['n']:,} | {r['factory']} | {r['ef_search'] or ''} | {r['build_s']} | "
              f"{r['mem_mb_per_million']} | {r['p50_ms']} | {r['p99_ms']} | {r['recall_at_10']} | {r['filtered_p50_ms']} | "
              f"{r['filtered_p99_ms']} | {r['filtered_recall_at_10']} |")


if __name__ == "__main__":
    main()
