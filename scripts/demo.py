"""The end-to-end demo that ``make demo`` runs: catalog → graph → model → bundle → queries.

    .venv/bin/python scripts/demo.py --catalog data/demo-catalog --home .kgjemb
    .venv/bin/python scripts/demo.py --limit 20 --seconds 10 --epochs 2   # a quick small run
    .venv/bin/python scripts/demo.py --threads 1   # training on one thread: for a machine that is busy

1. build the demo catalog (music21 scores rendered with fluidsynth; a complete build with
   the same arguments is reused),
2. load it into the embedded graph under HOME/graph (cleared first: the demo owns HOME),
3. train the joint model into HOME/model (skipped when HOME/model was trained on the same
   graph with the same config: cache key in HOME/model/demo-key.json),
4. build the index bundle HOME/bundle (skipped when it holds this model and this graph),
5. run example queries of every kind and print the hits with their explanations.

Each stage's wall time is logged and summarised at the end.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

logger = logging.getLogger("kgjemb.demo.run")

#: (kind, query) pairs shown by the demo; names are from the default demo catalog
QUERIES = [
    ("entity", "pieces like Jesu, meine Freude"),
    ("attribute", "fast reel on fiddle"),
    ("compositional + negation", "pieces like Jesu, meine Freude but on strings, not slow"),
    ("filter", "baroque organ chorale not by Bach"),
    ("artist anchor", "in the style of Mozart"),
    ("attribute + negation", "slow melancholic piece, no vocals"),
    ("time filter", "dance tunes from the 1880s"),
    ("unknown name", "songs like Zorblax the Magnificent, slow"),
    # what the graph knows scores the result: relations, style, attribute facts
    ("relation (graph)", "music influenced by Haydn"),
    ("versions (graph)", "other versions of Jesu, meine Freude"),
    ("attribute facts", "sad slow piano music"),
    ("anchor + fact", "songs like Chopin but played on accordion"),
    ("attribute facts", "a lively jig on the flute"),
]


class Stages:
    """Times each stage and prints a summary table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []

    def run(self, name: str, fn, *args, **kwargs):
        logger.info("── %s", name)
        start = time.perf_counter()
        result, note = fn(*args, **kwargs)
        seconds = time.perf_counter() - start
        self.rows.append((name, seconds, note))
        logger.info("── %s done in %.1fs (%s)", name, seconds, note)
        return result

    def summary(self, console) -> None:
        from rich.table import Table

        table = Table(title="demo stages")
        table.add_column("stage")
        table.add_column("wall s", justify="right")
        table.add_column("note")
        for name, seconds, note in self.rows:
            table.add_row(name, f"{seconds:.1f}", note)
        table.add_row("total", f"{sum(r[1] for r in self.rows):.1f}", "")
        console.print(table)


def stage_catalog(catalog: Path, args):
    from kgjemb.demo.builder import BuildConfig, build_catalog, is_complete

    cfg = BuildConfig(limit=args.limit, seconds=args.seconds, jobs=args.jobs, progress=not args.no_progress,
                      seed=args.seed)
    reused = is_complete(catalog, cfg)
    manifest = build_catalog(catalog, cfg)
    counts = manifest.get("counts", {})
    return manifest, f"{'reused' if reused else 'built'}: {counts.get('tracks', '?')} tracks"


def stage_graph(catalog: Path, home: Path, args):
    from kgjemb.catalog import catalog_to_rows, validate_catalog
    from kgjemb.graph.open import open_store

    cat, report = validate_catalog(catalog)
    if not report.valid:
        for p in report.problems[:20]:
            logger.error("%s", p)
        raise SystemExit(f"{catalog}: invalid catalog ({len(report.errors)} errors)")
    store = open_store(home=home)
    try:
        store.clear()
        load = store.upsert(catalog_to_rows(cat), progress=not args.no_progress)
        export = store.export()
    finally:
        store.close()
    return export, f"{load.rows} rows, {len(export.nodes['Track'])} tracks"


def _file_sha(path: Path) -> str | None:
    if not path.is_file():
        return None
    from kgjemb.index.bundle import sha256_file

    return sha256_file(path)


def stage_train(export, home: Path, args):
    from kgjemb.index.builder import graph_digest
    from kgjemb.paths import cache_dir, model_dir
    from kgjemb.train.config import load_config
    from kgjemb.train.trainer import train

    cfg = load_config(preset=args.preset, overrides={"epochs": args.epochs, "seed": args.seed,
                                                     "num_threads": args.threads})
    # validation once, after the last epoch: it then shares the final pass over the audio with
    # the diagnostics and the vectors the index build takes (intermediate ones cost a pass each)
    cfg = dataclasses.replace(cfg, eval_every=cfg.epochs)
    out = model_dir(home)
    key = hashlib.sha256(json.dumps({"graph": graph_digest(export), "config": cfg.to_dict()}, sort_keys=True,
                                    default=str).encode()).hexdigest()
    key_file = out / "demo-key.json"
    if key_file.is_file() and (out / "model.pt").is_file():
        saved = json.loads(key_file.read_text())
        if saved.get("key") == key and saved.get("weights") == _file_sha(out / "model.pt"):
            return out, f"reused (same graph + preset {args.preset!r})"
    result = train(export, cfg, out=out, cache_dir=cache_dir(home), progress=not args.no_progress)
    key_file.write_text(json.dumps({"key": key, "weights": _file_sha(out / "model.pt")}))
    last = result.metrics["epochs"][-1] if result.metrics.get("epochs") else {}
    val = last.get("val", {})
    note = (f"preset {args.preset!r}, {len(result.metrics.get('epochs', []))} epochs on {cfg.num_threads} thread(s), "
            f"val text mAP@10 {val.get('text_audio', {}).get('all', {}).get('map')}, "
            f"same-artist mAP@10 {val.get('track_track', {}).get('same_artist', {}).get('map')}")
    return out, note


def stage_index(export, model: Path, home: Path, args):
    from kgjemb.index.builder import BuildConfig, build_bundle, graph_digest
    from kgjemb.paths import bundle_dir, cache_dir

    out = bundle_dir(home)
    manifest = out / "manifest.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        if m.get("graph_digest") == graph_digest(export) and m.get("files", {}).get("model/model.pt") == _file_sha(model / "model.pt"):
            return out, f"reused ({m['counts']['tracks_indexed']} tracks, {m['factory']})"
    path = build_bundle(out, model_dir=model, export=export, config=BuildConfig(progress=not args.no_progress),
                        cache_dir=cache_dir(home))
    m = json.loads((path / "manifest.json").read_text())
    return path, f"{m['counts']['tracks_indexed']} tracks, {m['factory']}, dim {m['dim']}"


def stage_queries(bundle: Path, console, args):
    from kgjemb.cli.search import print_table
    from kgjemb.index.bundle import Bundle
    from kgjemb.paths import cache_dir
    from kgjemb.query.config import EngineConfig
    from kgjemb.query.engine import Engine

    # HOME's cache: the text path the index build exported for queries is there
    engine = Engine.open(Bundle.open(bundle, cache_dir=cache_dir(args.home.resolve())), config=EngineConfig(threads=1))
    timings, results = [], []
    for kind, q in QUERIES:
        start = time.perf_counter()
        result = engine.search(q, k=args.k)
        results.append(result)
        timings.append(time.perf_counter() - start)
        console.rule(f"[bold]{kind}[/bold]: {q}  ({timings[-1] * 1000:.0f} ms)")
        p = result.parse
        console.print(f"parse: entities={[(e.text, e.label, e.id, e.role, e.relation) for e in p.entities]} "
                      f"phrases={p.phrases} negations={p.negations} filters={[(f.kind, f.value) for f in p.filters]}")
        print_table(result, explain=True, console=console)
    graph_paths = sum("path:" in h.explanation for r in results for h in r.hits)
    facts = sum("has:" in h.explanation for r in results for h in r.hits)
    console.print(f"hits credited by a graph path: {graph_paths}; by an attribute fact: {facts}")
    artists = engine.similar_artists(("Artist", "haydn") if engine.snapshot.has("Artist", "haydn")
                                     else ("Artist", engine.bundle.export.nodes["Artist"]["id"].iloc[0]), k=args.k)
    console.rule(f"[bold]{artists.query}[/bold]")
    for h in artists.hits:
        console.print(f"{h.score:.3f}  {h.name}  — {h.explanation}")
    artist = engine.bundle.export.nodes["Artist"]["id"].iloc[0]
    start = time.perf_counter()
    sim = engine.similar(("Artist", artist), k=args.k)
    timings.append(time.perf_counter() - start)
    console.rule(f"[bold]similar[/bold]: Artist:{artist}")
    print_table(sim, explain=True, console=console)
    timings.sort()
    return None, f"{len(timings)} queries, median {timings[len(timings) // 2] * 1000:.0f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", type=Path, default=Path("data/demo-catalog"), help="where the demo catalog is built")
    ap.add_argument("--home", type=Path, default=Path(".kgjemb"), help="state dir: graph/, model/, bundle/, cache/")
    ap.add_argument("--limit", type=int, default=None, help="works per collection (default: the builder's)")
    ap.add_argument("--seconds", type=float, default=20.0, help="audio excerpt length")
    ap.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2)), help="render processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="default", help="training preset (default, ci, text-only)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                    help="torch threads of the training steps (default: 2, or 1 on a 1-core machine): 1.3-1.5x the "
                         "pairs/s of one thread on a quiet 2-core machine, but slower than one when another job "
                         "shares the cores (give --threads 1 then); the model depends on it")
    ap.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    ap.add_argument("-k", type=int, default=5, help="hits per example query")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from rich.console import Console

    console = Console(width=max(140, Console().width))  # explanations need room, even when piped
    home = args.home.resolve()
    stages = Stages()
    stages.run("catalog", stage_catalog, args.catalog, args)
    export = stages.run("graph load", stage_graph, args.catalog, home, args)
    model = stages.run("train", stage_train, export, home, args)
    bundle = stages.run("index build", stage_index, export, model, home, args)
    stages.run("queries", stage_queries, bundle, console, args)
    stages.summary(console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
