"""Build and update index bundles: embed tracks' audio, build the vector index (FAISS or
Milvus, with each track's filter fields), compute entity vectors.

``build_bundle`` embeds every track that has audio; ``update_bundle`` syncs an existing
bundle with a newer graph export (embeds only tracks it has not seen, drops tracks that
left the graph, re-embeds tracks whose audio moved, re-sends the filter fields of tracks
whose credits, attributes or year changed, takes the new graph snapshot) and
``remove_tracks`` drops tracks by id; ``bundle_staleness`` tells whether a bundle is behind
the graph of a store. Updates recompute the entity
vectors with the same model (``embed_entities`` is inductive: new artists get vectors from
their tracks and neighbours without retraining) and rewrite the bundle atomically.

>>> from kgjemb.index.builder import build_bundle
>>> build_bundle(".kgjemb/bundle", model_dir=".kgjemb/model", export=store.export())  # doctest: +SKIP
"""
from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

import kgjemb.model as models  # lazy package: each model module loads on first use
from kgjemb.catalog.schema import NODE_LABELS, REL_TYPES
from kgjemb.device import default_device
from kgjemb.errors import BundleError
from kgjemb.graph.base import GraphDiff, GraphExport, GraphStore, Prune
from kgjemb.graph.diff import diff_tables, export_to_tables
from kgjemb.index.backends import BACKENDS, new_index
from kgjemb.index.bundle import Bundle, BundleContent, write_bundle
from kgjemb.index.faiss_index import IndexConfig
from kgjemb.index.fields import fields_from_export
from kgjemb.index.milvus_index import MilvusConfig
from kgjemb.paths import cache_dir as home_cache_dir

__all__ = ["BuildConfig", "build_bundle", "bundle_staleness", "graph_digest", "remove_tracks", "snapshot_diff",
           "update_bundle", "tracks_with_audio"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildConfig:
    """``backend``: vector index backend, a key of ``BACKENDS`` ("faiss", default, or
    "milvus"); ``index``: FAISS settings (factory ``auto``: Flat below 50k tracks, HNSW32
    above); ``milvus``: where and how the Milvus collection is built (uri, collection,
    index type); ``audio_batch_size``: files per ``embed_audio`` batch (16);
    ``progress``: progress bars (True).
    ``export_text``: also export the model's query-time text path into the cache (True),
    so that the first query does not pay the ~5-20 s export."""

    backend: str = "faiss"
    index: IndexConfig = field(default_factory=IndexConfig)
    milvus: MilvusConfig = field(default_factory=MilvusConfig)
    audio_batch_size: int = 16
    progress: bool = True
    export_text: bool = True

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown index backend {self.backend!r}; choose from {sorted(BACKENDS)}")


def graph_digest(export: GraphExport) -> str:
    """sha256 of a graph export's content (every node and edge table, in schema order);
    recorded in the manifest as ``graph_digest`` so callers can tell whether a bundle was
    built from the graph they hold."""
    import hashlib

    h = hashlib.sha256()
    for label in NODE_LABELS:
        h.update(label.encode())
        h.update(export.nodes[label].to_json(orient="values").encode())
    for key in REL_TYPES:
        h.update("-".join(key).encode())
        h.update(export.edges[key].to_json(orient="values").encode())
    return h.hexdigest()


def tracks_with_audio(export: GraphExport) -> tuple[list[str], list[str]]:
    """(track ids, audio paths) of tracks whose ``audio_path`` exists on disk, in export order."""
    frame = export.nodes["Track"]
    ids, paths, missing = [], [], 0
    for tid, path in zip(frame["id"].tolist(), frame["audio_path"].tolist()):
        if path and os.path.isfile(path):
            ids.append(tid)
            paths.append(path)
        elif path:
            missing += 1
    if missing:
        logger.warning("%d track(s) name an audio file that does not exist; they are not indexed", missing)
    return ids, paths


def _embed_audio(model, paths: list[str], config: BuildConfig) -> np.ndarray:
    if not paths:
        return np.zeros((0, model.dim), dtype=np.float32)
    start = time.perf_counter()
    vectors = np.asarray(model.embed_audio(paths, batch_size=config.audio_batch_size, progress=config.progress),
                         dtype=np.float32)  # (n, dim)
    if vectors.shape != (len(paths), model.dim):
        raise BundleError(f"model returned audio vectors of shape {vectors.shape} for {len(paths)} files")
    logger.info("embedded %d audio file(s) in %.1fs", len(paths), time.perf_counter() - start)
    return vectors


def _entities(model, export: GraphExport, ids: list[str], vectors: np.ndarray) -> dict[str, np.ndarray]:
    """Entity tower over ``export`` with the audio vectors placed at their track rows."""
    row = export.node_index("Track")
    full = np.zeros((len(row), model.dim), dtype=np.float32)  # (n_tracks, dim), zeros: no audio
    for tid, vec in zip(ids, vectors):
        full[row[tid]] = vec
    start = time.perf_counter()
    out = model.embed_entities(export, full)
    entities = {}
    for label in NODE_LABELS:
        arr = np.asarray(out.get(label, np.zeros((0, model.dim))), dtype=np.float32)
        if arr.shape != (len(export.nodes[label]), model.dim):
            raise BundleError(f"embed_entities returned {arr.shape} for {len(export.nodes[label])} {label} nodes")
        entities[label] = arr
    logger.info("entity vectors for %s in %.1fs", {lb: len(v) for lb, v in entities.items()}, time.perf_counter() - start)
    return entities


def _load_model(model_dir: Path, model=None, *, cache_dir: Path, device: str | None):
    if model is not None:
        return model
    try:
        return models.load_model(model_dir, cache_dir=cache_dir / "audio", device=device)
    except Exception as err:  # noqa: BLE001
        raise BundleError(f"{model_dir}: cannot load model: {err}") from err


def _export_text(model, cache_dir: Path) -> None:
    """Export the model's query-time text path now (it has the PyTorch model in hand), so
    that the first query does not pay for it. An export that fails only costs that time."""
    quantized = default_device() == "cpu"
    path = models.onnx_file(cache_dir, model.config, model.checksum(), quantized=quantized)
    if path.is_file():
        return
    start = time.perf_counter()
    try:
        model.text.export_onnx(path, quantize=quantized)
    except (OSError, RuntimeError) as err:
        logger.warning("text path not exported to %s (%s): the first query will export it", path, err)
        return
    logger.info("exported the text path for queries in %.1fs", time.perf_counter() - start)


def build_bundle(
    out: str | os.PathLike,
    *,
    model_dir: str | os.PathLike,
    export: GraphExport,
    config: BuildConfig = BuildConfig(),
    model=None,
    cache_dir: str | os.PathLike | None = None,
    device: str | None = None,
) -> Path:
    """Embed every track with audio in ``export`` with the model in ``model_dir``, build the
    index and entity vectors, and write the bundle to ``out`` (atomically replacing one).
    The audio vectors come from ``model_dir/audio_vectors.npz`` (:mod:`kgjemb.model.vectors`,
    written by the trainer) when they were computed by this model (weights, config, device
    type) from the features it reads now, in batches of ``config.audio_batch_size``;
    otherwise they are computed.

    ``cache_dir``: audio features, node-name vectors and the exported query-time text path
    live here (None: ``<home>/cache``); ``device``: ``cpu``/``cuda``/``auto`` for the model
    (None: the process default, :mod:`kgjemb.device`)."""
    model_dir = Path(model_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else home_cache_dir()
    model = _load_model(model_dir, model, cache_dir=cache_dir, device=device)
    ids, paths = tracks_with_audio(export)
    if not ids:
        raise BundleError("no track has a readable audio file: nothing to index")
    # the trainer stores the vectors of its final pass: the same weights, audio and batches
    vectors = models.stored_audio_vectors(model_dir, model=model, ids=ids, paths=paths, batch_size=config.audio_batch_size)
    if vectors is not None:
        logger.info("took the vectors of %d audio file(s) from %s", len(ids), model_dir)
    else:
        vectors = _embed_audio(model, paths, config)
    index = new_index(config.backend, dim=model.dim, faiss=config.index, milvus=config.milvus)
    index.index(ids, vectors, fields=fields_from_export(export, ids))
    content = BundleContent(index, ids, vectors, _entities(model, export, ids, vectors), export, model.checksum(),
                            extra={"graph_digest": graph_digest(export)})
    path = write_bundle(out, content, model_dir=model_dir)
    if config.export_text and hasattr(model, "text"):
        _export_text(model, cache_dir)
    return path


def update_bundle(
    path: str | os.PathLike,
    export: GraphExport,
    *,
    config: BuildConfig = BuildConfig(),
    model=None,
    cache_dir: str | os.PathLike | None = None,
    device: str | None = None,
) -> tuple[Path, dict]:
    """Bring the bundle at ``path`` in line with ``export`` (``index sync``/``add``/``remove``)
    without retraining: embed tracks with audio that it does not index yet (or whose
    ``audio_path`` changed), drop indexed tracks that are gone or lost their audio, replace
    the graph snapshot (filters, explanations, gazetteer) with ``export``, recompute the
    entity vectors inductively, record ``graph_digest(export)`` in the manifest, and rewrite
    the bundle atomically. A bundle that already follows ``export`` is left untouched.

    Returns (path, change) with change ``{"added": [...], "removed": [...], "reembedded":
    [...], "graph": GraphDiff counts of snapshot → export, "up_to_date": bool}``.
    ``cache_dir`` and ``device`` as in :func:`build_bundle`.
    """
    bundle = Bundle.open(path, cache_dir=cache_dir)
    digest = graph_digest(export)
    graph = snapshot_diff(bundle.export, export)
    ids, paths = tracks_with_audio(export)
    if bundle.manifest.get("graph_digest") == digest and not graph and ids == list(bundle.track_ids):
        logger.info("bundle %s already follows graph %s", bundle.path, digest[:12])
        return bundle.path, {"added": [], "removed": [], "reembedded": [], "graph": graph.counts(), "up_to_date": True}
    if model is None:
        model = bundle.load_model(loader=functools.partial(models.load_model, cache_dir=bundle.cache_dir / "audio", device=device))
    known = dict(zip(bundle.track_ids, range(len(bundle.track_ids))))
    frame = bundle.export.nodes["Track"]
    old_audio = dict(zip(frame["id"].tolist(), frame["audio_path"].tolist()))
    moved = {t for t, p in zip(ids, paths) if t in known and old_audio.get(t) != p}
    new = [(t, p) for t, p in zip(ids, paths) if t not in known or t in moved]
    keep = set(ids)
    gone = [t for t in bundle.track_ids if t not in keep or t in moved]
    new_vectors = _embed_audio(model, [p for _, p in new], config)
    index = bundle.index
    if gone:
        index.delete(gone)
    by_id = {t: bundle.track_vectors[i] for t, i in known.items() if t in keep and t not in moved}
    by_id.update({t: v for (t, _), v in zip(new, new_vectors)})
    # new tracks, and kept tracks whose filter fields changed (credits, attributes, year)
    kept = [t for t in bundle.track_ids if t in keep]
    old_fields = dict(zip(kept, fields_from_export(bundle.export, kept)))
    send = [t for t, _ in new] + [t for t in kept if t in by_id]
    send_fields = fields_from_export(export, send)
    fresh = {t for t, _ in new}  # new and re-embedded tracks (deleted above) are always sent
    changed = [(t, f) for t, f in zip(send, send_fields) if t in fresh or old_fields.get(t) != f]
    if changed:
        index.upsert([t for t, _ in changed], np.stack([by_id[t] for t, _ in changed]), fields=[f for _, f in changed])
    order = [t for t in ids if t in by_id]
    vectors = np.stack([by_id[t] for t in order]) if order else np.zeros((0, model.dim), dtype=np.float32)
    content = BundleContent(index, order, vectors, _entities(model, export, order, vectors), export, model.checksum(),
                            extra={"graph_digest": digest})
    out = write_bundle(bundle.path, content, model_dir=None, reuse_model_from=bundle.path)
    added = [t for t, _ in new if t not in moved]
    removed = [t for t in gone if t not in moved]
    logger.info("bundle update: +%d track(s), -%d track(s), %d re-embedded; graph %s", len(added), len(removed),
                len(moved), digest[:12])
    return out, {"added": added, "removed": removed, "reembedded": sorted(moved), "graph": graph.counts(),
                 "up_to_date": False}


def snapshot_diff(old: GraphExport, new: GraphExport) -> GraphDiff:
    """What changed between two graph exports (e.g. a bundle's snapshot and its store's
    graph), per label and relationship type, property by property."""
    old_nodes, old_edges = export_to_tables(old)
    new_nodes, new_edges = export_to_tables(new)
    return diff_tables(old_nodes, old_edges, new_nodes, new_edges, prune=Prune(all_sources=True))


def bundle_staleness(bundle: Bundle | str | os.PathLike, store: GraphStore) -> str | None:
    """None when the bundle follows the graph ``store`` holds now, else a one-line warning
    saying what the bundle misses and how to catch up (``kgjemb index sync``).

    "Follows" means the graph digest recorded in the manifest (or, for a bundle written
    before digests were recorded, the digest of its snapshot) equals the digest of the
    store's export. ``Engine.open`` and ``serve`` call it to warn about a stale bundle.

    >>> bundle_staleness(".kgjemb/bundle", open_store(home=".kgjemb"))  # doctest: +SKIP
    'bundle .kgjemb/bundle is behind its graph (Track: 1 deleted; Artist: 1 changed): run `kgjemb index sync ...`'
    """
    if not isinstance(bundle, Bundle):
        bundle = Bundle.open(bundle, verify=False)
    current = store.export()
    followed = bundle.manifest.get("graph_digest") or graph_digest(bundle.export)
    if followed == graph_digest(current):
        return None
    counts = snapshot_diff(bundle.export, current).counts()
    parts = [f"{name}: " + ", ".join(f"{n} {kind}" for kind, n in c.items() if n and kind != "unchanged")
             for part in ("nodes", "relationships") for name, c in counts[part].items()
             if any(n for kind, n in c.items() if kind != "unchanged")]
    what = "; ".join(parts) if parts else "same content, different digest"
    return (f"bundle {bundle.path} is behind its graph ({what}): run `kgjemb index sync --bundle {bundle.path}` "
            f"with the same store options")


def drop_tracks(export: GraphExport, track_ids: Iterable[str]) -> GraphExport:
    """``export`` without the given Track nodes and every edge touching them."""
    drop = set(track_ids)
    nodes = dict(export.nodes)
    nodes["Track"] = export.nodes["Track"][~export.nodes["Track"]["id"].isin(drop)].reset_index(drop=True)
    edges = {}
    for key in REL_TYPES:
        frame = export.edges[key]
        mask = np.zeros(len(frame), dtype=bool)
        if key[0] == "Track":
            mask |= frame["src"].isin(drop).to_numpy()
        if key[2] == "Track":
            mask |= frame["dst"].isin(drop).to_numpy()
        edges[key] = frame[~mask].reset_index(drop=True)
    return GraphExport(nodes=nodes, edges=edges)


def remove_tracks(path: str | os.PathLike, track_ids: Iterable[str], *, config: BuildConfig = BuildConfig(),
                  cache_dir: str | os.PathLike | None = None, device: str | None = None) -> tuple[Path, list[str]]:
    """Remove tracks (by id) from the bundle's index and graph snapshot; returns the ids
    that were present. Unknown ids are reported in the log and otherwise ignored."""
    bundle = Bundle.open(path)
    wanted = list(dict.fromkeys(map(str, track_ids)))
    present = set(bundle.export.nodes["Track"]["id"])
    found = [t for t in wanted if t in present]
    unknown = [t for t in wanted if t not in present]
    if unknown:
        logger.warning("not in the bundle (ignored): %s", ", ".join(unknown))
    if not found:
        return bundle.path, []
    out, _ = update_bundle(bundle.path, drop_tracks(bundle.export, found), config=config, cache_dir=cache_dir, device=device)
    return out, found
