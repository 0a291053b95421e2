"""Query parser speed: build time and per-query latency, on the test graph and a synthetic
larger one (names drawn from a word list, so fuzzy linking has real work to do).

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_parser.py [--tracks 20000]``
Prints figures; asserts nothing (speed is not a test).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from kgjemb.catalog.schema import EDGE_PROPERTIES, NODE_PROPERTIES  # noqa: E402
from kgjemb.query.parse import QueryParser, load_nlp  # noqa: E402
from tests.parser_graph import make_export  # noqa: E402

QUERIES = [
    "songs like Jesu, meine Freude but on strings, not slow",
    "melancholic piano, no vocals",
    "not by Bach but like Haydn",
    "songs like Bethoven",
    "fast reel in D major from the 1720s",
    "songs like Zzyzx Qwerty on strings",
    "Ode to Joy by Beethoven",
    "music from the baroque era without drums or vocals",
]
WORDS = """river morning star silver spear lark joy ode sonata moon light water music dance
reel jig air string green hill blue road winter summer night day song waltz march hymn
prayer chorale fugue prelude suite rose wind fire stone bird sea mountain king queen
garden bell dream shadow golden harbour lament""".split()


def synthetic_export(n_tracks: int, seed: int = 0):
    """``make_export()`` plus n_tracks random 2–4 word titles by n_tracks/10 artists."""
    rng = random.Random(seed)
    base = make_export()
    n_art = max(1, n_tracks // 10)
    artists = pd.DataFrame(
        [{"id": f"a{i}", "name": f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {i}",
          "aliases": [], "born": None, "died": None, "country": None} for i in range(n_art)],
        columns=["id", *NODE_PROPERTIES["Artist"]],
    )
    tracks = pd.DataFrame(
        [{"id": f"s{i}", "title": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4))).title(),
          "duration_s": 30.0, "year": None, "audio_path": None} for i in range(n_tracks)],
        columns=["id", *NODE_PROPERTIES["Track"]],
    )
    by = pd.DataFrame(
        [{"src": f"s{i}", "dst": f"a{i % n_art}", "weight": 1.0, "source": "bench", "role": "primary"}
         for i in range(n_tracks)],
        columns=["src", "dst", *EDGE_PROPERTIES],
    )
    base.nodes["Artist"] = pd.concat([base.nodes["Artist"], artists], ignore_index=True)
    base.nodes["Track"] = pd.concat([base.nodes["Track"], tracks], ignore_index=True)
    key = ("Track", "BY", "Artist")
    base.edges[key] = pd.concat([base.edges[key], by], ignore_index=True)
    return base


def bench(parser: QueryParser, label: str, repeats: int) -> None:
    for q in QUERIES:  # warm-up
        parser.parse(q)
    times, cpu = [], []
    for _ in range(repeats):
        for q in QUERIES:
            t, c = time.perf_counter(), time.thread_time()
            parser.parse(q)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.thread_time() - c) * 1000)  # less sensitive to a busy machine
    times.sort()
    qs = QUERIES * repeats
    t = time.perf_counter()
    parser.parse_batch(qs)
    batch_ms = (time.perf_counter() - t) * 1000 / len(qs)
    print(
        f"{label}: parse median {statistics.median(times):.2f} ms (CPU {statistics.median(cpu):.2f} ms), "
        f"p95 {times[int(0.95 * len(times))]:.2f} ms, max {times[-1]:.2f} ms; "
        f"parse_batch {batch_ms:.2f} ms/query ({len(qs)} queries)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    t = time.perf_counter()
    nlp = load_nlp()
    print(f"spaCy load {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    small = QueryParser.from_export(make_export(), nlp=nlp)
    print(f"parser build (test graph, {len(small.gazetteer.nodes)} nodes) {time.perf_counter() - t:.2f} s")
    bench(small, "test graph", args.repeats)
    export = synthetic_export(args.tracks)
    t = time.perf_counter()
    big = QueryParser.from_export(export, nlp=nlp)
    print(f"parser build ({len(big.gazetteer.nodes)} nodes) {time.perf_counter() - t:.2f} s")
    bench(big, f"synthetic graph, {args.tracks} tracks", max(2, args.repeats // 4))
    worst = ("like Qwzx Plmk " * 100)[:1000]  # 1,000 chars of unknown mentions: fuzzy budget
    big.parse(worst)
    t = time.perf_counter()
    big.parse(worst)
    print(f"adversarial 1,000-char query: {(time.perf_counter() - t) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
