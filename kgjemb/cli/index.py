"""``kgjemb index build|add|remove``: write and update the FAISS index bundle.

Exit codes: 0 success, 1 bundle/model/store failure, 2 usage error (bad option, invalid catalog).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from kgjemb.cli.common import Database, DeviceOpt, Home, Password, Uri, User, store_from_options, use_device
from kgjemb.device import Device

app = typer.Typer(no_args_is_help=True, help="Build and update the FAISS index bundle.")

ModelOpt = Annotated[Optional[Path], typer.Option("--model", help="Trained model directory (default: HOME/model).")]
BundleOpt = Annotated[Optional[Path], typer.Option("--bundle", "--out", help="Bundle directory (default: HOME/bundle).")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="No progress bars.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _fail(err: Exception, code: int = 1) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(code) from err


def _report(out: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            typer.echo(f"{key}: {value}")


@app.command()
def build(
    model: ModelOpt = None,
    out: BundleOpt = None,
    factory: Annotated[str, typer.Option("--factory", help="FAISS index_factory string, or 'auto' (Flat < 50k tracks, else HNSW32).")] = "auto",
    ef_search: Annotated[int, typer.Option("--ef-search", min=1, help="HNSW search breadth.")] = 64,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Audio files per embedding batch.")] = 16,
    home: Home = None,
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    no_progress: NoProgress = False,
    as_json: JsonOpt = False,
    device: DeviceOpt = Device.auto,
) -> None:
    """Embed every track with audio, build the FAISS index and entity vectors, and write the
    bundle (manifest with sha256s, index, vectors, graph snapshot, model copy) atomically.

    Example: kgjemb index build --home .kgjemb --factory HNSW32
    """
    from kgjemb.errors import KgjembError
    from kgjemb.index.builder import BuildConfig, build_bundle
    from kgjemb.index.faiss_index import IndexConfig
    from kgjemb.paths import bundle_dir, cache_dir, model_dir

    use_device(device)
    try:
        config = BuildConfig(index=IndexConfig(factory=factory, ef_search=ef_search), audio_batch_size=batch_size,
                             progress=not no_progress)
    except ValueError as err:
        _fail(err, 2)
    start = time.perf_counter()
    try:
        store = store_from_options(uri, home, user, password, database)
        try:
            export = store.export()
        finally:
            store.close()
        path = build_bundle(out or bundle_dir(home), model_dir=model or model_dir(home), export=export, config=config,
                            cache_dir=cache_dir(home))
        manifest = json.loads((path / "manifest.json").read_text())
    except (KgjembError, OSError, RuntimeError) as err:
        _fail(err)
    _report({"bundle": str(path), "tracks_indexed": manifest["counts"]["tracks_indexed"], "factory": manifest["factory"],
             "dim": manifest["dim"], "seconds": round(time.perf_counter() - start, 2)}, as_json)


@app.command()
def add(
    catalog: Annotated[Path, typer.Argument(help="Catalog directory with the new tracks (self-contained: their artists too).")],
    bundle: BundleOpt = None,
    home: Home = None,
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    no_progress: NoProgress = False,
    as_json: JsonOpt = False,
    device: DeviceOpt = Device.auto,
) -> None:
    """Load a catalog into the graph store, then embed its new tracks into the existing
    bundle and recompute entity vectors inductively (no retraining). Atomic rewrite.

    Example: kgjemb index add data/new-releases --home .kgjemb
    """
    from kgjemb.catalog.rows import catalog_to_rows
    from kgjemb.catalog.validate import validate_catalog
    from kgjemb.errors import KgjembError
    from kgjemb.index.builder import BuildConfig, update_bundle
    from kgjemb.paths import bundle_dir, cache_dir

    use_device(device)
    start = time.perf_counter()
    try:
        cat, report = validate_catalog(catalog)
    except KgjembError as err:
        _fail(err, 2)
    if not report.valid:
        for p in report.problems:
            typer.echo(str(p), err=True)
        _fail(ValueError(f"{catalog}: invalid catalog; nothing added"), 2)
    try:
        store = store_from_options(uri, home, user, password, database)
        try:
            store.upsert(catalog_to_rows(cat), progress=not no_progress)
            export = store.export()
        finally:
            store.close()
        path, change = update_bundle(bundle or bundle_dir(home), export, config=BuildConfig(progress=not no_progress),
                                     cache_dir=cache_dir(home))
    except (KgjembError, OSError, RuntimeError) as err:
        _fail(err)
    _report({"bundle": str(path), "added": len(change["added"]), "removed": len(change["removed"]),
             "added_ids": change["added"], "seconds": round(time.perf_counter() - start, 2)}, as_json)


@app.command()
def remove(
    ids: Annotated[list[str], typer.Argument(help="Track ids to remove from the bundle.")],
    bundle: BundleOpt = None,
    home: Home = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove tracks from the bundle (index, vectors and graph snapshot); the graph store is
    not changed. Entity vectors are recomputed. Atomic rewrite.

    Example: kgjemb index remove t_001 t_002 --home .kgjemb
    """
    from kgjemb.errors import KgjembError
    from kgjemb.index.builder import remove_tracks
    from kgjemb.paths import bundle_dir, cache_dir

    try:
        path, removed = remove_tracks(bundle or bundle_dir(home), ids, cache_dir=cache_dir(home))
    except (KgjembError, OSError, RuntimeError) as err:
        _fail(err)
    unknown = [i for i in ids if i not in set(removed)]
    _report({"bundle": str(path), "removed": removed, "unknown": unknown}, as_json)
    if unknown and not removed:
        raise typer.Exit(1)
