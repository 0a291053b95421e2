#!/usr/bin/env python
"""Peak memory of building a FAISS index through kgjemb's ``FaissIndex``: how much the
process grows beyond the caller's own matrix and the finished index.

Each build runs in a fresh child process (``ru_maxrss`` only ever grows) over ``--n``
clustered float32 unit vectors (the scale bench's, dimension 128); the child prints its
resident memory after making the matrix and ids, its peak during ``FaissIndex.index``,
and the index's own bytes (serialised size). "overhead" = peak − matrix − index: what
the build held on top of the two things it must hold.

    .venv/bin/python scripts/bench_index_memory.py --n 3000000 --factory Flat
    .venv/bin/python scripts/bench_index_memory.py --n 1000000 --factory HNSW32

Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(n: int, factory: str) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_scale import DIM, clustered, faiss_bytes  # the scale bench's vectors and size measure

    from kgjemb.index import FaissIndex, IndexConfig

    x = clustered(n, seed=0)  # (n, DIM) float32
    ids = [str(i) for i in range(n)]
    before = rss_mb()
    idx = FaissIndex(DIM, IndexConfig(factory=factory))
    idx.index(ids, x)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = faiss_bytes(idx) / 2**20
    print(json.dumps({"n": n, "dim": DIM, "factory": factory, "matrix_mb": x.nbytes / 2**20,
                      "rss_before_mb": before, "peak_mb": peak, "index_mb": size}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--factory", default="Flat")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.n, args.factory)
        return
    out = subprocess.run([sys.executable, __file__, "--child", "--n", str(args.n), "--factory", args.factory],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    rest_mb = row["rss_before_mb"] - row["matrix_mb"]  # interpreter, libraries, the ids' strings
    overhead = row["peak_mb"] - row["rss_before_mb"] - row["index_mb"]
    print(f"{row['factory']} n={row['n']:,} dim={row['dim']}: matrix {row['matrix_mb']:.0f} MB, "
          f"process before build {row['rss_before_mb']:.0f} MB (matrix + {rest_mb:.0f} MB of interpreter and ids), "
          f"peak {row['peak_mb']:.0f} MB, index {row['index_mb']:.0f} MB, "
          f"build overhead beyond matrix + index {overhead:.0f} MB ({overhead / row['matrix_mb']:.2f}× the matrix)")


if __name__ == "__main__":
    main()
