"""kgjemb serve: the HTTP service for recommendation backends."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from kgjemb.cli.common import DeviceOpt, Home, use_device
from kgjemb.device import Device

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    bundle_arg: Annotated[
        Optional[Path], typer.Argument(metavar="[BUNDLE]", help="Index bundle directory (same as --bundle).", show_default=False)
    ] = None,
    bundle: Annotated[
        Optional[Path], typer.Option("--bundle", help="Index bundle directory (default: HOME/bundle).", show_default=False)
    ] = None,
    home: Home = None,
    host: Annotated[str, typer.Option("--host", help="Interface to bind; loopback unless you say otherwise.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Server processes (each loads the bundle).")] = 1,
    batching: Annotated[
        Optional[bool],
        typer.Option("--batching/--no-batching", help="Micro-batch concurrent searches into one engine call (default no-batching: one thread-pool call per request measured better here).", show_default=False),
    ] = None,
    batch_wait_ms: Annotated[
        Optional[float], typer.Option("--batch-wait-ms", help="How long a batch waits for company (default 2).", show_default=False)
    ] = None,
    max_batch: Annotated[
        Optional[int], typer.Option("--max-batch", help="Most queries per POST /v1/search/batch (default 64).", show_default=False)
    ] = None,
    timeout: Annotated[
        Optional[float], typer.Option("--timeout", help="Seconds before an engine call answers 504 (default 10).", show_default=False)
    ] = None,
    engine_threads: Annotated[
        Optional[int], typer.Option("--engine-threads", help="Threads running engine calls (default 2).", show_default=False)
    ] = None,
    torch_threads: Annotated[
        Optional[int], typer.Option("--torch-threads", help="torch/FAISS intra-op threads (default 1).", show_default=False)
    ] = None,
    keep_alive: Annotated[
        float, typer.Option("--keep-alive", help="Seconds an idle keep-alive connection stays open (uvicorn's default is 5; "
                            "longer than the clients' pool expiry avoids resets on reuse).")
    ] = 30.0,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    device: DeviceOpt = Device.auto,
) -> None:
    """Serve an index bundle over HTTP (FastAPI on uvicorn), for recommendation backends.

    Routes (OpenAPI at /openapi.json, docs at /docs): POST /v1/search, POST /v1/search/batch,
    GET /v1/similar/{kind}/{id}, GET /v1/parse?q=, POST /v1/admin/reload, GET /healthz,
    GET /readyz, GET /metrics (Prometheus). The bundle loads in the background: /readyz
    answers 503 until it is ready. Tokens come only from the environment: KGJEMB_API_TOKEN
    protects every route but /healthz, /readyz and the API description; KGJEMB_ADMIN_TOKEN
    enables /v1/admin/reload (disabled without it). SIGHUP (single process) reloads the
    bundle in place without dropping requests. Every option also reads KGJEMB_SERVE_<NAME>
    (e.g. KGJEMB_SERVE_MAX_BATCH); options given on the command line win.

    Example: kgjemb serve --bundle .kgjemb/bundle --port 8000
    """
    import uvicorn

    from kgjemb.paths import bundle_dir
    from kgjemb.serve.app import create_app
    from kgjemb.serve.config import ServeConfig

    use_device(device)  # the process default: engine, FAISS and worker processes follow it
    if bundle_arg is not None and bundle is not None and bundle_arg.resolve() != bundle.resolve():
        raise typer.BadParameter(f"two different bundles given: {bundle_arg} and --bundle {bundle}")
    path = (bundle_arg or bundle or bundle_dir(home)).expanduser().resolve()
    if not (path / "manifest.json").is_file():
        raise typer.BadParameter(f"{path} is not an index bundle (no manifest.json); build one with `kgjemb index build`")
    try:
        config = ServeConfig.from_env(
            batching=batching, batch_wait_ms=batch_wait_ms, max_batch=max_batch,
            request_timeout_s=timeout, engine_threads=engine_threads, torch_threads=torch_threads,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    if host not in _LOOPBACK and config.api_token is None:
        logger.warning("binding to %s without KGJEMB_API_TOKEN: the search API is open to the network", host)
    if workers == 1:
        uvicorn.run(create_app(path, config=config), host=host, port=port, log_level=log_level,
                    timeout_keep_alive=keep_alive)
        return
    # Worker processes rebuild the app from the environment (uvicorn imports the factory).
    os.environ.update(config.to_env())
    os.environ["KGJEMB_SERVE_BUNDLE"] = str(path)
    uvicorn.run("kgjemb.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_keep_alive=keep_alive)
