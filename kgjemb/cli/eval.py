"""``kgjemb eval``: score query suites against a bundle (and baselines), optionally with a
share of the evaluated tracks' metadata hidden (``--mask R``)."""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from kgjemb.cli.common import (EXIT_INVALID, EXIT_USAGE, DeviceOpt, EngineConfigOpt, Format, Home, OutputFormat,
                               engine_config_from, setup_logging, use_device)
from kgjemb.device import Device


class Pool(str, Enum):
    """Which tracks are evaluated: the model's held-out tracks, or every indexed one."""

    held_out = "held-out"
    all = "all"


def eval_cmd(
    suites: Annotated[list[Path], typer.Argument(help="Query suite files (JSONL, see queries/README.md).")],
    bundles: Annotated[Optional[list[Path]], typer.Option("--bundle", help="Bundle directory (default: HOME/bundle). Repeat for one bundle per training seed: each is evaluated on its own held-out pool and the report gives mean ± sd over them.")] = None,
    home: Home = None,
    fmt: Format = OutputFormat.text,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write result.json, summary.json, table.txt, PNG plots and report.md here.")] = None,
    baselines: Annotated[bool, typer.Option("--baselines", help="Also score no-graph, graph-train-only, graph-query-only, entity-only, linear-metric and random, with paired significance of the engine against each.")] = False,
    text_only_bundles: Annotated[Optional[list[Path]], typer.Option("--text-only-bundle", help="Bundle of the model trained with --no-graph-positives (needed by no-graph and graph-query-only); with several --bundle, one per --bundle, in the same order.")] = None,
    masks: Annotated[Optional[list[float]], typer.Option("--mask", help="Hide a seeded share R in [0, 1] of the evaluated tracks' HAS and VERSION_OF edges from every system's query-time snapshot; repeat for several rates (e.g. --mask 0 --mask 0.5 --mask 1).")] = None,
    no_linear: Annotated[bool, typer.Option("--no-linear", help="Skip the linear metric-learning baseline (it extracts audio features).")] = False,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="Cut-off of P/mAP/nDCG.")] = 10,
    pool: Annotated[Pool, typer.Option("--pool", case_sensitive=False, help="held-out: the model's validation tracks; all: every indexed track.")] = Pool.held_out,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the masks, the random / linear baselines and the permutation tests.")] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
    engine_config: EngineConfigOpt = None,
    device: DeviceOpt = Device.auto,
) -> None:
    """Evaluate query suites: R@1/5/10 (recall), P@k, mAP@k, nDCG@k and MRR overall and per query kind.

    Rankings and relevant sets are restricted to the model's held-out tracks (--pool
    held-out, default). With --mask R (repeatable) every system queries a snapshot in which
    a seeded share R of those tracks' attribute and version edges is hidden; relevance is
    still judged on the full graph. With --baselines the same suites are scored for the
    ablations and baselines, each with the engine's paired randomisation test on nDCG@k.

    With several --bundle (one model per training seed, each paired with its own
    --text-only-bundle), every seed is evaluated as above (OUT/seed-<i>/) and the report
    gives mean ± sd over seeds with the engine's paired test pooled over (seed, query).

    --engine-config scores the engine (and the ablations, whose weights derive from it) with
    other settings, e.g. '{"weights": {"graph": 1.5}}'; the report lists what was changed.

    Example: kgjemb eval queries/handwritten.jsonl queries/demo-generated.jsonl --baselines --text-only-bundle data/eval/home-textonly/bundle --mask 0 --mask 0.5 --mask 1 --out runs/eval
    """
    from kgjemb.errors import KgjembError
    from kgjemb.eval.report import summary_json, text_table
    from kgjemb.eval.runner import RunConfig, run_eval
    from kgjemb.eval.seeds import run_seeds, seeds_table
    from kgjemb.paths import bundle_dir

    try:
        config = RunConfig(k=k, ks=tuple(sorted({1, 5, 10, k})), masks=tuple(masks or ()))
    except ValueError as err:
        typer.echo(f"Error: --mask: {err}", err=True)
        raise typer.Exit(EXIT_USAGE) from err
    engine = engine_config_from(engine_config)
    if verbose:
        setup_logging(verbose)
    use_device(device)
    paths = list(bundles or [bundle_dir(home)])
    text_only = list(text_only_bundles or [])
    if text_only and len(text_only) != len(paths):
        typer.echo(f"Error: --text-only-bundle: give one per --bundle ({len(paths)}), got {len(text_only)}", err=True)
        raise typer.Exit(EXIT_USAGE)
    pairs = list(zip(paths, text_only or [None] * len(paths)))
    try:
        if len(pairs) > 1:
            combined = run_seeds(suites, pairs, out=out, baselines=baselines, linear=not no_linear,
                                 pool=pool.value, config=config, seed=seed, progress=verbose, engine_config=engine)
        else:
            result = run_eval(suites, pairs[0][0], out=out, baselines=baselines, text_only_bundle=pairs[0][1],
                              linear=not no_linear, pool=pool.value, config=config, seed=seed, progress=verbose,
                              engine_config=engine)
    except KgjembError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(EXIT_INVALID) from err
    if len(pairs) > 1:
        if fmt is OutputFormat.json:
            typer.echo(json.dumps({k: v for k, v in combined.items() if k != "files"}, indent=1, default=float))
        else:
            typer.echo(seeds_table(combined))
            for f in combined.get("files", []):
                typer.echo(f"wrote {f}")
        return
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(summary_json(result), indent=1, default=float))
    else:
        typer.echo(text_table(result))
        for key, val in result["meta"].items():
            typer.echo(f"{key}: {val}")
        for f in result.get("files", []):
            typer.echo(f"wrote {f}")
