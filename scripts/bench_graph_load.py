#!/usr/bin/env python
"""Benchmark catalog validation + graph load (embedded store; Neo4j too with --uri).

Generates a synthetic catalog (kgjemb.catalog.synthetic; cached under data/bench-catalog-N)
and prints, per phase, seconds and rows/s: validate, catalog->rows, upsert (incl. the
atomic write), a second (idempotent) upsert, reopen, export, and the end-to-end
validate+load rate in catalog rows/s (target >= 200k rows/s).

    .venv/bin/python scripts/bench_graph_load.py --tracks 100000
    .venv/bin/python scripts/bench_graph_load.py --tracks 100000 --uri bolt://127.0.0.1:7687
"""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

from kgjemb.catalog.rows import catalog_to_rows
from kgjemb.catalog.synthetic import write_synthetic_catalog
from kgjemb.catalog.validate import validate_catalog
from kgjemb.graph.embedded import EmbeddedGraphStore


def _line(phase: str, seconds: float, rows: int) -> None:
    print(f"{phase:<28} {seconds:8.2f} s  {rows:>9,d} rows  {rows / seconds:>12,.0f} rows/s")


def bench(store_factory, name: str, catalog_dir: Path, batch_size: int) -> None:
    t0 = time.perf_counter()
    catalog, report = validate_catalog(catalog_dir, check_audio_files=False)
    t_val = time.perf_counter() - t0
    if not report.valid:
        raise SystemExit(f"synthetic catalog invalid: {report.errors[:3]}")
    n = len(catalog)
    t1 = time.perf_counter()
    rows = catalog_to_rows(catalog)
    t_rows = time.perf_counter() - t1
    store = store_factory()
    store.clear()
    t2 = time.perf_counter()
    store.upsert(rows, batch_size=batch_size, progress=False)
    t_up = time.perf_counter() - t2
    total = time.perf_counter() - t0
    t3 = time.perf_counter()
    store.upsert(rows, batch_size=batch_size, progress=False)
    t_up2 = time.perf_counter() - t3
    t4 = time.perf_counter()
    export = store.export()
    t_exp = time.perf_counter() - t4
    print(f"--- {name}: {n:,d} catalog rows -> {len(rows):,d} graph rows")
    _line("validate", t_val, n)
    _line("catalog_to_rows", t_rows, n)
    _line("upsert (first)", t_up, len(rows))
    _line("upsert (again, idempotent)", t_up2, len(rows))
    _line("export", t_exp, sum(map(len, export.nodes.values())) + sum(map(len, export.edges.values())))
    _line("validate+load END-TO-END", total, n)
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--uri", default=None, help="also benchmark Neo4j at this Bolt URI")
    ap.add_argument("--user", default="neo4j")
    ap.add_argument("--password", default=None)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--catalog", type=Path, default=None, help="catalog dir (default data/bench-catalog-N)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    catalog_dir = args.catalog or Path("data") / f"bench-catalog-{args.tracks}"
    if not (catalog_dir / "relations.csv").exists():
        t = time.perf_counter()
        counts = write_synthetic_catalog(catalog_dir, tracks=args.tracks)
        print(f"generated {catalog_dir} in {time.perf_counter() - t:.1f}s: {counts}")
    tmp = Path(tempfile.mkdtemp(prefix="kgjemb-bench-"))
    try:
        bench(lambda: EmbeddedGraphStore(tmp / "graph"), "embedded", catalog_dir, args.batch_size)
        t = time.perf_counter()
        reopened = EmbeddedGraphStore(tmp / "graph")
        _line("reopen (embedded)", time.perf_counter() - t, sum(reopened.stats().nodes.values()))
        size = (tmp / "graph" / "graph.pkl").stat().st_size
        print(f"embedded graph file: {size / 1e6:.1f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.uri:
        from kgjemb.graph.open import open_store

        bench(lambda: open_store(args.uri, user=args.user, password=args.password), "neo4j", catalog_dir,
              args.batch_size)


if __name__ == "__main__":
    main()
