"""Hold the live engine and swap in a new bundle without dropping requests.

A new bundle is opened in a worker thread beside the old one; when it is ready the
holder's single ``(engine, info)`` reference is replaced in one assignment. Requests
take that reference once when they start, so in-flight requests finish on the engine
they began with and the old engine is freed when the last of them lets go.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kgjemb.errors import BundleError
from kgjemb.collector import settle
from kgjemb.query.config import EngineConfig, load_engine_config
from kgjemb.query.engine import Engine

__all__ = ["BundleInfo", "EngineHolder", "describe_bundle", "open_engine"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundleInfo:
    """What is being served: where from, which version, and which load (``generation``)."""

    path: str
    version: str
    checksum: str
    model_checksum: str | None
    generation: int
    loaded_at: float
    format_version: str | None = None
    created_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_bundle(path: str | Path, generation: int) -> BundleInfo:
    """Read a bundle's ``manifest.json`` into a :class:`BundleInfo`.

    ``checksum`` is the sha256 of the manifest (which lists every file's sha256), so two
    bundles with the same checksum hold the same files; ``version`` is the manifest's
    ``version`` field, else the first 12 characters of the checksum (a content version);
    ``format_version`` and ``created_at`` are copied from the manifest when present.
    """
    path = Path(path)
    manifest_path = path / "manifest.json"
    try:
        if manifest_path.is_symlink():
            raise BundleError(f"{manifest_path}: manifest is a symlink (a bundle holds regular files only)")
        raw = manifest_path.read_bytes()
        manifest = json.loads(raw)
    except FileNotFoundError as err:
        raise BundleError(f"{manifest_path}: no manifest.json (is {path} a bundle directory?)") from err
    except (OSError, ValueError, RecursionError) as err:
        raise BundleError(f"{manifest_path}: unreadable manifest: {err}") from err
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path}: manifest is not a JSON object")
    checksum = hashlib.sha256(raw).hexdigest()
    version = manifest.get("version") or manifest.get("bundle_version")
    model = manifest.get("model_checksum")
    if not model and isinstance(manifest.get("model"), dict):
        model = manifest["model"].get("checksum")
    return BundleInfo(
        path=str(path.resolve()),
        version=str(version) if version is not None else checksum[:12],
        checksum=checksum,
        model_checksum=str(model) if model else None,
        generation=generation,
        loaded_at=time.time(),
        format_version=str(manifest["format_version"]) if "format_version" in manifest else None,
        created_at=str(manifest["created_at"]) if "created_at" in manifest else None,
    )


def open_engine(path: str | Path, *, threads: int | None = None, walks_kept: int | None = None,
                engine_config: str | None = None) -> Engine:
    """Default loader: :meth:`kgjemb.query.engine.Engine.open` on ``path`` (which verifies
    the bundle, see :meth:`kgjemb.index.bundle.Bundle.verify`) with the settings of
    ``engine_config`` (a JSON file, read now, or an inline JSON object; None: defaults,
    :func:`~kgjemb.query.config.load_engine_config`); ``threads`` sets the worker's FAISS
    and BLAS thread pools (:func:`kgjemb.query.threads.set_threads`; None: library
    defaults); ``walks_kept`` bounds the graph walks kept for repeated anchors
    (``EngineConfig.walks_kept``; None: the config's). Torch is not imported: the query
    path runs on ONNX Runtime and FAISS."""
    config = load_engine_config(engine_config) if engine_config is not None else EngineConfig()
    kept = {} if walks_kept is None else {"walks_kept": walks_kept}
    # settle=False: the holder settles once the new engine is swapped in (the old one goes then)
    return Engine.open(path, config=dataclasses.replace(config, threads=threads, **kept), settle=False)


class EngineHolder:
    """The live ``(engine, BundleInfo)`` pair and the machinery to replace it.

    ``loader(path) -> engine`` opens a bundle (default :func:`open_engine`). Loads are
    serialised by an asyncio lock; a failed load leaves the current engine serving and is
    reported in ``last_error``. After a swap the garbage collector collects once and
    freezes what is alive (:func:`~kgjemb.collector.settle`).

    >>> holder = EngineHolder(open_engine)            # doctest: +SKIP
    >>> info = await holder.load("/srv/bundle-v2")     # doctest: +SKIP
    >>> engine, info = holder.current                  # doctest: +SKIP
    """

    def __init__(self, loader: Callable[[Path], Engine] = open_engine) -> None:
        self._loader = loader
        self._current: tuple[Engine, BundleInfo] | None = None
        self._lock = asyncio.Lock()
        self._generation = 0
        self.last_error: str | None = None
        self.loading = False
        self.listeners: list[Callable[[BundleInfo], None]] = []

    @property
    def current(self) -> tuple[Engine, BundleInfo] | None:
        """The live pair, or None before the first successful load. Read it once per request."""
        return self._current

    @property
    def path(self) -> Path | None:
        cur = self._current
        return Path(cur[1].path) if cur else None

    async def load(self, path: str | Path) -> BundleInfo:
        """Open ``path`` in a thread, then swap it in. Raises :class:`BundleError` (the
        current engine keeps serving) when the directory is missing or fails to open."""
        path = Path(path).expanduser()
        if not path.is_dir():
            raise BundleError(f"bundle directory {str(path)!r} does not exist")
        async with self._lock:
            self.loading = True
            started = time.perf_counter()
            try:
                info = await asyncio.to_thread(describe_bundle, path, self._generation + 1)
                engine = await asyncio.to_thread(self._loader, path)
            except BundleError as err:
                self.last_error = str(err)
                raise
            except Exception as err:  # any failure of a third-party loader is a bad bundle here
                self.last_error = f"{type(err).__name__}: {err}"
                raise BundleError(f"cannot open bundle {str(path)!r}: {self.last_error}") from err
            finally:
                self.loading = False
            self._generation = info.generation
            self._current = (engine, info)  # the atomic swap
            self.last_error = None
            del engine
            # one full collection now (a replaced engine goes), then the live engine is frozen
            # out of later ones: at 10^6 tracks each would stall every request for ~1.7 s
            await asyncio.to_thread(settle)
            logger.info(
                "serving bundle %s (version %s, generation %d) after %.2f s",
                info.path, info.version, info.generation, time.perf_counter() - started,
            )
            for listener in self.listeners:
                listener(info)
            return info
