#!/usr/bin/env python
"""Build the demo catalog from music21 corpus scores rendered with fluidsynth.

    python scripts/build_demo_catalog.py --out data/demo-catalog            # default build
    python scripts/build_demo_catalog.py --out data/dev-catalog --limit 6 --seconds 10
    python scripts/build_demo_catalog.py --out /tmp/c --collections Bach "O'Neill's 1850" --limit 20

``--limit N`` caps the works taken from EACH collection (default: each collection's own cap;
0: all works). About 20% of works get a second rendition (VERSION_OF). A finished build
with the same arguments is reused (no-op); --force rebuilds (renders come from the cache).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


from kgjemb.demo.builder import BuildConfig, build_catalog
from kgjemb.demo.sources import DEFAULT_COLLECTIONS
from kgjemb.errors import KgjembError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="catalog directory to write")
    p.add_argument("--collections", nargs="+", default=list(DEFAULT_COLLECTIONS),
                   help="music21 corpus collections or composer names (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="works per collection (default: collection caps; 0: all)")
    p.add_argument("--seconds", type=float, default=20.0, help="excerpt length in seconds (default 20)")
    p.add_argument("--jobs", type=int, default=1, help="parallel render processes (default 1)")
    p.add_argument("--seed", type=int, default=0, help="arrangement seed (default 0)")
    p.add_argument("--version-rate", type=float, default=0.2, help="share of works with a 2nd rendition")
    p.add_argument("--cache-dir", default=None, help="render cache (default <out>/../.render-cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help="rebuild even if a finished build of these arguments exists")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("music21").setLevel(logging.ERROR)
    cfg = BuildConfig(collections=tuple(args.collections), limit=args.limit, seconds=args.seconds, jobs=args.jobs,
                      seed=args.seed, version_rate=args.version_rate, cache_dir=args.cache_dir,
                      progress=not args.no_progress)
    try:
        manifest = build_catalog(args.out, cfg, force=args.force)
    except (KgjembError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: manifest[k] for k in ("counts", "attribute_kinds", "per_collection", "licences")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
