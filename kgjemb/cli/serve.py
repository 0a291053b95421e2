"""kgjemb serve: the HTTP service for recommendation backends."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from kgjemb.cli.common import DeviceOpt, Home, Uri, use_device
from kgjemb.device import Device
from kgjemb.serve.env import env_name

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _env(field: str) -> str:
    return f" [env: {env_name(field)}]"


def serve(
    bundle_arg: Annotated[
        Optional[Path], typer.Argument(metavar="[BUNDLE]", help="Index bundle directory (same as --bundle).", show_default=False)
    ] = None,
    bundle: Annotated[
        Optional[Path], typer.Option("--bundle", help="Index bundle directory (default: HOME/bundle)." + _env("bundle"),
                                     show_default=False)
    ] = None,
    home: Home = None,
    uri: Uri = None,
    host: Annotated[Optional[str], typer.Option(
        "--host", help="Interface to bind (default 127.0.0.1: loopback unless you say otherwise)." + _env("host"),
        show_default=False)] = None,
    port: Annotated[Optional[int], typer.Option("--port", min=0, max=65535, help="TCP port (default 8000)." + _env("port"),
                                                show_default=False)] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, max=64, help="Server processes, each loading the bundle (default 1); metrics are shared "
        "through PROMETHEUS_MULTIPROC_DIR." + _env("workers"), show_default=False)] = None,
    batching: Annotated[
        Optional[bool],
        typer.Option("--batching/--no-batching", help="Micro-batch concurrent searches into one engine call (default "
                     "no-batching: one thread-pool call per request measured better here)." + _env("batching"),
                     show_default=False),
    ] = None,
    batch_wait_ms: Annotated[
        Optional[float], typer.Option("--batch-wait-ms", help="How long a batch waits for company (default 2)."
                                      + _env("batch_wait_ms"), show_default=False)
    ] = None,
    max_batch: Annotated[
        Optional[int], typer.Option("--max-batch", help="Most queries per POST /v1/search/batch (default 64, at most "
                                    "1024; the OpenAPI schema states it)." + _env("max_batch"), show_default=False)
    ] = None,
    timeout: Annotated[
        Optional[float], typer.Option("--timeout", help="Seconds before an engine call answers 504 (default 10)."
                                      + _env("request_timeout_s"), show_default=False)
    ] = None,
    engine_threads: Annotated[
        Optional[int], typer.Option("--engine-threads", help="Threads running engine calls (default 2)."
                                    + _env("engine_threads"), show_default=False)
    ] = None,
    torch_threads: Annotated[
        Optional[int], typer.Option("--torch-threads", help="FAISS threads per process (default 1)."
                                    + _env("torch_threads"), show_default=False)
    ] = None,
    walks_kept: Annotated[
        Optional[int], typer.Option("--walks-kept", min=0, help="Array entries of graph walks each process keeps for "
                                    "repeated anchors (default 2000000, ~32 MB; 0 keeps none)." + _env("walks_kept"),
                                    show_default=False)
    ] = None,
    engine_config: Annotated[
        Optional[str], typer.Option(
            "--engine-config", metavar="FILE|JSON", help="Engine settings (signal weights, graph walk, fusion, ...) "
            "from a JSON file (read again at each reload) or an inline JSON object; unnamed settings keep their "
            "defaults." + _env("engine_config"), show_default=False)
    ] = None,
    keep_alive: Annotated[
        Optional[float], typer.Option("--keep-alive", help="Seconds an idle keep-alive connection stays open (default 30; "
                                      "uvicorn's is 5; longer than the clients' pool expiry avoids resets on reuse)."
                                      + _env("keep_alive_s"), show_default=False)
    ] = None,
    header_timeout: Annotated[
        Optional[float], typer.Option("--header-timeout", help="Seconds a connection may take to send a complete "
                                      "request head before it is closed (default 10; slow-loris protection)."
                                      + _env("header_timeout_s"), show_default=False)
    ] = None,
    log_level: Annotated[Optional[str], typer.Option("--log-level", help="uvicorn log level (default info)."
                                                     + _env("log_level"), show_default=False)] = None,
    device: DeviceOpt = Device.auto,
) -> None:
    """Serve an index bundle over HTTP (FastAPI on uvicorn), for recommendation backends.

    Routes (OpenAPI at /openapi.json, docs at /docs): POST /v1/search, POST /v1/search/batch,
    GET /v1/similar/{kind}/{id}, GET /v1/parse?q=, POST /v1/admin/reload, GET|HEAD /healthz,
    GET|HEAD /readyz, GET /metrics (Prometheus). The bundle loads in the background: /readyz
    answers 503 until it is ready. Tokens come only from the environment and must be at
    least 8 characters long (the server refuses to start otherwise): KGJEMB_API_TOKEN
    protects every route but /healthz, /readyz and the API description; KGJEMB_ADMIN_TOKEN
    enables /v1/admin/reload (disabled without it). Limits: query text 1..1000 characters,
    k 1..1000, --max-batch queries per batch, request bodies up to 1 MiB
    (KGJEMB_SERVE_MAX_BODY_BYTES). SIGHUP (single process) reloads the bundle in place
    without dropping requests. Every option reads the variable shown with it; options given
    on the command line win.

    Example: kgjemb serve --bundle .kgjemb/bundle --port 8000
    """
    import uvicorn

    from kgjemb.paths import bundle_dir
    from kgjemb.serve.app import create_app
    from kgjemb.serve.config import ServeConfig
    from kgjemb.serve.metrics import MULTIPROC_ENV
    from kgjemb.serve.workers import run_workers

    use_device(device)  # the process default: engine, FAISS and worker processes follow it
    if bundle_arg is not None and bundle is not None and bundle_arg.resolve() != bundle.resolve():
        raise typer.BadParameter(f"two different bundles given: {bundle_arg} and --bundle {bundle}")
    try:
        config = ServeConfig.from_env(
            bundle=bundle_arg or bundle, host=host, port=port, workers=workers, batching=batching,
            batch_wait_ms=batch_wait_ms, max_batch=max_batch, request_timeout_s=timeout,
            engine_threads=engine_threads, torch_threads=torch_threads, walks_kept=walks_kept,
            engine_config=engine_config, keep_alive_s=keep_alive, header_timeout_s=header_timeout,
            log_level=log_level.lower() if log_level else None,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    path = (config.bundle or bundle_dir(home)).expanduser().resolve()
    if not (path / "manifest.json").is_file():
        raise typer.BadParameter(f"{path} is not an index bundle (no manifest.json); build one with `kgjemb index build`")
    config = config.with_(bundle=path)
    _warn_if_stale(path, uri=uri, home=home)
    if config.host not in _LOOPBACK and config.api_token is None:
        logger.warning("binding to %s without KGJEMB_API_TOKEN: the search API is open to the network", config.host)
    # the launcher is the one place that writes the settings into the environment: worker
    # processes and the header-timeout protocol (imported by name) rebuild them from it
    os.environ.update(config.to_env())
    server = dict(host=config.host, port=config.port, log_level=config.log_level,
                  timeout_keep_alive=config.keep_alive_s, h11_max_incomplete_event_size=config.max_header_bytes,
                  http="kgjemb.serve.protocol:HeaderTimeoutProtocol")
    if config.workers == 1:
        uvicorn.run(create_app(path, config=config), **server)
        return
    own_dir = None
    if not os.environ.get(MULTIPROC_ENV):  # one metrics directory shared by the workers
        own_dir = tempfile.mkdtemp(prefix="kgjemb-metrics-")
        os.environ[MULTIPROC_ENV] = own_dir
    try:
        run_workers("kgjemb.serve.app:app_from_env", factory=True, workers=config.workers, **server)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


def _warn_if_stale(bundle: Path, *, uri: str | None, home: Path | None) -> None:
    """Log a warning at start when the graph store (Neo4j at ``--uri``, else the embedded
    store under HOME when there is one) has moved on from the graph the bundle follows."""
    from kgjemb.errors import KgjembError
    from kgjemb.graph.open import open_store
    from kgjemb.index.builder import bundle_staleness
    from kgjemb.paths import graph_dir

    if uri is None and not graph_dir(home).exists():
        return
    try:
        store = open_store(uri, home=home)
        try:
            message = bundle_staleness(bundle, store)
        finally:
            store.close()
    except KgjembError as err:  # a store that cannot be read does not stop the service
        logger.warning("could not compare the bundle with its graph store: %s", err)
        return
    if message:
        logger.warning("%s", message)
