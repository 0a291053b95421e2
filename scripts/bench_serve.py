#!/usr/bin/env python
"""Load benchmark of the HTTP service: QPS, p50/p99 latency and server CPU per request.

Starts ``kgjemb serve`` on the bundle (or uses ``--url``), builds a mix of many distinct
queries from the bundle's own graph (see :func:`build_queries`), then runs closed-loop
clients for ``--seconds`` at each concurrency and prints one row per level: requests,
QPS, p50/p99/mean latency, the server's CPU milliseconds per request (all its processes,
from ``/proc``) and the machine's load average, so runs on a shared machine can be
compared. Every query is sent in turn (a query repeats only after the whole mix has been
sent), and the server has no response cache; the engine's own LRU of phrase embeddings
and the graph's kept walks do warm up as phrases and anchors repeat across queries.

``--engine`` first times the same queries in this process on the engine alone (one
thread, ``Engine.search``): the server's CPU per request minus the engine's CPU per
query is what the HTTP layer adds. The load client is a minimal HTTP/1.1 keep-alive
client on asyncio streams (pre-encoded requests, responses read by Content-Length; one
response in ten parsed as JSON and checked), so that the client, which shares the
machine, costs as little of it as it can. Loopback only; Linux (reads ``/proc``).

    python scripts/bench_serve.py --bundle .kgjemb/bundle --seconds 20 --concurrency 1,8,32
    python scripts/bench_serve.py --bundle B --workers 1,2 --concurrency 8,32 --engine
    python scripts/bench_serve.py --bundle B --modes threads,batching       # compare dispatch
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from kgjemb.serve.launch import ServerProcess

MODES = {"threads": ["--no-batching"], "batching": ["--batching"]}
MOODS = ["sad", "calm", "bright", "dark", "gentle", "lively", "solemn", "melancholic", "joyful", "quiet", "energetic",
         "dreamy", "stately", "playful", "tender", "stormy"]


def _graph(bundle: Path) -> dict[str, pd.DataFrame]:
    root = bundle / "graph"
    return {p.stem: pd.read_parquet(p) for p in sorted(root.glob("*/*.parquet"))}


def build_queries(bundle: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct queries from the bundle's graph, shuffled: 30 % entity ("songs like
    <title>", "<title> by <artist>", "in the style of <artist>"), 35 % attribute text (one
    to three attribute names and mood words, some negated: "lively jig on flute, no
    vocals"), 25 % mixed ("songs like <title> but on <instrument>, not <tempo>") and 10 %
    relations and filters ("music influenced by <artist>", "<form> not by <artist>",
    "<attribute> from the <era> era")."""
    g = _graph(bundle)
    tracks, artists, attrs = g["Track"], g["Artist"], g["Attribute"]
    by = g.get("Track-BY-Artist")
    artist_name = dict(zip(artists["id"], artists["name"]))
    track_artist = dict(zip(by["src"], by["dst"])) if by is not None else {}
    titles = [(t, artist_name.get(track_artist.get(i))) for i, t in zip(tracks["id"], tracks["title"])]
    kinds = {k: sorted(set(v["name"].str.lower())) for k, v in attrs.groupby("kind")}
    pick = lambda kind, fallback: rng.choice(kinds.get(kind) or fallback)  # noqa: E731
    rng = random.Random(seed)
    names = sorted(artist_name.values())

    def attribute() -> str:
        return pick(rng.choice(["instrument", "form", "tempo", "ensemble", "key", "meter", "genre", "region", "mode"]),
                    MOODS)

    def entity() -> str:
        title, artist = rng.choice(titles)
        return rng.choice([f"songs like {title}", f"{title} by {artist}" if artist else f"pieces like {title}",
                           f"in the style of {rng.choice(names)}", f"music similar to {rng.choice(names)}"])

    def text() -> str:
        return rng.choice([
            f"{rng.choice(MOODS)} {pick('instrument', MOODS)} music",
            f"{pick('tempo', MOODS)} {pick('form', MOODS)} on {pick('instrument', MOODS)}",
            f"{rng.choice(MOODS)} {attribute()}, no vocals",
            f"something {rng.choice(MOODS)} and {attribute()}, not too {pick('tempo', MOODS)}",
            f"{attribute()} {attribute()} in {pick('key', MOODS)}",
        ])

    def mixed() -> str:
        title, artist = rng.choice(titles)
        return rng.choice([f"songs like {title} but on {pick('instrument', MOODS)}",
                           f"{rng.choice(names)} on {pick('instrument', MOODS)}, not {pick('tempo', MOODS)}",
                           f"like {title} but more {rng.choice(MOODS)}"])

    def relation() -> str:
        return rng.choice([f"music influenced by {rng.choice(names)}", f"{pick('form', MOODS)} not by {rng.choice(names)}",
                           f"{attribute()} from the {pick('era', ['baroque'])} era",
                           f"other versions of {rng.choice(titles)[0]}"])

    kinds_of_query = [entity] * 30 + [text] * 35 + [mixed] * 25 + [relation] * 10
    out: dict[str, None] = {}
    for _ in range(n * 50):
        if len(out) >= n:
            break
        out.setdefault(rng.choice(kinds_of_query)(), None)
    queries = list(out)
    rng.shuffle(queries)
    return queries


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live children (uvicorn workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1]: ppid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Connection:
    """One HTTP/1.1 keep-alive connection that posts JSON and reads whole responses."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", "Content-Type": "application/json",
                                                          **headers}.items())
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(int(v) for k, _, v in (ln.partition(":") for ln in lines[1:]) if k.lower() == "content-length")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass


async def run_level(url: str, headers: dict, queries: list[str], concurrency: int, seconds: float, k: int,
                    explain: bool) -> dict:
    parsed = urlparse(url)
    bodies = [json.dumps({"query": q, "k": k, "explain": explain}).encode() for q in queries]
    latencies: list[float] = []
    errors: list[str] = []
    next_query = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal next_query
        conn = Connection(parsed.hostname, parsed.port, headers)
        try:
            while time.perf_counter() < deadline:
                i, next_query = next_query, next_query + 1  # the whole mix in turn, shared by all clients
                t0 = time.perf_counter()
                try:
                    status, body = await conn.post("/v1/search", bodies[i % len(bodies)])
                except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as err:
                    errors.append(repr(err))
                    await conn.close()
                    conn = Connection(parsed.hostname, parsed.port, headers)
                    continue
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors.append(f"{status} {body[:200]!r}")
                elif i % 10 == 0 and not json.loads(body)["hits"]:
                    errors.append(f"no hits for {queries[i % len(queries)]!r}")
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    lat = sorted(latencies)
    pct = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000) if lat else (lambda p: float("nan"))
    return {"concurrency": concurrency, "requests": len(lat), "errors": len(errors), "qps": len(lat) / wall,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
            "first_error": errors[0] if errors else "", "sent": next_query}


def engine_baseline(bundle: Path, queries: list[str], k: int, seconds: float, explain: bool) -> dict:
    """The engine alone, in this process, one thread: CPU and wall ms per query over the
    same mix (each query once, up to ``seconds``, explained as the requests ask), after a
    warm-up pass over 50 queries."""
    from kgjemb.query.config import EngineConfig
    from kgjemb.query.engine import Engine

    engine = Engine.open(bundle, config=EngineConfig(threads=1))
    for q in queries[:50]:
        engine.search(q, k=k, explain=explain)
    walls, cpu0, deadline = [], time.process_time(), time.perf_counter() + seconds
    for q in queries[50:]:
        if time.perf_counter() > deadline:
            break
        t0 = time.perf_counter()
        engine.search(q, k=k, explain=explain)
        walls.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    walls.sort()
    return {"queries": len(walls), "cpu_ms": cpu / len(walls) * 1000, "p50_ms": walls[len(walls) // 2] * 1000,
            "mean_ms": statistics.fmean(walls) * 1000}


def bench(url: str, pid: int | None, args, headers: dict, queries: list[str], label: str) -> list[dict]:
    rows = []
    for c in args.concurrency:
        cpu0 = _cpu_seconds(pid) if pid else None
        row = asyncio.run(run_level(url, headers, queries, c, args.seconds, args.k, args.explain))
        row["cpu_ms"] = (_cpu_seconds(pid) - cpu0) / max(row["requests"], 1) * 1000 if pid else float("nan")
        row["load"] = os.getloadavg()[0]
        rows.append(row)
        print(f"{label:>18} {c:>5} {row['requests']:>9} {row['qps']:>8.1f} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} "
              f"{row['mean_ms']:>8.1f} {row['cpu_ms']:>8.2f} {row['load']:>6.2f} {row['errors']:>6}", flush=True)
        if row["errors"]:
            print(f"  first error: {row['first_error']}", flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default=".kgjemb/bundle", help="bundle to serve, and where the query mix comes from")
    p.add_argument("--url", help="benchmark an already running server on 127.0.0.1 (serving --bundle)")
    p.add_argument("--token", help="API token to send, if the server wants one")
    p.add_argument("--seconds", type=float, default=20.0, help="duration of each concurrency level (20)")
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    p.add_argument("--modes", default="threads", help="comma-separated dispatch modes: threads, batching")
    p.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1],
                   help="comma-separated server process counts to compare (1)")
    p.add_argument("--queries", type=int, default=3000, help="distinct queries in the mix (3000)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--explain", action="store_true", help="ask for explanations and paths (default: not)")
    p.add_argument("--engine", action="store_true", help="first time the engine alone on the same queries")
    p.add_argument("--server-arg", action="append", default=[], help="extra `kgjemb serve` option (repeatable)")
    args = p.parse_args()
    if args.seconds <= 0 or args.seconds > 600:
        p.error("--seconds must be in (0, 600]")
    bundle = Path(args.bundle)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    queries = build_queries(bundle, args.queries)
    print(f"# {len(queries)} distinct queries from {bundle} (30% entity, 35% attribute text, 25% mixed, "
          f"10% relation/filter), k={args.k}, explain={args.explain}, {args.seconds:g} s per level, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", flush=True)
    if args.engine:
        base = engine_baseline(bundle, queries, args.k, args.seconds, args.explain)
        print(f"# engine alone (1 thread, in process): {base['queries']} queries, {base['cpu_ms']:.2f} CPU ms/query, "
              f"p50 {base['p50_ms']:.2f} ms, mean {base['mean_ms']:.2f} ms, load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"{'server':>18} {'conc':>5} {'requests':>9} {'QPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
          f"{'CPU ms/q':>8} {'load':>6} {'errors':>6}", flush=True)
    failed = 0
    if args.url:
        if urlparse(args.url).hostname not in ("127.0.0.1", "localhost"):
            p.error("only loopback servers are benchmarked")
        failed += sum(r["errors"] for r in bench(args.url.rstrip("/"), None, args, headers, queries, "server"))
        return 1 if failed else 0
    for mode in args.modes.split(","):
        if mode not in MODES:
            p.error(f"unknown mode {mode!r}; choose from {sorted(MODES)}")
        for workers in args.workers:
            server_args = MODES[mode] + ["--log-level", "warning", "--workers", str(workers), *args.server_arg]
            with ServerProcess(bundle, args=server_args) as server:
                # warm every worker's caches of the first queries, off the clock
                asyncio.run(run_level(server.url, headers, queries[:200], 4, 5.0, args.k, args.explain))
                failed += sum(r["errors"] for r in bench(server.url, server.pid, args, headers, queries,
                                                         f"{mode} w={workers}"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
