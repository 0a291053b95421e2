"""``kgjemb index build|add|sync|remove``: write the FAISS index bundle and keep it following the graph.

Exit codes: 0 success, 1 bundle/model/store failure, 2 usage error (bad option, invalid catalog).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from kgjemb.cli.common import (EXIT_INVALID, EXIT_USAGE, Database, DeviceOpt, Format, Home, OutputFormat, Password, Uri,
                               User, store_from_options, use_device)
from kgjemb.device import Device

app = typer.Typer(no_args_is_help=True, help="Build and update the FAISS index bundle.")

ModelOpt = Annotated[Optional[Path], typer.Option("--model", help="Trained model directory (default: HOME/model).")]
BundleOpt = Annotated[Optional[Path], typer.Option("--bundle", "--out", help="Bundle directory (default: HOME/bundle).")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="No progress bars.")]
BackendOpt = Annotated[str, typer.Option("--backend", help="Vector index backend: faiss (in the bundle) or milvus (a Milvus server/cluster).")]
IndexUriOpt = Annotated[Optional[str], typer.Option(
    "--index-uri", "--milvus-uri", envvar="KGJEMB_MILVUS_URI",
    help="Milvus proxy URI for --backend milvus [default: http://127.0.0.1:19530]. (--uri is the Neo4j store's.)")]
CollectionOpt = Annotated[str, typer.Option("--collection", help="Milvus collection for --backend milvus (replaced if it exists).")]


def _fail(err: Exception, code: int = EXIT_INVALID) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(code) from err


def _report(out: dict, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
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
    backend: BackendOpt = "faiss",
    index_uri: IndexUriOpt = None,
    collection: CollectionOpt = "kgjemb_tracks",
    home: Home = None,
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    no_progress: NoProgress = False,
    fmt: Format = OutputFormat.text,
    device: DeviceOpt = Device.auto,
) -> None:
    """Embed every track with audio, build the FAISS index and entity vectors, and write the
    bundle (manifest with sha256s, index, vectors, graph snapshot, model copy) atomically.

    Example: kgjemb index build --home .kgjemb --factory HNSW32
    Milvus:  kgjemb index build --home .kgjemb --backend milvus --index-uri http://127.0.0.1:19530 --collection demo
    (the manifest records backend, uri and collection; add/remove/search/serve reconnect there)
    """
    from kgjemb.errors import KgjembError
    from kgjemb.index.builder import BuildConfig, build_bundle
    from kgjemb.index.faiss_index import IndexConfig
    from kgjemb.index.milvus_index import MilvusConfig
    from kgjemb.paths import bundle_dir, cache_dir, model_dir

    use_device(device)
    try:
        milvus = MilvusConfig()
        if backend == "milvus":  # --factory is then a Milvus index type (auto, FLAT, HNSW, IVF_FLAT, IVF_PQ)
            milvus = MilvusConfig(collection=collection, ef_search=ef_search, index_type=factory,
                                  **({"uri": index_uri} if index_uri else {}))
        config = BuildConfig(backend=backend, index=IndexConfig(factory=factory, ef_search=ef_search),
                             milvus=milvus, audio_batch_size=batch_size, progress=not no_progress)
    except ValueError as err:
        _fail(err, EXIT_USAGE)
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
             "dim": manifest["dim"], "seconds": round(time.perf_counter() - start, 2)}, fmt)


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
    fmt: Format = OutputFormat.text,
    device: DeviceOpt = Device.auto,
) -> None:
    """Load a catalog into the graph store (created and changed rows; nothing deleted),
    then sync the bundle with the store: embed its new tracks and recompute entity vectors
    inductively (no retraining). Atomic rewrite.

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
        _fail(err, EXIT_USAGE)
    if not report.valid:
        for p in report.problems:
            typer.echo(str(p), err=True)
        _fail(ValueError(f"{catalog}: invalid catalog; nothing added"), EXIT_USAGE)
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
             "added_ids": change["added"], "graph": change["graph"], "seconds": round(time.perf_counter() - start, 2)},
            fmt)


@app.command()
def sync(
    bundle: BundleOpt = None,
    home: Home = None,
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    no_progress: NoProgress = False,
    fmt: Format = OutputFormat.text,
) -> None:
    """Bring a bundle up to the graph store without retraining.

    Tracks deleted from the graph (or that lost their audio) leave the index; new tracks
    with audio, and tracks whose audio_path changed, are embedded with the bundle's model;
    the graph snapshot (filters, explanations, gazetteer) is replaced by the store's graph
    and the entity vectors are recomputed inductively; the manifest records the graph
    digest the bundle now follows. A bundle already following the graph is not rewritten.
    Atomic rewrite: a server keeps answering from the old bundle until it reloads
    (POST /v1/admin/reload or SIGHUP).

    Example: kgjemb index sync --home .kgjemb
    """
    from kgjemb.errors import KgjembError
    from kgjemb.index.builder import BuildConfig, update_bundle
    from kgjemb.paths import bundle_dir, cache_dir

    start = time.perf_counter()
    try:
        store = store_from_options(uri, home, user, password, database)
        try:
            export = store.export()
        finally:
            store.close()
        path, change = update_bundle(bundle or bundle_dir(home), export, config=BuildConfig(progress=not no_progress),
                                     cache_dir=cache_dir(home))
    except (KgjembError, OSError, RuntimeError) as err:
        _fail(err)
    _report({"bundle": str(path), "up_to_date": change["up_to_date"], "added": change["added"],
             "removed": change["removed"], "reembedded": change["reembedded"], "graph": change["graph"],
             "seconds": round(time.perf_counter() - start, 2)}, fmt)


@app.command()
def remove(
    ids: Annotated[list[str], typer.Argument(help="Track ids to remove.")],
    bundle: BundleOpt = None,
    home: Home = None,
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    bundle_only: Annotated[bool, typer.Option(
        "--bundle-only", help="Leave the graph store alone (the next `index sync` puts the tracks back).")] = False,
    fmt: Format = OutputFormat.text,
) -> None:
    """Remove tracks from the graph store (with their relationships) and from the bundle
    (index, vectors, graph snapshot; entity vectors recomputed). Atomic bundle rewrite.

    The graph is the system of record and a bundle follows it: a track removed from the
    bundle only would come back with the next `kgjemb index sync`, hence both by default.
    --bundle-only hides tracks from search while the graph keeps them.

    Example: kgjemb index remove t_001 t_002 --home .kgjemb
    """
    from kgjemb.errors import KgjembError
    from kgjemb.index.builder import remove_tracks
    from kgjemb.paths import bundle_dir, cache_dir

    wanted = list(dict.fromkeys(ids))
    from_graph: list[str] = []
    try:
        if not bundle_only:
            store = store_from_options(uri, home, user, password, database)
            try:
                from_graph = sorted(store.delete({"Track": wanted}, progress=False).diff.nodes["Track"].deleted)
            finally:
                store.close()
        path, removed = remove_tracks(bundle or bundle_dir(home), wanted, cache_dir=cache_dir(home))
    except (KgjembError, OSError, RuntimeError) as err:
        _fail(err)
    unknown = [i for i in wanted if i not in set(removed) and i not in set(from_graph)]
    _report({"bundle": str(path), "removed": removed, "removed_from_graph": None if bundle_only else from_graph,
             "unknown": unknown}, fmt)
    if unknown and not removed and not from_graph:
        raise typer.Exit(EXIT_INVALID)
