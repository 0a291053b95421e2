#!/usr/bin/env python
"""Benchmark catalog validation + graph load (embedded store; Neo4j too with --uri).

Generates a synthetic catalog (kgjemb.catalog.synthetic; cached under data/bench-catalog-N)
and prints, per phase, seconds and rows/s: validate, catalog->rows, upsert (incl. the
atomic write), a second (idempotent) upsert, reopen, export, and the end-to-end
validate+load rate in catalog rows/s (target >= 200k rows/s).

    .venv/bin/python scripts/bench_graph_load.py --tracks 100000
    .venv/bin/python scripts/bench_graph_load.py --tracks 100000 --uri bolt://127.0.0.1:7687
    .venv/bin/python scripts/bench_graph_load.py --tracks 100000 --uri bolt://127.0.0.1:7687 --no-embedded --bulk off

Neo4j: "upsert (first)" loads into an empty database (the bulk loader's CREATE path when
``--bulk`` is auto/on), "upsert (again)" re-loads the same rows (parallel MERGE).
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


class _Skip(Exception):
    """--no-embedded"""


class _Clock:
    """Wall and CPU (this process) seconds: on a shared machine CPU time is the steadier figure."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _line(phase: str, clock: tuple[float, float], rows: int) -> None:
    wall, cpu = clock
    print(f"{phase:<28} {wall:7.2f} s wall {cpu:7.2f} s cpu  {rows:>9,d} rows  "
          f"{rows / wall:>10,.0f} rows/s wall  {rows / max(cpu, 1e-9):>10,.0f} rows/s cpu")


def bench(store_factory, name: str, catalog_dir: Path, batch_size: int, **upsert_options) -> None:
    total = _Clock()
    c = _Clock()
    catalog, report = validate_catalog(catalog_dir, check_audio_files=False)
    t_val = c.lap()
    if not report.valid:
        raise SystemExit(f"synthetic catalog invalid: {report.errors[:3]}")
    n = len(catalog)
    c = _Clock()
    rows = catalog_to_rows(catalog)
    t_rows = c.lap()
    store = store_factory()
    store.clear()
    c = _Clock()
    store.upsert(rows, batch_size=batch_size, progress=False, **upsert_options)
    t_up = c.lap()
    t_total = total.lap()
    c = _Clock()
    store.upsert(rows, batch_size=batch_size, progress=False, **upsert_options)
    t_up2 = c.lap()
    c = _Clock()
    export = store.export()
    t_exp = c.lap()
    print(f"--- {name}: {n:,d} catalog rows -> {len(rows):,d} graph rows (cpu = this process only)")
    _line("validate", t_val, n)
    _line("catalog_to_rows", t_rows, n)
    _line("upsert (first)", t_up, len(rows))
    _line("upsert (again, idempotent)", t_up2, len(rows))
    _line("export", t_exp, sum(map(len, export.nodes.values())) + sum(map(len, export.edges.values())))
    _line("validate+load END-TO-END", t_total, n)
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--uri", default=None, help="also benchmark Neo4j at this Bolt URI")
    ap.add_argument("--user", default="neo4j")
    ap.add_argument("--password", default=None)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--catalog", type=Path, default=None, help="catalog dir (default data/bench-catalog-N)")
    ap.add_argument("--no-embedded", action="store_true", help="skip the embedded store")
    ap.add_argument("--bulk", choices=["auto", "on", "off"], default="auto",
                    help="Neo4j: bulk loader (kgjemb.graph.neo4j_bulk) auto (>= 20k rows), always, or never")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    catalog_dir = args.catalog or Path("data") / f"bench-catalog-{args.tracks}"
    if not (catalog_dir / "relations.csv").exists():
        t = time.perf_counter()
        counts = write_synthetic_catalog(catalog_dir, tracks=args.tracks)
        print(f"generated {catalog_dir} in {time.perf_counter() - t:.1f}s: {counts}")
    tmp = Path(tempfile.mkdtemp(prefix="kgjemb-bench-"))
    try:
        if args.no_embedded:
            raise _Skip
        bench(lambda: EmbeddedGraphStore(tmp / "graph"), "embedded", catalog_dir, args.batch_size)
        c = _Clock()
        reopened = EmbeddedGraphStore(tmp / "graph")
        _line("reopen (embedded)", c.lap(), sum(reopened.stats().nodes.values()))
        size = (tmp / "graph" / "graph.pkl").stat().st_size
        print(f"embedded graph file: {size / 1e6:.1f} MB")
    except _Skip:
        pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.uri:
        from kgjemb.graph.open import open_store

        bench(lambda: open_store(args.uri, user=args.user, password=args.password), f"neo4j (bulk {args.bulk})",
              catalog_dir, args.batch_size, bulk={"auto": None, "on": True, "off": False}[args.bulk])


if __name__ == "__main__":
    main()
