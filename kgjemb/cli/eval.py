"""``kgjemb eval``: score query suites against a bundle (and baselines)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from kgjemb.cli.common import DeviceOpt, Home, setup_logging, use_device
from kgjemb.device import Device


def eval_cmd(
    suites: Annotated[list[Path], typer.Argument(help="Query suite files (JSONL, see queries/README.md).")],
    bundle: Annotated[Optional[Path], typer.Option("--bundle", help="Bundle directory (default: HOME/bundle).")] = None,
    home: Home = None,
    fmt: Annotated[str, typer.Option("--format", help="Output: text or json.")] = "text",
    out: Annotated[Optional[Path], typer.Option("--out", help="Write result.json, summary.json, table.txt, PNG plots and report.md here.")] = None,
    baselines: Annotated[bool, typer.Option("--baselines", help="Also score random, entity-only, text-only and linear-metric baselines.")] = False,
    text_only_bundle: Annotated[Optional[Path], typer.Option("--text-only-bundle", help="Bundle of the model trained with --no-graph-positives (text-only baseline).")] = None,
    no_linear: Annotated[bool, typer.Option("--no-linear", help="Skip the linear metric-learning baseline (it extracts audio features).")] = False,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="Cut-off of P/mAP/nDCG.")] = 10,
    pool: Annotated[str, typer.Option("--pool", help="held-out (the model's validation tracks) or all.")] = "held-out",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random / linear baselines.")] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
    device: DeviceOpt = Device.auto,
) -> None:
    """Evaluate query suites: R@1/5/10, P@k, mAP@k, nDCG@k and MRR overall and per query kind.

    Rankings and relevant sets are restricted to the model's held-out tracks (--pool
    held-out, default). With --baselines the same suites are scored for random,
    entity-only, text-only (needs --text-only-bundle) and linear-metric systems.

    Example: kgjemb eval queries/handwritten.jsonl queries/demo-generated.jsonl --home .kgjemb --baselines --out runs/eval
    """
    from kgjemb.errors import KgjembError
    from kgjemb.eval.report import summary_json, text_table
    from kgjemb.eval.runner import RunConfig, run_eval
    from kgjemb.paths import bundle_dir

    if fmt not in ("text", "json"):
        typer.echo(f"Error: unknown --format {fmt!r}; choose from ['json', 'text']", err=True)
        raise typer.Exit(2)
    if pool not in ("held-out", "all"):
        typer.echo(f"Error: unknown --pool {pool!r}; choose from ['all', 'held-out']", err=True)
        raise typer.Exit(2)
    setup_logging(verbose) if verbose else None
    use_device(device)
    path = bundle or bundle_dir(home)
    ks = tuple(sorted({1, 5, 10, k})) if k not in (1, 5, 10) else (1, 5, 10)
    try:
        result = run_eval(suites, path, out=out, baselines=baselines, text_only_bundle=text_only_bundle,
                          linear=not no_linear, pool=pool, config=RunConfig(k=k, ks=ks), seed=seed)
    except KgjembError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from err
    if fmt == "json":
        typer.echo(json.dumps(summary_json(result), indent=1, default=float))
    else:
        typer.echo(text_table(result))
        for key, val in result["meta"].items():
            typer.echo(f"{key}: {val}")
        for f in result.get("files", []):
            typer.echo(f"wrote {f}")
