"""Query latency and throughput: p50/p99 and QPS for entity-only, text-only and mixed queries,
one at a time and batched, on the demo bundle and on a synthetic large index; in the same
run, raw FAISS search and the text encoder alone on the same queries, and the engine's
overhead as a ratio (engine time / (FAISS + text encoder time)).

    .venv/bin/python scripts/bench_query.py --bundle .kgjemb/bundle              # demo + 1M synthetic
    .venv/bin/python scripts/bench_query.py --synthetic 200000 --factory HNSW32  # smaller synthetic
    .venv/bin/python scripts/bench_query.py --synthetic 0                        # demo bundle only
    .venv/bin/python scripts/bench_query.py --encoder torch                      # PyTorch text tower

The synthetic index holds clustered unit vectors of the model's dimension (uniform random
vectors would make HNSW look far worse than on real embeddings) with a catalog-shaped graph
(artists, albums, attributes, composers, VERSION_OF, SIMILAR_TO, INFLUENCED_BY; see
:func:`synthetic_graph`) and the index's scalar fields, so the graph walk, attribute facts,
pushed-down filters and explanation paths all run. ``--index-cache DIR`` keeps the built
index between runs (a 1M HNSW32 build takes minutes).
``--encoder onnx`` (default) answers with the model's text path on ONNX Runtime (what
``kgjemb search`` and ``Bundle.load_text_model`` use; int8 on the CPU), ``--encoder torch``
with the PyTorch text tower of the full model. Per query type the breakdown is printed:
parser alone, text encoder alone, raw FAISS alone, the engine end to end, and the engine's
own stages (parse, encode, faiss, graph walk, facts, fusion, hits, other; see
:class:`Stages`). Each engine is settled before it is timed, as ``kgjemb serve`` settles
one after each bundle load (:func:`kgjemb.collector.settle`: one full collection,
then what is alive is frozen out of later ones); without it a full collection over the
10^6-track engine's ~4.3 million objects pauses a query for over a second now and then.

    .venv/bin/python scripts/bench_query.py --bundle .kgjemb/bundle --skip-demo --synthetic 1000000 \
        --index-cache /tmp/kgjemb-bench                                        # the issue-12 figures
Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import replace
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


def cold(engine) -> None:
    """Empty the text model's phrase cache and the graph's kept walks, so that every phase
    below encodes its phrases and walks from its anchors for real; otherwise whichever
    phase runs second measures cache hits."""
    graph = getattr(getattr(engine, "snapshot", None), "graph", None)
    if graph is not None:
        graph.clear_walks()
    model = engine.model
    if hasattr(model, "clear_cache"):  # the ONNX text model
        model.clear_cache()
        return
    cache = getattr(getattr(model, "text", None), "_cache", None)  # the PyTorch tower
    if cache is not None:
        cache.clear()


STAGES = ("parse", "encode", "faiss", "graph walk", "facts", "fusion", "hits")


class Stages:
    """Per-stage self time of one engine call, by wrapping the functions the engine calls
    (a stage nested in another counts only for itself): parse (the parser), encode (the
    text encoder), faiss (every index call: search, fetch, select, passing, by id or by
    row: ``engine.rows``), graph walk (the walk,
    anchor profiles and reading proximity scores), facts (attribute-fact signals and their
    scores), fusion (exact scores and fusion) and hits (hits and explanation paths);
    ``other`` is the rest (routing, filters, candidate bookkeeping)."""

    def __init__(self, engine) -> None:
        import dataclasses

        import kgjemb.query.engine as module

        self.engine, self.module = engine, module
        self.totals: dict[str, float] = {}
        self._stack: list[float] = []
        self._undo: list = []

        def signals(name):
            def patch(fn):
                def inner(*a, **kw):
                    out = fn(*a, **kw)
                    first, *rest = out
                    if isinstance(first, list):
                        first = [dataclasses.replace(s, score=self.wrap(name, s.score)) for s in first]
                    else:
                        first = dataclasses.replace(first, score=self.wrap(name, first.score))
                    return (first, *rest)
                return self.wrap(name, inner)
            return patch

        wrap = {"make_hits": ("hits", None), "raw_scores": ("fusion", None), "fuse": ("fusion", None),
                "proximity_signal": ("graph walk", signals("graph walk")), "fact_signals": ("facts", signals("facts"))}
        for attr, (name, how) in wrap.items():
            if hasattr(module, attr):
                fn = getattr(module, attr)
                self._undo.append((module, attr, fn, False))
                setattr(module, attr, how(fn) if how else self.wrap(name, fn))
        for obj, attrs, name in ((engine.parser, ("parse_batch",), "parse"), (engine.model, ("embed_text",), "encode"),
                                 (engine.index, ("search", "fetch", "select"), "faiss"),
                                 (engine.rows, ("search", "fetch", "select", "passing"), "faiss")):
            for attr in attrs:
                if hasattr(obj, attr):
                    self._undo.append((obj, attr, getattr(obj, attr), True))
                    setattr(obj, attr, self.wrap(name, getattr(obj, attr)))

    def wrap(self, name: str, fn):
        def inner(*a, **kw):
            self._stack.append(0.0)
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                took = time.perf_counter() - t
                child = self._stack.pop()
                self.totals[name] = self.totals.get(name, 0.0) + took - child
                if self._stack:
                    self._stack[-1] += took
        return inner

    def close(self) -> None:
        for obj, attr, fn, instance in reversed(self._undo):
            if instance:
                delattr(obj, attr)  # back to the class's method
            else:
                setattr(obj, attr, fn)

    def run(self, queries: list[str], k: int = 10) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {s: [] for s in (*STAGES, "other", "total")}
        for q in queries:
            self.totals = {}
            t = time.perf_counter()
            self.engine.search(q, k=k)
            total = time.perf_counter() - t
            for s in STAGES:
                out[s].append(self.totals.get(s, 0.0))
            out["other"].append(total - sum(self.totals.values()))
            out["total"].append(total)
        return out


def breakdown(engine, kind: str, queries: list[str]) -> None:
    cold(engine)
    stages = Stages(engine)
    try:
        got = stages.run(queries)
    finally:
        stages.close()
    cells = "  ".join(f"{s} {pct(v, 50):.2f}/{np.mean(v) * 1000:.2f}" for s, v in got.items())
    print(f"  {kind} stages, ms p50/mean (cold text cache): {cells}")


def bench_engine(engine, label: str, n_queries: int, batch: int, seed: int = 0, *, titles: bool = True) -> list[dict]:
    rng = np.random.default_rng(seed)
    sets = query_sets(engine, n_queries, rng, titles=titles)
    rows = []
    print(f"\n== {label}: {len(engine.track_ids):,} tracks, dim {engine.bundle.dim}, "
          f"factory {engine.index.factory}, fusion {engine.config.fusion}")
    # steady state, as a server is after its first requests: lazy imports and the engine's
    # lazily built structures (the parser's fuzzy-match lists, filter masks) warmed by 30 queries of each
    # kind drawn with another seed; the measured queries' phrases are still encoded cold and
    # their anchors walked afresh (cold() empties both caches), then once more with both warm
    for qs in query_sets(engine, 30, np.random.default_rng(seed + 1), titles=titles).values():
        for q in qs:
            engine.search(q, k=10)
    for kind, queries in sets.items():
        cold(engine)
        single = report(f"{kind} engine.search", timed(lambda q: engine.search(q, k=10), queries))
        report(f"{kind} engine.search (caches warm)", timed(lambda q: engine.search(q, k=10), queries))
        chunks = [queries[i : i + batch] for i in range(0, len(queries), batch)]
        cold(engine)
        per_batch = timed(lambda qs: engine.search_batch(qs, k=10), chunks)
        per_query = [t / len(c) for t, c in zip(per_batch, chunks)]
        batched = report(f"{kind} search_batch({batch}) per query", per_query)
        # the same queries through the parser only, the text encoder only and FAISS only
        parsed = [engine.parser.parse(q) for q in queries]
        texts = [p.phrases + p.negations for p in parsed]
        cold(engine)
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
        breakdown(engine, kind, queries)
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


def synthetic_graph(ids: list[str], attrs: list[dict], *, seed: int = 1):
    """A catalog-shaped graph over the synthetic tracks: ~100 tracks per artist, albums of
    10 tracks by one artist, 3 attributes per track and 2 per artist (from the real
    bundle's attribute nodes), years on half the tracks and on the albums, 10% of tracks
    with a second (composer) credit, 2% VERSION_OF links, 5 SIMILAR_TO and 1 INFLUENCED_BY
    per artist. Returns the export and each track's primary artist (index into artists)."""
    from kgjemb.graph.frames import build_export_from_columns

    rng = np.random.default_rng(seed)
    n = len(ids)
    n_artists = max(10, n // 100)
    n_albums = max(1, n // 10)
    album_of = np.arange(n) // 10  # (n,) ten consecutive tracks per album
    album_artist = rng.integers(0, n_artists, n_albums)  # (n_albums,)
    artist_of = album_artist[album_of]  # (n,)
    art = [f"sa{j}" for j in range(n_artists)]
    alb = [f"sl{j}" for j in range(n_albums)]
    attr_ids = [str(a["id"]) for a in attrs]
    n_attr = len(attr_ids)
    track_year = np.where(rng.random(n) < 0.5, rng.integers(1600, 2020, n), -1)
    born = rng.integers(1550, 1990, n_artists)
    t_attr = rng.integers(0, n_attr, (n, 3)) if n_attr else np.zeros((n, 0), dtype=np.int64)
    a_attr = rng.integers(0, n_attr, (n_artists, 2)) if n_attr else np.zeros((n_artists, 0), dtype=np.int64)
    has_t = sorted({(ids[i], attr_ids[c]) for i, c in zip(np.repeat(np.arange(n), t_attr.shape[1]), t_attr.ravel())})
    has_a = sorted({(art[i], attr_ids[c]) for i, c in zip(np.repeat(np.arange(n_artists), a_attr.shape[1]), a_attr.ravel())})
    extra = np.flatnonzero(rng.random(n) < 0.1)
    composers = rng.integers(0, n_artists, len(extra))
    ver = np.flatnonzero(rng.random(n) < 0.02)
    ver_dst = rng.integers(0, n, len(ver))
    ok = ver_dst != ver
    sim_src = np.repeat(np.arange(n_artists), 5)
    sim_dst = rng.integers(0, n_artists, len(sim_src))
    inf_dst = rng.integers(0, n_artists, n_artists)
    cols = lambda pairs, **kw: {"src": [a for a, _ in pairs], "dst": [b for _, b in pairs], **kw}  # noqa: E731
    by = [(ids[i], art[a]) for i, a in enumerate(artist_of.tolist())]
    by_extra = [(ids[i], art[a]) for i, a in zip(extra.tolist(), composers.tolist()) if a != artist_of[i]]
    nodes = {
        "Artist": {"id": art, "name": [f"Synth Artist {j}" for j in range(n_artists)],
                   "born": born.tolist(), "died": (born + 70).tolist()},
        "Album": {"id": alb, "title": [f"Synthetic Album {j}" for j in range(n_albums)],
                  "year": rng.integers(1600, 2020, n_albums).tolist()},
        "Track": {"id": ids, "title": [f"Synthetic {i}" for i in ids],
                  "year": [int(y) if y >= 0 else None for y in track_year.tolist()]},
        "Attribute": {"id": attr_ids, "name": [a["name"] for a in attrs], "kind": [a["kind"] for a in attrs]},
    }
    edges = {
        ("Track", "BY", "Artist"): cols(by + by_extra, role=["primary"] * len(by) + ["composer"] * len(by_extra)),
        ("Track", "ON", "Album"): cols([(ids[i], alb[a]) for i, a in enumerate(album_of.tolist())]),
        ("Album", "BY", "Artist"): cols([(alb[j], art[a]) for j, a in enumerate(album_artist.tolist())]),
        ("Track", "HAS", "Attribute"): cols(has_t),
        ("Artist", "HAS", "Attribute"): cols(has_a),
        ("Track", "VERSION_OF", "Track"): cols([(ids[a], ids[b]) for a, b in zip(ver[ok].tolist(), ver_dst[ok].tolist())]),
        ("Artist", "SIMILAR_TO", "Artist"): cols([(art[a], art[b]) for a, b in zip(sim_src.tolist(), sim_dst.tolist()) if a != b]),
        ("Artist", "INFLUENCED_BY", "Artist"): cols([(art[a], art[b]) for a, b in enumerate(inf_dst.tolist()) if a != b]),
    }
    return build_export_from_columns(nodes, edges), artist_of


def synthetic_engine(real, n: int, factory: str, ef_search: int, cache: Path | None, *, config=None):
    """An Engine over n synthetic tracks sharing the real engine's model and parser style:
    clustered vectors, a catalog-shaped graph (:func:`synthetic_graph`), the FAISS index
    with its scalar fields (filters pushed down), kept under ``cache`` between runs."""
    from kgjemb.index.bundle import Bundle, BundleContent
    from kgjemb.index.faiss_index import FaissIndex, IndexConfig
    from kgjemb.index.fields import fields_from_export
    from kgjemb.graph.frames import build_export
    from kgjemb.collector import collector_paused
    from kgjemb.query.engine import Engine
    from kgjemb.query.parse import QueryParser
    from kgjemb.query.snapshot import GraphSnapshot

    dim = real.bundle.dim
    t = time.perf_counter()
    x = clustered(n, dim)
    ids = [f"s{i:07d}" for i in range(n)]
    print(f"\n[synthetic] {n:,}×{dim} clustered vectors in {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    attrs = real.bundle.export.nodes["Attribute"].to_dict("records")
    export, artist_of = synthetic_graph(ids, attrs)
    counts = {"-".join(k): len(v) for k, v in export.edges.items() if len(v)}
    print(f"[synthetic] graph in {time.perf_counter() - t:.1f}s: "
          f"{ {lb: len(f) for lb, f in export.nodes.items()} } nodes, {counts} edges")
    index_config = IndexConfig(factory=factory, ef_search=ef_search)
    where = cache / f"{n}-{factory}-{dim}" if cache is not None else None
    t = time.perf_counter()
    if where is not None and (where / "config.json").is_file():
        index = FaissIndex.load(where, config=index_config)
        print(f"[synthetic] loaded {index.factory} from {where} in {time.perf_counter() - t:.1f}s")
    else:
        fields = fields_from_export(export, ids)
        print(f"[synthetic] index fields in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        index = FaissIndex(dim, index_config)
        index.index(ids, x, fields=fields)
        print(f"[synthetic] built {index.factory} in {time.perf_counter() - t:.1f}s")
        if where is not None:
            index.save(where)
    t = time.perf_counter()
    n_artists = len(export.nodes["Artist"])
    sums = np.zeros((n_artists, dim), dtype=np.float32)
    np.add.at(sums, artist_of, x)
    entities = {"Artist": sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9), "Track": x,
                "Album": np.zeros((len(export.nodes["Album"]), dim), np.float32),
                "Attribute": np.zeros((len(attrs), dim), np.float32)}
    content = BundleContent(index, ids, x, entities, export, "synthetic")
    bundle = Bundle(Path("<synthetic>"), {"dim": dim}, content)
    # the parser only needs names: every artist (the entity queries name them) + attributes,
    # not a million titles
    names = build_export({"Artist": export.nodes["Artist"].to_dict("records"), "Attribute": attrs}, {})
    config = config or real.config
    with collector_paused():  # as Engine.open builds an engine
        snapshot = GraphSnapshot(export, ids, rel_weights=config.rel_weights, via_artist=config.fact_via_artist,
                                 walks_kept=config.walks_kept)
        engine = Engine(bundle, model=real.model, parser=QueryParser.from_export(names), snapshot=snapshot,
                        config=config)
    print(f"[synthetic] graph snapshot + engine set-up in {time.perf_counter() - t:.1f}s")
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
    ap.add_argument("--skip-demo", action="store_true", help="bench the synthetic index only")
    ap.add_argument("--walk-min-mass", type=float, default=None,
                    help="WalkConfig.min_mass of the synthetic engine (default: the engine's, 0 = exact walk)")
    ap.add_argument("--index-cache", default=None,
                    help="directory keeping the synthetic FAISS index between runs (default: build it every run)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    from kgjemb.device import set_default_device
    from kgjemb.index.bundle import Bundle
    from kgjemb.paths import cache_dir
    from kgjemb.collector import settle as gc_settle
    from kgjemb.query.engine import Engine
    from kgjemb.query.threads import set_threads

    device = set_default_device(args.device)
    default_threads = torch.get_num_threads()
    query_threads = args.threads or default_threads
    print(f"threads: {default_threads} for index builds, {query_threads} while querying; device {device}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    t = time.perf_counter()
    bundle = Bundle.open(args.bundle, cache_dir=cache_dir(args.home))
    model = bundle.load_text_model() if args.encoder == "onnx" else bundle.load_model()
    engine = Engine.open(bundle, model=model)
    kind = f"ONNX Runtime ({model.encoder.path.name})" if args.encoder == "onnx" else "PyTorch text tower"
    print(f"opened {args.bundle} in {time.perf_counter() - t:.1f}s; text encoder: {kind}")
    set_threads(query_threads)
    # as `kgjemb serve` does after each bundle load: one full collection, then what is alive
    # is frozen out of later ones (kgjemb.collector; at 10^6 tracks a full collection
    # of the engine's ~4.3 million objects is a pause of over a second in the middle of queries)
    print(f"[collector] collected once and froze {gc_settle():.2f}s")
    if not args.skip_demo:
        bench_engine(engine, "demo bundle", args.queries, args.batch)
    if args.synthetic > 0:
        set_threads(default_threads)
        t = time.perf_counter()
        config = engine.config
        if args.walk_min_mass is not None:
            config = replace(config, walk=replace(config.walk, min_mass=args.walk_min_mass))
            print(f"[synthetic] graph walk: {config.walk}")
        big = synthetic_engine(engine, args.synthetic, args.factory, args.ef_search,
                               Path(args.index_cache) if args.index_cache else None, config=config)
        print(f"[synthetic] ready in {time.perf_counter() - t:.1f}s")
        print(f"[collector] collected once and froze {gc_settle():.2f}s")
        set_threads(query_threads)
        # its parser knows artist names only (not a million titles): entity queries name artists
        bench_engine(big, f"synthetic {args.synthetic:,}", args.queries, args.batch, titles=False)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")


if __name__ == "__main__":
    main()
