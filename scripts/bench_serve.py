#!/usr/bin/env python
"""Load benchmark of the HTTP service: QPS and p50/p99 latency at several concurrencies.

Starts ``kgjemb serve`` on the bundle (or uses ``--url``), derives a mixed query set from
the catalog through the API itself (entity queries "songs like <title>", "<title> by
<artist>", attribute phrases, and mixtures of both), then runs closed-loop clients for
``--seconds`` at each concurrency and prints one row per level. Loopback only.

    python scripts/bench_serve.py --bundle .kgjemb/bundle --seconds 30 --concurrency 1,8,32
    python scripts/bench_serve.py --bundle B --seconds 20 --modes batching,threads   # compare
"""
from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import time
from urllib.parse import urlparse

import httpx

from kgjemb.serve.launch import ServerProcess

TEXT_QUERIES = [
    "melancholic piano, no vocals", "calm strings", "fast energetic organ", "slow sad music",
    "bright happy flute", "dark minor key", "solemn choral music", "dance in triple meter",
    "gentle guitar", "something lively, not too fast", "baroque harpsichord", "quiet and reflective",
]
MODES = {"batching": [], "threads": ["--no-batching"]}


def build_queries(client: httpx.Client, url: str, headers: dict, n_entities: int = 80) -> list[str]:
    """Mixed workload: attribute text (single phrases and pairs), entity queries ("songs
    like <title>", "<title> by <artist>") and entity + attribute mixtures, shuffled."""
    titles: list[tuple[str, str | None]] = []
    for q in TEXT_QUERIES:
        r = client.post(url + "/v1/search", json={"query": q, "k": 20, "explain": False}, headers=headers)
        r.raise_for_status()
        titles += [(h["title"], (h["artists"] or [None])[0]) for h in r.json()["hits"]]
    rng = random.Random(0)
    titles = sorted(set(titles))
    rng.shuffle(titles)
    entity, mixed = [], []
    for title, artist in titles[:n_entities]:
        entity.append(f"songs like {title}" if artist is None or rng.random() < 0.5 else f"{title} by {artist}")
        mixed.append(f"songs like {title} but {rng.choice(TEXT_QUERIES)}")
    combos = [f"{a}, {b}" for a in TEXT_QUERIES for b in TEXT_QUERIES if a < b]
    queries = TEXT_QUERIES + rng.sample(combos, min(len(combos), len(entity))) + entity + mixed
    rng.shuffle(queries)
    return queries


async def run_level(url: str, headers: dict, queries: list[str], concurrency: int, seconds: float, k: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient, wid: int) -> None:
        i = wid
        while time.perf_counter() < deadline:  # bounded by the deadline
            q = queries[i % len(queries)]
            i += concurrency
            t0 = time.perf_counter()
            try:
                r = await client.post(url + "/v1/search", json={"query": q, "k": k}, headers=headers)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    continue
            except httpx.HTTPError as err:
                errors.append(repr(err))
                continue
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:
        await asyncio.gather(*(worker(client, w) for w in range(concurrency)))
    wall = time.perf_counter() - started
    lat = sorted(latencies)
    pct = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000) if lat else (lambda p: float("nan"))
    return {
        "concurrency": concurrency, "requests": len(lat), "errors": len(errors), "qps": len(lat) / wall,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99), "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "first_error": errors[0] if errors else "",
    }


def batch_stats(client: httpx.Client, url: str, headers: dict) -> tuple[float, float]:
    text = client.get(url + "/metrics", headers=headers).text
    total = re.search(r"^kgjemb_search_batch_size_sum ([0-9.e+]+)$", text, re.M)
    count = re.search(r"^kgjemb_search_batch_size_count ([0-9.e+]+)$", text, re.M)
    return (float(total.group(1)) if total else 0.0, float(count.group(1)) if count else 0.0)


def bench(url: str, args, headers: dict, label: str) -> list[dict]:
    with httpx.Client(timeout=60.0) as client:
        queries = build_queries(client, url, headers)
        print(f"# {label}: {len(queries)} distinct queries, k={args.k}, {args.seconds:g} s per level", flush=True)
        print(f"{'mode':>9} {'conc':>5} {'requests':>9} {'QPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean batch':>10} {'errors':>6}")
        rows = []
        for c in args.concurrency:
            s0, n0 = batch_stats(client, url, headers)
            row = asyncio.run(run_level(url, headers, queries, c, args.seconds, args.k))
            s1, n1 = batch_stats(client, url, headers)
            row["mean_batch"] = (s1 - s0) / (n1 - n0) if n1 > n0 else float("nan")
            rows.append(row)
            print(f"{label:>9} {c:>5} {row['requests']:>9} {row['qps']:>8.1f} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} "
                  f"{row['mean_batch']:>10.2f} {row['errors']:>6}", flush=True)
            if row["errors"]:
                print(f"  first error: {row['first_error']}", flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default=".kgjemb/bundle", help="bundle to serve (ignored with --url)")
    p.add_argument("--url", help="benchmark an already running server (must be on 127.0.0.1)")
    p.add_argument("--token", help="API token to send, if the server wants one")
    p.add_argument("--seconds", type=float, default=30.0, help="duration of each concurrency level (30)")
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    p.add_argument("--modes", default="batching", help="comma-separated: batching, threads (server started per mode)")
    p.add_argument("--k", type=int, default=10)
    args = p.parse_args()
    if args.seconds <= 0 or args.seconds > 600:
        p.error("--seconds must be in (0, 600]")
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    failed = 0
    if args.url:
        if urlparse(args.url).hostname not in ("127.0.0.1", "localhost"):
            p.error("only loopback servers are benchmarked")
        failed += sum(r["errors"] for r in bench(args.url.rstrip("/"), args, headers, "server"))
    else:
        for mode in args.modes.split(","):
            if mode not in MODES:
                p.error(f"unknown mode {mode!r}; choose from {sorted(MODES)}")
            with ServerProcess(args.bundle, args=MODES[mode] + ["--log-level", "warning"]) as server:
                failed += sum(r["errors"] for r in bench(server.url, args, headers, mode))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
