"""The index bundle: one directory holding everything a query needs, checked on open.

Layout (every file's sha256 is in ``manifest.json``)::

    manifest.json            format version, model checksum, dim, factory, index backend
                             (+ uri, collection for Milvus), counts, sha256s
    index/                   the tracks' audio vectors and scalar fields (VectorIndex.save):
                             the FAISS files, or for Milvus how to reconnect to its collection
    vectors/tracks.npy       (n_indexed, dim) audio vectors, rows = vectors/track_ids.json
                             (memory-mapped on open: updates read it; queries fetch
                             candidate vectors from the index)
    entities/<Label>.npy     (n_label, dim) entity vectors, rows = graph/nodes/<Label>.parquet
    graph/nodes/*.parquet    snapshot of the graph export: filters, paths, explanations
    graph/edges/*.parquet
    model/                   copy of the trained model directory

A bundle is written to a temporary sibling directory and renamed into place
(:func:`write_bundle`), so readers see the old bundle or the new one, never half of one.
:meth:`Bundle.open` is read-only and raises :class:`~kgjemb.errors.BundleError` naming
the file when one is missing or its checksum differs.

Nothing in a bundle is trusted until checked (:meth:`Bundle.verify`): the manifest must
list every file in the directory with its sha256 (an empty or missing ``files`` table is
refused, so is a file on disk it does not list and any file the reader needs that it
lacks); every entry must be a plain relative path inside the bundle (no ``..``, no
absolute paths) and every file a regular file, not a symlink. Nothing outside the bundle
directory is ever opened.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq

import kgjemb.model as models  # lazy package: each model module loads on first use
from kgjemb.atomic import atomic_dir
from kgjemb.catalog.schema import NODE_LABELS, REL_TYPES
from kgjemb.device import resolve_device
from kgjemb.errors import BundleError
from kgjemb.graph.base import GraphExport
from kgjemb.index.backends import load_index
from kgjemb.index.base import VectorIndex
from kgjemb.index.faiss_index import CONFIG_FILE, FIELDS_FILE, IDS_FILE, INDEX_FILE
from kgjemb.model.files import CONFIG_FILE as MODEL_CONFIG_FILE
from kgjemb.model.files import WEIGHTS_FILE, sha256_file
from kgjemb.paths import cache_dir as home_cache_dir

__all__ = ["FORMAT_VERSION", "Bundle", "BundleContent", "required_files", "sha256_file", "write_bundle"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: index scalar fields (filters pushed down), manifest "index" entry
MANIFEST = "manifest.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")

_MODEL_CACHE: dict[tuple, object] = {}  # (sha256 of model.pt, loader) -> model; see Bundle.load_model
_MODEL_LOCK = threading.Lock()


def required_files(backend: str = "faiss") -> list[str]:
    """Every file :meth:`Bundle.open` and the engine read for a bundle of ``backend``: the
    manifest must list them all (a Milvus bundle keeps only its connection config under
    ``index/``; the vectors live in the collection)."""
    index_files = [f"index/{CONFIG_FILE}"]
    if backend == "faiss":
        index_files += [f"index/{INDEX_FILE}", f"index/{IDS_FILE}", f"index/{FIELDS_FILE}"]
    return sorted([
        *index_files,
        "vectors/tracks.npy", "vectors/track_ids.json",
        *(f"entities/{lb}.npy" for lb in NODE_LABELS),
        *(f"graph/nodes/{lb}.parquet" for lb in NODE_LABELS),
        *(_edge_file(k) for k in REL_TYPES),
        f"model/{MODEL_CONFIG_FILE}", f"model/{WEIGHTS_FILE}",
    ])


def _check_entry(file: Path, name: object, digest: object) -> str:
    """A manifest entry must be a plain relative posix path and a sha256 hex digest."""
    if not isinstance(name, str) or not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise BundleError(f"{file}: bad entry {str(name)[:200]!r} in 'files' (expected a relative path and a sha256)")
    parts = name.split("/")
    if (not name or name.startswith("/") or "\\" in name or "\x00" in name
            or any(p in ("", ".", "..") for p in parts) or re.match(r"^[A-Za-z]:", name)):
        raise BundleError(f"{file}: entry {name[:200]!r} is not a plain path inside the bundle (no '..', no absolute paths)")
    return name


def _bundle_tree(path: Path) -> set[str]:
    """Relative names of every file under ``path``; a symlink or special file is refused."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for entry in (*dirnames, *filenames):
            full = Path(dirpath) / entry
            mode = os.lstat(full).st_mode
            rel = full.relative_to(path).as_posix()
            if stat.S_ISLNK(mode):
                raise BundleError(f"{full}: symlink in bundle {path} (a bundle holds regular files only)")
            if stat.S_ISREG(mode):
                found.add(rel)
            elif not stat.S_ISDIR(mode):
                raise BundleError(f"{full}: not a regular file (bundle {path})")
    return found


def _edge_file(key: tuple[str, str, str]) -> str:
    return f"graph/edges/{'-'.join(key)}.parquet"


@dataclass
class BundleContent:
    """What a bundle holds, in memory: the input of :func:`write_bundle`, the output of
    :meth:`Bundle.open`. ``track_ids[i]`` owns row ``i`` of ``track_vectors`` and is the
    id under which the index stores it; ``entities[label]`` rows follow
    ``export.nodes[label]``."""

    index: VectorIndex
    track_ids: list[str]
    track_vectors: np.ndarray
    entities: dict[str, np.ndarray]
    export: GraphExport
    model_checksum: str
    extra: dict = field(default_factory=dict)


def _write_content(root: Path, content: BundleContent, model_dir: Path | None) -> None:
    content.index.save(root / "index")
    (root / "vectors").mkdir()
    np.save(root / "vectors" / "tracks.npy", np.ascontiguousarray(content.track_vectors, dtype=np.float32))
    (root / "vectors" / "track_ids.json").write_text(json.dumps(content.track_ids))
    (root / "entities").mkdir()
    for label in NODE_LABELS:
        vectors = content.entities.get(label, np.zeros((0, content.index.dim), dtype=np.float32))
        np.save(root / "entities" / f"{label}.npy", np.ascontiguousarray(vectors, dtype=np.float32))
    (root / "graph" / "nodes").mkdir(parents=True)
    (root / "graph" / "edges").mkdir(parents=True)
    for label in NODE_LABELS:
        content.export.nodes[label].to_parquet(root / "graph" / "nodes" / f"{label}.parquet", index=False)
    for key in REL_TYPES:
        content.export.edges[key].to_parquet(root / _edge_file(key), index=False)
    if model_dir is not None:
        shutil.copytree(model_dir, root / "model")


def write_bundle(
    out: str | os.PathLike,
    content: BundleContent,
    *,
    model_dir: str | os.PathLike | None,
    reuse_model_from: str | os.PathLike | None = None,
) -> Path:
    """Write ``content`` (plus a copy of ``model_dir``) as a bundle at ``out``, atomically.

    Files go to a temporary directory next to ``out``; the manifest (with every file's
    sha256) is written last; then an existing bundle is moved aside, the new one renamed
    into place and the old one deleted. ``reuse_model_from`` copies the ``model/`` folder
    of another bundle instead of ``model_dir`` (incremental updates).

    >>> write_bundle(".kgjemb/bundle", content, model_dir=".kgjemb/model")  # doctest: +SKIP
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    source_model = Path(reuse_model_from) / "model" if reuse_model_from else (Path(model_dir) if model_dir else None)
    if source_model is None or not source_model.is_dir():
        raise BundleError(f"{source_model}: model directory not found")
    start = time.perf_counter()
    with atomic_dir(out) as tmp:
        _write_content(tmp, content, source_model)
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        manifest = {
            "format_version": FORMAT_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model_checksum": content.model_checksum,
            "dim": int(content.index.dim),
            "factory": content.index.factory,
            "index": content.index.describe(),
            "counts": {
                "tracks_indexed": len(content.track_ids),
                "nodes": {lb: int(len(content.export.nodes[lb])) for lb in NODE_LABELS},
                "edges": {"-".join(k): int(len(content.export.edges[k])) for k in REL_TYPES},
            },
            **content.extra,
            "files": {f: sha256_file(tmp / f) for f in files},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    logger.info("wrote bundle %s (%d tracks, %d files) in %.2fs", out, len(content.track_ids), len(files),
                time.perf_counter() - start)
    return out


def _read_export(root: Path) -> GraphExport:
    """The bundle's graph, read column-wise (Arrow columns as python lists, nulls as None)
    into the same frames every store builds: ~4x faster than going through per-row dicts,
    which is a tenth of a one-shot search's start."""
    from kgjemb.graph.frames import build_export_from_columns

    def columns(path: Path) -> dict[str, list]:
        return pq.read_table(path).to_pydict()

    nodes = {lb: columns(root / "graph" / "nodes" / f"{lb}.parquet") for lb in NODE_LABELS}
    edges = {k: columns(root / _edge_file(k)) for k in REL_TYPES}
    return build_export_from_columns(nodes, edges)


class Bundle:
    """A verified, read-only index bundle.

    >>> bundle = Bundle.open(".kgjemb/bundle")  # doctest: +SKIP
    >>> bundle.manifest["counts"]["tracks_indexed"], bundle.dim  # doctest: +SKIP
    """

    def __init__(self, path: Path, manifest: dict, content: BundleContent, *,
                 cache_dir: str | os.PathLike | None = None) -> None:
        self.path = path
        self.manifest = manifest
        self.content = content
        self.cache_dir = Path(cache_dir) if cache_dir is not None else home_cache_dir()
        self._model = None
        self._text_model = None

    # conveniences
    index = property(lambda self: self.content.index)
    track_ids = property(lambda self: self.content.track_ids)
    track_vectors = property(lambda self: self.content.track_vectors)
    entities = property(lambda self: self.content.entities)
    export = property(lambda self: self.content.export)
    dim = property(lambda self: int(self.manifest["dim"]))
    model_dir = property(lambda self: self.path / "model")

    @staticmethod
    def read_manifest(path: str | os.PathLike) -> dict:
        """The manifest of the bundle at ``path``, checked for shape: a JSON object with this
        format version and a non-empty ``files`` table of plain relative paths → sha256."""
        path = Path(path)
        file = path / MANIFEST
        if not path.is_dir():
            raise BundleError(f"{path}: bundle directory not found (build one with `kgjemb index build`)")
        try:
            if file.is_symlink():
                raise BundleError(f"{file}: manifest is a symlink (a bundle holds regular files only)")
            manifest = json.loads(file.read_text())
        except FileNotFoundError as err:
            raise BundleError(f"{file}: missing manifest (incomplete bundle?)") from err
        except (OSError, ValueError, RecursionError) as err:
            raise BundleError(f"{file}: unreadable manifest: {err}") from err
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            raise BundleError(f"{file}: not a bundle manifest (no 'files' table)")
        if not manifest["files"]:
            raise BundleError(f"{file}: the 'files' table is empty; a manifest must list every file with its sha256")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise BundleError(f"{file}: format version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}")
        for name, digest in manifest["files"].items():
            _check_entry(file, name, digest)
        return manifest

    @staticmethod
    def verify(path: str | os.PathLike, manifest: dict | None = None, *, checksums: bool = True) -> dict:
        """Check the bundle against its manifest; BundleError names the first bad file.

        Every file in the directory must be listed, every listed file present (a regular
        file, not a symlink) and every file the reader needs (:func:`required_files`)
        listed; with ``checksums`` (default) each file's sha256 must match.
        """
        path = Path(path).resolve()
        manifest = manifest or Bundle.read_manifest(path)
        listed = manifest["files"]
        on_disk = _bundle_tree(path) - {MANIFEST}
        unlisted = sorted(on_disk - set(listed))
        if unlisted:
            raise BundleError(f"{path / unlisted[0]}: not listed in {MANIFEST} (every bundle file must be, with its sha256)")
        backend = (manifest.get("index") or {}).get("backend", "faiss") if isinstance(manifest.get("index"), dict) else "faiss"
        needed = sorted(set(required_files(str(backend))) - set(listed))
        if needed:
            raise BundleError(f"{path / needed[0]}: not listed in {MANIFEST}, but the bundle reader needs it")
        for name, digest in sorted(listed.items()):
            file = path / name
            if name not in on_disk:
                raise BundleError(f"{file}: missing from bundle {path}")
            if checksums and sha256_file(file, follow_symlinks=False) != digest:
                raise BundleError(f"{file}: checksum mismatch (corrupt or modified bundle file)")
        return manifest

    @classmethod
    def open(cls, path: str | os.PathLike, *, verify: bool = True,
             cache_dir: str | os.PathLike | None = None) -> "Bundle":
        """Open and verify a bundle. Raises :class:`BundleError` naming the missing, unlisted
        or corrupt file; ``verify=False`` skips only the sha256 comparison (the listing,
        path and symlink checks always run); ``cache_dir``: where its model caches audio features and
        exported text graphs (None: ``<home>/cache``, see :mod:`kgjemb.paths`).

        The index is reopened with the backend the manifest names: FAISS from ``index/``,
        Milvus by reconnecting to the recorded uri and collection ($KGJEMB_MILVUS_URI
        overrides the uri)."""
        path = Path(path).resolve()
        start = time.perf_counter()
        manifest = cls.read_manifest(path)
        cls.verify(path, manifest, checksums=verify)
        try:
            index = load_index(path / "index")  # search settings as saved; change them with index.tune
            track_ids = json.loads((path / "vectors" / "track_ids.json").read_text())
            vectors = np.load(path / "vectors" / "tracks.npy", mmap_mode="r")  # read on demand: queries never need it
            entities = {lb: np.load(path / "entities" / f"{lb}.npy") for lb in NODE_LABELS}
            export = _read_export(path)
        except BundleError:
            raise
        except Exception as err:  # noqa: BLE001 - any unreadable part is a bundle problem
            raise BundleError(f"{path}: cannot read bundle: {err}") from err
        if vectors.shape != (len(track_ids), manifest["dim"]) or len(index) != len(track_ids):
            raise BundleError(f"{path / 'vectors' / 'tracks.npy'}: shape {vectors.shape} does not match "
                              f"{len(track_ids)} track ids / index of {len(index)}")
        for lb in NODE_LABELS:
            if entities[lb].shape[0] != len(export.nodes[lb]):
                raise BundleError(f"{path / 'entities' / (lb + '.npy')}: {entities[lb].shape[0]} rows for "
                                  f"{len(export.nodes[lb])} {lb} nodes")
        content = BundleContent(index, track_ids, vectors, entities, export, manifest.get("model_checksum", ""))
        logger.info("opened bundle %s (%d tracks) in %.2fs", path, len(track_ids), time.perf_counter() - start)
        return cls(path, manifest, content, cache_dir=cache_dir)

    def load_model(self, loader: Callable | None = None):
        """The bundle's full model (``kgjemb.model.load_model`` on ``model/``, features cached
        under ``cache_dir``), loaded once: what embeds new audio and entities
        (``index add``). Answering queries needs only :meth:`load_text_model`.

        Models are shared between bundles of one process that carry the same weights (same
        sha256 of ``model/model.pt``, already verified): a re-opened or updated bundle, a
        hot reload or a CLI test does not pay the ~2-15 s model load again. Inference does
        not mutate a model, so sharing is safe; the cache keeps the last four (full and text models).
        """
        if self._model is None:
            if loader is None:
                loader = functools.partial(models.load_model, cache_dir=self.cache_dir / "audio")
            self._model = self._shared(("full", repr(loader)), lambda: loader(self.model_dir))
        return self._model

    def load_text_model(self, *, device: str | None = None):
        """The query-time text path of the bundle's model
        (:func:`kgjemb.model.text_onnx.load_text_model`: ONNX Runtime, exported into
        ``cache_dir`` on first use), loaded once and shared like :meth:`load_model`. It has
        ``embed_text`` and ``checksum``: all the engine asks of a model. ``device``: None =
        the process default (:mod:`kgjemb.device`)."""
        if self._text_model is None:
            device = resolve_device(device)
            self._text_model = self._shared(
                ("text", device, str(self.cache_dir)),
                lambda: models.load_text_model(self.model_dir, cache_dir=self.cache_dir, device=device),
            )
        return self._text_model

    def _shared(self, kind: tuple, make: Callable):
        """``make()``, or the model already made for the same weights and ``kind``."""
        digest = self.manifest.get("files", {}).get("model/model.pt")
        key = (digest, *kind)
        with _MODEL_LOCK:
            cached = _MODEL_CACHE.get(key) if digest else None
        if cached is None:
            try:
                cached = make()
            except BundleError:
                raise
            except Exception as err:  # noqa: BLE001
                raise BundleError(f"{self.model_dir}: cannot load model: {err}") from err
            if digest:
                with _MODEL_LOCK:
                    _MODEL_CACHE[key] = cached
                    while len(_MODEL_CACHE) > 4:
                        _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
        return cached
