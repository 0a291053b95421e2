#!/usr/bin/env python
"""Build a catalog of real recorded music from Debian game-data packages.

    python scripts/build_real_catalog.py --out data/real-catalog                 # default packages
    python scripts/build_real_catalog.py --out /tmp/rc --packages xmoto-data lincity-ng-data
    python scripts/build_real_catalog.py --out data/real-catalog --unlabelled-out data/real-unlabelled

Downloads each package with ``apt-get download`` (nothing is installed), unpacks only its
music folders and copyright file into the cache (default ``<out>/../.real-cache``), keeps
music of at least ``--min-seconds`` and writes the catalog (see kgjemb/demo/real.py). A
finished build with the same arguments is reused (no-op); --force rebuilds from the cache.
``--unlabelled-out DIR`` also builds a folder of unlabelled music from other packages (one
folder per soundtrack, licences in ``DIR/sources.csv``; see kgjemb/demo/real_unlabelled.py)
for ``kgjemb train --unlabelled DIR``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from kgjemb.demo.real import RealConfig, build_real_catalog
from kgjemb.demo.real_sources import DEFAULT_PACKAGES, PACKAGES
from kgjemb.demo.real_unlabelled import UNLABELLED_PACKAGES, build_unlabelled
from kgjemb.errors import KgjembError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="catalog directory to write")
    p.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES),
                   help=f"Debian packages (default: all of {sorted(PACKAGES)})")
    p.add_argument("--min-seconds", type=float, default=30.0, help="shortest track kept (default 30)")
    p.add_argument("--cache-dir", default=None, help="downloads + unpacked files (default <out>/../.real-cache)")
    p.add_argument("--unlabelled-out", default=None,
                   help="also build a folder of unlabelled music from other packages, for kgjemb train --unlabelled")
    p.add_argument("--unlabelled-packages", nargs="+", default=list(UNLABELLED_PACKAGES),
                   help=f"packages of that folder (default: all of {sorted(UNLABELLED_PACKAGES)})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help="rebuild even if a finished build of these arguments exists")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = RealConfig(packages=tuple(args.packages), min_seconds=args.min_seconds, cache_dir=args.cache_dir,
                     progress=not args.no_progress)
    try:
        manifest = build_real_catalog(args.out, cfg, force=args.force)
        extra = None
        if args.unlabelled_out:
            extra = build_unlabelled(args.unlabelled_out, args.unlabelled_packages, min_seconds=args.min_seconds,
                                     cache_dir=args.cache_dir, force=args.force)
    except (KgjembError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = {k: manifest[k] for k in ("counts", "per_package", "credits", "licences", "timings_s")}
    if extra is not None:
        summary["unlabelled"] = {k: extra[k] for k in ("counts", "per_package", "licences")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
