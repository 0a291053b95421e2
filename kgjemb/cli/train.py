"""``kgjemb train``: train the joint embedding on the graph in the store."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from kgjemb.cli.common import Database, Format, Home, OutputFormat, Password, Uri, User, store_from_options


def train(
    uri: Uri = None,
    home: Home = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="JSON file of TrainConfig overrides (applied on top of the preset).")] = None,
    preset: Annotated[str, typer.Option("--preset", help="Packaged preset: default, ci, text-only or real (default + the audio tower's dynamics branch with its modulation spectrum and skip, no track head, 30 epochs, for real recordings).")] = "default",
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Number of epochs (overrides preset/config).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Model directory to write [default: HOME/model].")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of every random choice (split, views, batches, init).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt (same config).")] = False,
    no_graph_positives: Annotated[bool, typer.Option("--no-graph-positives", help="Ablation: text↔audio pairs only (no track↔track, hard-negative or entity losses).")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
    device: Annotated[Optional[str], typer.Option("--device", help="auto, cpu or cuda.")] = None,
    unlabelled: Annotated[Optional[Path], typer.Option("--unlabelled", help="Folder of unlabelled audio (wav/flac/ogg/opus/mp3, recursively; or a catalog folder) for the self-supervised audio↔audio term (turns ssl on).")] = None,
    fmt: Format = OutputFormat.json,
) -> None:
    """Train the audio-text-entity joint embedding with knowledge-graph positives.

    Reads the graph from the store (Neo4j with --uri, else the embedded store under --home), caches log-mel features and text-encoder outputs under HOME/cache, and holds out whole works (VERSION_OF components) for validation.

    Losses: InfoNCE audio↔text views of each track's attributes (with attribute-swap negatives); track↔track positives along graph meta-paths (same artist / album / work, similar artist) with graph-aware hard negatives; entity↔audio alignment. --no-graph-positives keeps only the text pairs (the ablation).

    --unlabelled DIR adds a self-supervised audio↔audio term: two augmented crops of one recording (a file under DIR, or a training track) are positives, the rest of the batch and the queue negatives; the graph and text terms still apply to the catalog's tracks. With "ssl_positives": "folder" (--preset real) a recording's positive is a crop of another recording in its folder (a library keeps one release per folder) and same-folder recordings are not negatives; "ssl_augment": false (--preset real) compares recordings as they are. Augmentations of the other terms' crops (reverb, EQ, compression, noise, gain, pitch, stretch, codec) are switched on in the config ("augment": {"enabled": true}).

    Every epoch: R@10 / mAP@10 on the held-out tracks, then model.pt, config.json, metrics.json and checkpoint.pt written into --out; at the end also spectrum.png, scatter.png and diagnostics.json.

    Example: kgjemb train --home .kgjemb --preset ci --epochs 2 --seed 1
    """
    from kgjemb.audio.io import audio_files
    from kgjemb.errors import KgjembError
    from kgjemb.paths import cache_dir, model_dir
    from kgjemb.train.config import load_config
    from kgjemb.train.trainer import train as run

    overrides = {"epochs": epochs, "seed": seed, "device": device}
    if no_graph_positives:
        overrides["use_graph_positives"] = False
    if unlabelled is not None:
        overrides["ssl"] = True
    try:
        cfg = load_config(preset=preset, file=config, overrides=overrides)
    except ValueError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from err
    target = out or model_dir(home)
    try:
        if unlabelled is not None:
            audio_files(unlabelled)  # a bad folder fails before the store and the model load
        store = store_from_options(uri, home, user, password, database)
        try:
            export = store.export()
        finally:
            store.close()
        if len(export.nodes["Track"]) == 0:
            typer.echo("Error: the graph has no tracks; load a catalog first (kgjemb graph load CATALOG)", err=True)
            raise typer.Exit(1)
        result = run(export, cfg, out=target, cache_dir=cache_dir(home), resume=resume, progress=not no_progress,
                     unlabelled=unlabelled)
    except KgjembError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    last = result.metrics["epochs"][-1] if result.metrics["epochs"] else {}
    val = last.get("val", {})
    summary = {
        "out": str(result.out),
        "epochs": len(result.metrics["epochs"]),
        "loss": last.get("loss"),
        "val_text_map@10": val.get("text_audio", {}).get("all", {}).get("map"),
        "val_same_artist_map@10": val.get("track_track", {}).get("same_artist", {}).get("map"),
        "val_same_work_map@10": val.get("track_track", {}).get("same_work", {}).get("map"),
    }
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo("\n".join(f"{k}: {v}" for k, v in summary.items()))


#: Systems of ``train-compare``: overrides on top of the preset and --override.
SYSTEMS: dict[str, dict] = {
    "full": {},
    "full-shared": {"model": {"track_head": False}, "entity_moves_audio": True},
    "triplet-semihard": {"track_loss": "triplet", "triplet_mining": "semi-hard"},
    "text-only": {"use_graph_positives": False},
    "text-only-meta": {"use_graph_positives": False, "metadata_views": True},
    "full-aug": {"augment": {"enabled": True}},
    "full-aug-ssl": {"augment": {"enabled": True}, "ssl": True},
    "full-ssl": {"ssl": True},
}


def compare(
    catalog: Annotated[Optional[Path], typer.Option("--catalog", help="Catalog folder to load into a throw-away in-memory graph (instead of the store).")] = None,
    uri: Uri = None,
    home: Home = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the models (<system>-s<seed>/), quality.csv / quality.md, ranks.csv and, with --split album, albums.csv / albums.md / albums.png.")] = Path("runs/quality"),
    seeds: Annotated[list[int], typer.Option("--seed", help="Seed of one run per system; repeat for several (mean and sd reported).")] = [0],  # noqa: B006 - typer default
    preset: Annotated[str, typer.Option("--preset", help="Packaged preset both systems start from.")] = "default",
    override: Annotated[str, typer.Option("--override", help="JSON TrainConfig overrides for both systems, e.g. '{\"epochs\": 4}'.")] = "{}",
    systems: Annotated[list[str], typer.Option("--system", help="full, full-shared (as before the track head: track↔track loss on the joint projection, entity term pulling the audio tower), triplet-semihard (track↔track triplet loss with semi-hard negatives instead of InfoNCE), text-only (attribute views only) and/or text-only-meta (the ablation plus metadata sentences naming artist and album); repeat.")] = ["full", "text-only"],  # noqa: B006
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
    split: Annotated[Optional[str], typer.Option("--split", help="Held-out split: work (default: versions of a work stay together) or album (whole albums held out; for same-album / same-artist on real recordings).")] = None,
    unlabelled: Annotated[Optional[Path], typer.Option("--unlabelled", help="Folder of unlabelled audio (or a catalog folder) for the self-supervised term of the systems that have it on (full-ssl, full-aug-ssl, or \"ssl\": true in --override).")] = None,
    fmt: Format = OutputFormat.text,
) -> None:
    """Train the full model and the text-only ablation (no graph positives) per seed and compare them on each seed's held-out works.

    The ablation pairs audio with attribute views only; text-only-meta adds the metadata sentences ("a chorale by Bach"), which name the track's artist and album and so carry track↔entity positives in words.

    Prints one row per (task, system) — text→audio per attribute kind, track→track same album, same artist and same work on the audio vectors alone in the joint space (track_track) and in the track head's space (track_head), among the held-out tracks and with them ranked among every track of the catalog (track_catalog, track_head_catalog) — with mean R@10 / mAP@10 / P@10 / P@1 over the seeds, their sd, a random baseline (chance) and an MFCC-statistics baseline (track→track only); then the effective ranks of the audio and text embeddings. Writes quality.csv, quality.md and ranks.csv into --out. With --split album also per held-out album: catalog same-album P@10 / P@1 of each system, MFCC and chance, per seed (albums.csv) and as the mean over the seeds that held each album out (albums.md, printed; albums.png).

    Example: kgjemb train-compare --catalog data/demo-catalog --out runs/quality --seed 0 --seed 1
    """
    from kgjemb.audio.io import audio_files
    from kgjemb.errors import KgjembError
    from kgjemb.paths import cache_dir
    from kgjemb.train.config import load_config
    from kgjemb.train.compare import album_summary, compare_systems, effective_ranks, plot_album_summary

    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        typer.echo(f"Error: unknown --system {unknown}; choose from {list(SYSTEMS)}", err=True)
        raise typer.Exit(2)
    try:
        over = json.loads(override)
        if split is not None:
            over = {**over, "split": split}
        configs = {name: load_config(preset=preset, overrides={**over, **SYSTEMS[name]}) for name in systems}
    except (ValueError, TypeError) as err:
        typer.echo(f"Error: --override/--preset: {err}", err=True)
        raise typer.Exit(2) from err
    try:
        export = _export(catalog, uri, home, user, password, database)
        if unlabelled is not None:
            audio_files(unlabelled)  # a bad folder fails before any training
        result = compare_systems(export, configs, out_root=out, cache_dir=cache_dir(home), seeds=seeds,
                                 progress=not no_progress, unlabelled=unlabelled)
    except KgjembError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    table, albums = result.table, result.albums
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "quality.csv", index=False)
    per_album = album_summary(albums)
    if not albums.empty:
        albums.to_csv(out / "albums.csv", index=False)
        (out / "albums.md").write_text(_markdown(per_album))
        plot_album_summary(per_album, out / "albums.png")
    (out / "quality.md").write_text(_markdown(table))
    ranks = effective_ranks(out, systems, seeds=seeds)
    ranks.to_csv(out / "ranks.csv", index=False)
    if fmt is OutputFormat.json:
        typer.echo(json.dumps({"quality": table.to_dict(orient="records"), "ranks": ranks.to_dict(orient="records"),
                               "albums": albums.to_dict(orient="records")}, indent=2, default=str))
        return
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if not per_album.empty:
        typer.echo("\nper held-out album: catalog same-album P@10 / P@1, mean over the seeds that held it out")
        typer.echo(per_album.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo("\neffective rank (mean over seeds)")
    typer.echo(ranks.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


def _export(catalog, uri, home, user, password, database):
    """The graph export of ``catalog`` (validated, loaded into memory) or of the store."""
    from kgjemb.graph.open import catalog_export

    if catalog is not None:
        return catalog_export(catalog)
    store = store_from_options(uri, home, user, password, database)
    try:
        return store.export()
    finally:
        store.close()


def _markdown(table) -> str:
    """A GitHub Markdown table of ``table`` (numbers to 3 decimals), without tabulate."""
    cols = list(table.columns)
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
