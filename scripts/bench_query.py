"""Query latency and throughput: p50/p99 and QPS for entity-only, text-only and mixed queries,
one at a time and batched, on the demo bundle and on a synthetic large index; in the same
run, raw FAISS search and the text encoder alone on the same queries, and the engine's
overhead as a ratio (engine time / (FAISS + text encoder time)).

    .venv/bin/python scripts/bench_query.py --bundle .kgjemb/bundle              # demo + 1M synthetic
    .venv/bin/python scripts/bench_query.py --synthetic 200000 --factory HNSW32  # smaller synthetic
    .venv/bin/python scripts/bench_query.py --synthetic 0                        # demo bundle only
    .venv/bin/python scripts/bench_query.py --encoder torch                      # PyTorch text tower

The synthetic index holds clustered unit vectors of the model's dimension (uniform random
vectors would make HNSW look far worse than on real embeddings) with a synthetic graph of
artists (one BY edge per track), so filters and paths run over the same engine code.
``--encoder onnx`` (default) answers with the model's text path on ONNX Runtime (what
``kgjemb search`` and ``Bundle.load_text_model`` use; int8 on the CPU), ``--encoder torch``
with the PyTorch text tower of the full model. Per query type the breakdown is printed:
parser alone, text encoder alone, raw FAISS alone, and the engine end to end.
Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def timed(fn, items) -> list[float]:
    out = []
    for it in items:
        t = time.perf_counter()
        fn(it)
        out.append(time.perf_counter() - t)
    return out


def report(name: str, times: list[float]) -> dict:
    row = {"name": name, "n": len(times), "p50_ms": pct(times, 50), "p99_ms": pct(times, 99),
           "qps": len(times) / sum(times) if sum(times) else float("inf")}
    print(f"  {name:<34} n={row['n']:<5} p50={row['p50_ms']:8.2f} ms  p99={row['p99_ms']:8.2f} ms  QPS={row['qps']:9.1f}")
    return row


def query_sets(engine, n: int, rng: np.random.Generator, *, titles: bool = True) -> dict[str, list[str]]:
    """Entity-only, text-only and mixed queries built from the engine's own graph names."""
    export = engine.bundle.export
    names = [str(x) for x in export.nodes["Artist"]["name"].dropna()] or ["nobody"]
    track_titles = [str(x) for x in export.nodes["Track"]["title"].dropna().head(5000)] or names
    attrs = [str(x) for x in export.nodes["Attribute"]["name"].dropna()] or ["slow", "fast", "piano"]
    words = ["slow", "fast", "melancholic", "bright", "solo", "dance", "quiet", "loud"] + attrs[:40]
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    entity = [f"songs like {pick(names)}" if i % 2 or not titles else f"pieces like {pick(track_titles)}" for i in range(n)]
    text = [f"{pick(words)} {pick(words)}" for _ in range(n)]
    mixed = [f"like {pick(names)} but {pick(words)}, not {pick(words)}" for _ in range(n)]
    return {"entity": entity, "text": text, "mixed": mixed}


def cold(model) -> None:
    """Empty the text model's phrase cache so that every phase below encodes its phrases
    for real; otherwise whichever phase runs second measures cache hits."""
    if hasattr(model, "clear_cache"):  # the ONNX text model
        model.clear_cache()
        return
    cache = getattr(getattr(model, "text", None), "_cache", None)  # the PyTorch tower
    if cache is not None:
        cache.clear()


def bench_engine(engine, label: str, n_queries: int, batch: int, seed: int = 0, *, titles: bool = True) -> list[dict]:
    rng = np.random.default_rng(seed)
    sets = query_sets(engine, n_queries, rng, titles=titles)
    rows = []
    print(f"\n== {label}: {len(engine.track_ids):,} tracks, dim {engine.vectors.shape[1]}, "
          f"factory {engine.index.factory}, fusion {engine.config.fusion}")
    for q in ["warm up", "songs like nobody"]:  # lazy imports, first-call set-up
        engine.search(q, k=10)
    for kind, queries in sets.items():
        cold(engine.model)
        single = report(f"{kind} engine.search", timed(lambda q: engine.search(q, k=10), queries))
        report(f"{kind} engine.search (text cached)", timed(lambda q: engine.search(q, k=10), queries))
        chunks = [queries[i : i + batch] for i in range(0, len(queries), batch)]
        cold(engine.model)
        per_batch = timed(lambda qs: engine.search_batch(qs, k=10), chunks)
        per_query = [t / len(c) for t, c in zip(per_batch, chunks)]
        batched = report(f"{kind} search_batch({batch}) per query", per_query)
        # the same queries through the parser only, the text encoder only and FAISS only
        parsed = [engine.parser.parse(q) for q in queries]
        texts = [p.phrases + p.negations for p in parsed]
        cold(engine.model)
        enc = report(f"{kind} text encoder alone", timed(lambda t: engine.model.embed_text(t) if t else None, texts))
        parse = report(f"{kind} parser alone", timed(engine.parser.parse, queries))
        qvecs = []
        for p, t in zip(parsed, texts):
            vs = [engine.model.embed_text(t)] if t else []
            for e in p.entities:
                if e.role == "like" and e.id and e.label in engine.entity_row and e.id in engine.entity_row[e.label]:
                    vs.append(engine.entity_vectors[e.label][engine.entity_row[e.label][e.id]][None, :])
            qvecs.append(np.concatenate(vs).astype(np.float32) if vs else None)
        fetch = min(len(engine.track_ids), max(10 * engine.config.overfetch, engine.config.min_candidates))
        raw = report(f"{kind} raw FAISS search alone", timed(lambda v: engine.index.search(v, fetch) if v is not None else None, qvecs))
        base = enc["p50_ms"] + raw["p50_ms"]
        ratio = single["p50_ms"] / base if base > 0 else float("inf")
        print(f"  {kind}: engine p50 / (text encoder + FAISS) p50 = {ratio:.2f}x "
              f"(parser p50 {parse['p50_ms']:.2f} ms of it); batched speed-up {single['p50_ms'] / max(batched['p50_ms'], 1e-9):.2f}x")
        rows += [single, batched, enc, parse, raw]
    return rows


def clustered(n: int, dim: int, seed: int = 0, clusters: int = 1000, latent: int = 16) -> np.ndarray:
    basis = np.random.default_rng(12345)
    centres = basis.standard_normal((clusters, dim)).astype(np.float32)
    spread = basis.standard_normal((latent, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 100_000):  # chunks: bounded temporary memory
        m = min(100_000, n - s)
        x = (centres[rng.integers(0, clusters, m)] + 0.4 * rng.standard_normal((m, latent)).astype(np.float32) @ spread
             + 0.05 * rng.standard_normal((m, dim)).astype(np.float32))
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def synthetic_engine(real, n: int, factory: str, ef_search: int):
    """An Engine over n synthetic tracks sharing the real engine's model and parser style."""
    from kgjemb.graph.frames import build_export
    from kgjemb.index.bundle import Bundle, BundleContent
    from kgjemb.index.faiss_index import FaissIndex, IndexConfig
    from kgjemb.query.engine import Engine
    from kgjemb.query.parse import QueryParser
    from kgjemb.query.snapshot import GraphSnapshot

    dim = real.vectors.shape[1]
    n_artists = max(10, n // 100)
    t = time.perf_counter()
    x = clustered(n, dim)
    ids = [f"s{i:07d}" for i in range(n)]
    artist_of = np.random.default_rng(1).integers(0, n_artists, n)
    print(f"\n[synthetic] {n:,}×{dim} clustered vectors in {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    index = FaissIndex(dim, IndexConfig(factory=factory, ef_search=ef_search))
    index.index(ids, x)
    print(f"[synthetic] built {index.factory} in {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    artists = [{"id": f"sa{j}", "name": f"Synth Artist {j}"} for j in range(n_artists)]
    attrs = real.bundle.export.nodes["Attribute"].to_dict("records")
    export = build_export(
        {"Artist": artists, "Track": [{"id": i, "title": f"Synthetic {i}"} for i in ids], "Attribute": attrs},
        {("Track", "BY", "Artist"): [{"src": i, "dst": f"sa{a}", "role": "primary"} for i, a in zip(ids, artist_of)]},
    )
    sums = np.zeros((n_artists, dim), dtype=np.float32)
    np.add.at(sums, artist_of, x)
    entities = {"Artist": sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9), "Track": x,
                "Album": np.zeros((0, dim), np.float32), "Attribute": np.zeros((len(attrs), dim), np.float32)}
    content = BundleContent(index, ids, x, entities, export, "synthetic")
    bundle = Bundle(Path("<synthetic>"), {"dim": dim}, content)
    # the parser only needs names: artists + attributes (not a million titles)
    names = build_export({"Artist": artists[:2000], "Attribute": attrs}, {})
    snapshot = GraphSnapshot(export, ids, rel_weights=real.config.rel_weights)
    engine = Engine(bundle, model=real.model, parser=QueryParser.from_export(names), snapshot=snapshot,
                    config=real.config)
    print(f"[synthetic] graph + engine set-up in {time.perf_counter() - t:.1f}s")
    return engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=".kgjemb/bundle", help="demo bundle directory")
    ap.add_argument("--queries", type=int, default=200, help="queries per kind")
    ap.add_argument("--batch", type=int, default=32, help="queries per search_batch call")
    ap.add_argument("--synthetic", type=int, default=1_000_000, help="synthetic index size (0: skip)")
    ap.add_argument("--factory", default="HNSW32", help="FAISS factory of the synthetic index")
    ap.add_argument("--ef-search", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch/FAISS threads while querying (0: library default); index builds use the default")
    ap.add_argument("--encoder", choices=["onnx", "torch"], default="onnx",
                    help="text encoder: the ONNX text path (default) or the PyTorch tower")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="text encoder and FAISS device")
    ap.add_argument("--home", default=None, help="kgjemb home whose cache holds the exported text path")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    from kgjemb.device import set_default_device
    from kgjemb.index.bundle import Bundle
    from kgjemb.paths import cache_dir
    from kgjemb.query.engine import Engine, set_threads

    device = set_default_device(args.device)
    default_threads = torch.get_num_threads()
    query_threads = args.threads or default_threads
    print(f"threads: {default_threads} for index builds, {query_threads} while querying; device {device}")
    t = time.perf_counter()
    bundle = Bundle.open(args.bundle, cache_dir=cache_dir(args.home))
    model = bundle.load_text_model() if args.encoder == "onnx" else bundle.load_model()
    engine = Engine.open(bundle, model=model)
    kind = f"ONNX Runtime ({model.encoder.path.name})" if args.encoder == "onnx" else "PyTorch text tower"
    print(f"opened {args.bundle} in {time.perf_counter() - t:.1f}s; text encoder: {kind}")
    set_threads(query_threads)
    bench_engine(engine, "demo bundle", args.queries, args.batch)
    if args.synthetic > 0:
        set_threads(default_threads)
        big = synthetic_engine(engine, args.synthetic, args.factory, args.ef_search)
        set_threads(query_threads)
        # its parser knows artist names only (not a million titles): entity queries name artists
        bench_engine(big, f"synthetic {args.synthetic:,}", args.queries, args.batch, titles=False)


if __name__ == "__main__":
    main()
