"""Regenerate queries/demo-generated.jsonl from a catalog (seeded, re-runnable).

    .venv/bin/python scripts/generate_query_suites.py [--catalog data/demo-catalog]
        [--out queries/demo-generated.jsonl] [--n 300] [--seed 0] [--val-fraction 0.2]

The catalog defaults to data/demo-catalog when built (READY present), else
data/dev-catalog. Held-out tracks are the trainer's split (split_by_work with the same
val_fraction and seed as training), so the queries are about held-out tracks.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from kgjemb.errors import KgjembError
    from kgjemb.eval.generate import GenerateConfig, generate_suite
    from kgjemb.eval.suite import write_suite
    from kgjemb.graph.open import catalog_export
    from kgjemb.train.split import split_by_work

    demo = ROOT / "data" / "demo-catalog"
    default = demo if (demo / "READY").exists() else ROOT / "data" / "dev-catalog"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", type=Path, default=default)
    ap.add_argument("--out", type=Path, default=ROOT / "queries" / "demo-generated.jsonl")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        export = catalog_export(args.catalog)
    except KgjembError as err:
        raise SystemExit(str(err)) from err
    split = split_by_work(export, val_fraction=args.val_fraction, seed=args.seed)
    rows = generate_suite(export, split.val_ids, GenerateConfig(n_queries=args.n, seed=args.seed))
    write_suite(args.out, rows)
    logging.getLogger("generate").info("%d queries from %s -> %s", len(rows), args.catalog, args.out)


if __name__ == "__main__":
    main()
