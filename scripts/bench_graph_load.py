#!/usr/bin/env python
"""Benchmark catalog validation + graph load (embedded store; Neo4j too with --uri).

Generates a synthetic catalog (kgjemb.catalog.synthetic; cached under data/bench-catalog-N)
and prints, per phase, seconds and rows/s: validate, catalog->rows, upsert (incl. the
atomic write), a second (idempotent) upsert, reopen, export, and the end-to-end
validate+load rate in catalog rows/s (target >= 200k rows/s).

    .venv/bin/python scripts/bench_graph_load.py --tracks 100000
    .venv/bin/python scripts/bench_graph_load.py --tracks 100000 --uri bolt://127.0.0.1:7687
    .venv/bin/python scripts/bench_graph_load.py --tracks 100000 --uri bolt://127.0.0.1:7687 --no-embedded --bulk off
    .venv/bin/python scripts/bench_graph_load.py --tracks 100000 --uri bolt://127.0.0.1:7687 --no-embedded \
        --neo4j-data .kgjemb/neo4j-dev --first-load import

Neo4j: "upsert (first)" loads into an empty database (the bulk loader's CREATE path when
``--bulk`` is auto/on; with ``--first-load import`` Neo4j's own bulk importer instead:
CSVs written, ``scripts/neo4j-dev import`` has the running server of ``--neo4j-data``
import them in its JVM and swap them in for its ``neo4j`` database (no restart), the store
reopens and creates its constraints and indexes, all inside the timing, each step on its
own line below the phase, the launcher's import / stop / swap / start included);
"upsert (again)" re-loads the same rows: the store reads the graph, diffs and writes nothing;
"upsert (3rd)" does it once more, when the server JVM has compiled the read statements (a
long-running server; right after a (re)start the first re-load pays for that JIT work).
Each line also gives the 1-minute load average before -> after the phase (a shared machine),
and with ``--neo4j-data`` the server JVM's CPU seconds in the phase.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from kgjemb.catalog.rows import catalog_to_rows
from kgjemb.catalog.synthetic import write_synthetic_catalog
from kgjemb.catalog.validate import validate_catalog
from kgjemb.graph.embedded import EmbeddedGraphStore


class _Skip(Exception):
    """--no-embedded"""


ROOT = Path(__file__).resolve().parents[1]
NEO4J_DEV = ROOT / "scripts" / "neo4j-dev"


def _server_cpu(data: Path | None) -> float | None:
    """CPU seconds (user + system) of the neo4j-dev server of ``data`` so far, or None."""
    if data is None:
        return None
    try:
        pid = (data / "neo4j.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Clock:
    """Wall and CPU (this process) seconds: on a shared machine CPU time is the steadier
    figure; with a ``server`` data dir also the server JVM's CPU seconds (a restart inside
    the phase counts the new process from its start), and the load average before/after."""

    def __init__(self, server: Path | None = None) -> None:
        self.server = server
        self.pid = self._pid()
        self.srv = _server_cpu(server) or 0.0
        self.load = os.getloadavg()[0]
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def _pid(self) -> str | None:
        try:
            return (self.server / "neo4j.pid").read_text().strip() if self.server else None
        except OSError:
            return None

    def lap(self) -> tuple:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        now = _server_cpu(self.server)
        srv = None if now is None else now - (self.srv if self._pid() == self.pid else 0.0)
        return wall, cpu, srv, (self.load, os.getloadavg()[0])


def _line(phase: str, clock: tuple, rows: int) -> None:
    wall, cpu = clock[:2]
    srv, load = (clock[2], clock[3]) if len(clock) > 2 else (None, None)
    extra = "" if srv is None else f"  server {srv:6.1f} s cpu"
    extra += "" if load is None else f"  load {load[0]:5.2f} -> {load[1]:5.2f}"
    print(f"{phase:<28} {wall:7.2f} s wall {cpu:7.2f} s cpu  {rows:>9,d} rows  "
          f"{rows / wall:>10,.0f} rows/s wall  {rows / max(cpu, 1e-9):>10,.0f} rows/s cpu{extra}", flush=True)


def _import_first(store, rows, *, reopen, data: Path, folder: Path, phases: dict):
    """A first load with Neo4j's bulk importer: CSVs, ``neo4j-dev import`` (in the running
    launcher's JVM: staging import, stop/swap/start of the ``neo4j`` database; or a start
    with ``--import`` when the server is down), reopen (schema). Fills ``phases`` with the
    seconds of each step, the launcher's own figures included."""
    t = time.perf_counter()
    _, files = store.write_import_files(rows, folder)
    phases["diff vs the empty graph"] = time.perf_counter() - t - files.seconds
    phases["CSV write"] = files.seconds
    store.close()
    t = time.perf_counter()
    done = subprocess.run([str(NEO4J_DEV), "import", "--data", str(data), "--files", str(files.folder)],
                          capture_output=True, text=True, timeout=1800)
    phases["neo4j-dev import (all)"] = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"neo4j-dev import failed:\n{done.stderr[-3000:]}")
    for name, ms in re.findall(r"(\w+)_ms=(\d+)", done.stderr):
        phases[f"  launcher {name}"] = int(ms) / 1000
    t = time.perf_counter()
    store = reopen()
    phases["reopen (constraints + indexes)"] = time.perf_counter() - t
    return store


def bench(store_factory, name: str, catalog_dir: Path, batch_size: int, *, server: Path | None = None,
          first_load: str = "upsert", **upsert_options) -> None:
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
    c = _Clock(server)
    phases: dict[str, float] = {}
    if first_load == "import":
        with tempfile.TemporaryDirectory(prefix="kgjemb-import-") as folder:
            store = _import_first(store, rows, reopen=store_factory, data=server, folder=Path(folder),
                                  phases=phases)
    else:
        store.upsert(rows, batch_size=batch_size, progress=False, **upsert_options)
    t_up = c.lap()
    t_total = total.lap()
    c = _Clock(server)
    store.upsert(rows, batch_size=batch_size, progress=False, **upsert_options)
    t_up2 = c.lap()
    c = _Clock(server)  # once more: the server's JIT has now compiled the read statements
    store.upsert(rows, batch_size=batch_size, progress=False, **upsert_options)
    t_up3 = c.lap()
    c = _Clock()
    export = store.export()
    t_exp = c.lap()
    print(f"--- {name}: {n:,d} catalog rows -> {len(rows):,d} graph rows (cpu = this process only)")
    _line("validate", t_val, n)
    _line("catalog_to_rows", t_rows, n)
    _line(f"{'import' if first_load == 'import' else 'upsert'} (first, empty db)", t_up, len(rows))
    for phase, seconds in phases.items():
        print(f"  {phase:<34} {seconds:7.2f} s wall")
    _line("upsert (again, idempotent)", t_up2, len(rows))
    _line("upsert (3rd, server warm)", t_up3, len(rows))
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
    ap.add_argument("--neo4j-data", type=Path, default=None,
                    help="data dir of the scripts/neo4j-dev server at --uri: its CPU is reported, and "
                         "--first-load import imports into it")
    ap.add_argument("--first-load", choices=["upsert", "import"], default="upsert",
                    help="Neo4j first load: the store's upsert, or Neo4j's bulk importer (needs --neo4j-data)")
    args = ap.parse_args()
    if args.first_load == "import" and args.neo4j_data is None:
        ap.error("--first-load import needs --neo4j-data (the server imports the files from its data dir's side)")
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

        name = "neo4j (first load: bulk importer)" if args.first_load == "import" else f"neo4j (bulk {args.bulk})"
        bench(lambda: open_store(args.uri, user=args.user, password=args.password), name, catalog_dir,
              args.batch_size, server=args.neo4j_data, first_load=args.first_load,
              bulk={"auto": None, "on": True, "off": False}[args.bulk])


if __name__ == "__main__":
    main()
