"""Everything the trainer precomputes once: features, text-view pools, graph index, split.

* **Audio**: the whole file's log-mels of every track with audio, read through the model's
  on-disk :class:`~kgjemb.audio.cache.FeatureCache` (decoded once per file, ever) and kept
  in memory as float16; each step crops random windows of ``crop_s_min..crop_s_max``
  seconds from them (:meth:`TrainData.crops`), so no audio is decoded while training.
* **Unlabelled audio** (optional, for the self-supervised term): the features of every
  audio file under a folder, read the same way, in ``unlabelled``.
* **Text**: a pool of ``views_per_track`` views per track, each with its attribute-swap
  negative, drawn once with the seed; their frozen-encoder (MiniLM) vectors are computed
  once (and kept in ``<cache>/text/``), so a step only runs the projection head.
* **Relevance**: every view remembers which attributes it states, so the losses can tell a
  false in-batch negative (another track that has every attribute of the view) from a
  true one.

>>> data = TrainData.build(export, model, config)
>>> x = data.crops(np.arange(4), 250, rng)        # (4, n_features, 250)
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from kgjemb.atomic import atomic_path
from kgjemb.audio.cache import FeatureCache
from kgjemb.audio.config import FrontendConfig
from kgjemb.audio.features import silence_db
from kgjemb.audio.io import audio_files
from kgjemb.catalog.schema import attribute_id
from kgjemb.errors import KgjembError
from kgjemb.graph.base import GraphExport
from kgjemb.train.positives import GraphIndex
from kgjemb.train.split import Split, make_split
from kgjemb.train.views import TextViews, track_facts

__all__ = ["TrainData", "TextPool", "encode_cached", "torch_threads", "track_subgraph"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op thread count set to ``n`` for the ``with`` block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class TextPool:
    """Pre-drawn text views: ``strings`` (unique), ``raw`` (n_strings, 384) encoder vectors,
    ``view`` / ``neg`` (n_tracks, V) indices into ``strings`` (-1: none), and
    ``view_attr`` (n_strings, n_attributes) sparse incidence of the attributes each string
    states (empty rows for metadata sentences)."""

    strings: list[str]
    raw: torch.Tensor
    view: np.ndarray
    neg: np.ndarray
    view_attr: sp.csr_matrix


def encode_cached(model, texts: list[str], cache: Path | None, *, progress: bool = False) -> torch.Tensor:
    """Frozen text-encoder vectors ``(n, 384)`` for ``texts``, reusing ``cache`` (a
    ``.pt`` file mapping string → vector, rewritten atomically when it grows)."""
    known: dict[str, torch.Tensor] = {}
    if cache is not None and cache.is_file():
        try:
            known = torch.load(cache, weights_only=True)
        except Exception as err:  # noqa: BLE001 - a corrupt cache is rebuilt, not fatal
            logger.warning("text cache %s unreadable (%s); rebuilding", cache, err)
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        logger.info("encoding %d new text views (%d cached)", len(missing), len(texts) - len(missing))
        # all at once: the tower sorts them shortest first over the whole set, so a batch pads
        # to a length near its own strings' (sorted within chunks of 256 only, 3,000 of the
        # demo's views took 1.2x as long)
        vecs = model.text.encode_raw(missing, batch_size=128, progress=progress).detach().cpu()  # (m, 384)
        known.update(zip(missing, vecs))
        if cache is not None:
            with atomic_path(cache) as tmp:
                torch.save(known, tmp)
    if not texts:
        return torch.zeros(0, 384)
    return torch.stack([known[t] for t in texts])  # (n, 384)


@dataclass
class TrainData:
    """Precomputed inputs of one training run (see module docstring).

    ``audio_rows``: Track rows that have audio features; ``feats[row]`` their float16
    log-mels (None for tracks without audio). ``train_rows`` / ``val_rows``: rows with
    audio on each side of ``split``. ``index``: the full graph index; ``train_index``:
    the same restricted to training tracks with audio (positives never leak validation).
    ``unlabelled``: float16 features of the unlabelled recordings (``unlabelled_paths``).
    """

    export: GraphExport
    split: Split
    index: GraphIndex
    train_index: GraphIndex
    views: TextViews
    pool: TextPool
    feats: list[np.ndarray | None]
    train_rows: np.ndarray
    val_rows: np.ndarray
    pad_db: float
    frames_per_s: float
    unlabelled: list[np.ndarray] = dataclasses.field(default_factory=list)
    unlabelled_paths: list[Path] = dataclasses.field(default_factory=list)

    @classmethod
    def build(cls, export: GraphExport, model, config, *, cache_dir: Path | None = None, progress: bool = True,
              unlabelled: str | os.PathLike | None = None, threads: int = 1) -> "TrainData":
        """Precompute everything for ``config`` (a TrainConfig) from the graph ``export``;
        ``unlabelled``: a folder whose audio files (recursively, none outside it) feed the
        self-supervised term. ``threads``: what the frozen text encoder may use, and how
        many processes compute the audio features missing from the cache (each with one
        torch thread, as the trainer: features computed with more threads differ in the
        last bits, while the encoder's outputs were measured bit-identical)."""
        unl_paths = audio_files(unlabelled) if unlabelled is not None else []  # bad folder: fail first
        split = make_split(export, by=config.split, val_fraction=config.val_fraction, seed=config.seed)
        index = GraphIndex.from_export(export, config.positives)
        facts = track_facts(export)
        metadata = config.use_graph_positives if config.metadata_views is None else config.metadata_views
        views = TextViews(facts, config.views if metadata else dataclasses.replace(config.views, p_metadata=0.0))

        paths = list(export.nodes["Track"]["audio_path"])
        todo = [i for i, p in enumerate(paths) if isinstance(p, str) and p]
        _fill_cache(model.features, [paths[i] for i in todo], threads, progress)
        feats = _features(model, paths, todo, [f"track {facts[i].track_id}" for i in todo], progress, "audio features")
        failed = sum(feats[i] is None for i in todo)
        has_audio = np.array([f is not None and f.shape[1] > 0 for f in feats], dtype=bool)
        if has_audio.sum() < 2:
            raise KgjembError(
                f"need at least 2 tracks with readable audio to train, found {int(has_audio.sum())} "
                f"of {len(paths)} (audio_path set on {len(todo)}, unreadable {failed})"
            )
        train_rows = np.flatnonzero(has_audio & split.train_mask)
        val_rows = np.flatnonzero(has_audio & split.val_mask)
        if len(train_rows) < 2:
            raise KgjembError(f"need at least 2 training tracks with audio, found {len(train_rows)}")
        train_index = index.restrict(has_audio & split.train_mask)
        train_index.build_hard_pool(allowed=has_audio & split.train_mask)

        with torch_threads(threads):
            pool = cls._draw_pool(views, index, config, export, model, cache_dir, progress)
        fe = model.config.frontend
        unl: list[np.ndarray] = []
        if unl_paths:
            got = _features(model, unl_paths, range(len(unl_paths)), [str(p) for p in unl_paths], progress,
                            "unlabelled audio")
            keep = [i for i, f in enumerate(got) if f is not None and f.shape[1] > 0]
            if not keep:
                raise KgjembError(f"none of the {len(unl_paths)} audio files under {unlabelled} could be read")
            unl, unl_paths = [got[i] for i in keep], [unl_paths[i] for i in keep]
            logger.info("unlabelled audio: %d recordings under %s", len(unl), unlabelled)
        logger.info(
            "training data: %d train / %d val tracks with audio (%d without), %d text strings",
            len(train_rows), len(val_rows), int((~has_audio).sum()), len(pool.strings),
        )
        return cls(
            export=export, split=split, index=index, train_index=train_index, views=views, pool=pool,
            feats=feats, train_rows=train_rows, val_rows=val_rows, pad_db=silence_db(fe),
            frames_per_s=fe.sample_rate / fe.hop_length, unlabelled=unl, unlabelled_paths=unl_paths,
        )

    @staticmethod
    def _draw_pool(views: TextViews, index: GraphIndex, config, export, model, cache_dir, progress) -> TextPool:
        rng = np.random.default_rng([config.seed, 7])
        n, v = len(views.facts), config.views_per_track
        strings: dict[str, int] = {}
        stated: dict[int, set[str]] = {}
        view = np.full((n, v), -1, dtype=np.int64)
        neg = np.full((n, v), -1, dtype=np.int64)

        def intern(text: str, attrs) -> int:
            j = strings.setdefault(text, len(strings))
            stated.setdefault(j, set()).update(attrs)
            return j

        for i in range(n):
            for j in range(v):
                if j % 2 == 0:  # half the pool: caption/tag view with its swap negative
                    pos, negative, attrs, swapped = views.draw_with_negative(i, rng)
                    view[i, j] = intern(pos, [attribute_id(k, x) for k, x in attrs])
                    if negative is not None:
                        neg[i, j] = intern(negative, [attribute_id(k, x) for k, x in swapped])
                else:
                    text = views.sample(i, rng)
                    view[i, j] = intern(text, _stated_attrs(views, i, text))
        ordered = list(strings)
        attr_index = export.node_index("Attribute")
        rows, cols = [], []
        for j, ids in stated.items():
            for a in ids:
                c = attr_index.get(a)
                if c is not None:
                    rows.append(j)
                    cols.append(c)
        view_attr = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(ordered), len(attr_index))
        )
        view_attr.data[:] = 1.0
        key = hashlib.sha256(model.config.text_encoder.encode()).hexdigest()[:8]
        cache = None if cache_dir is None else Path(cache_dir) / "text" / f"{model.config.text_encoder}-{key}.pt"
        raw = encode_cached(model, ordered, cache, progress=progress)
        return TextPool(strings=ordered, raw=raw, view=view, neg=neg, view_attr=view_attr)

    # -- per step -------------------------------------------------------------------------
    def crops(self, rows: np.ndarray, frames: int, rng: np.random.Generator, *,
              align: np.ndarray | None = None, source: list[np.ndarray] | None = None) -> torch.Tensor:
        """Random windows of ``frames`` feature frames, one per track row:
        ``(len(rows), n_features, frames)`` float32; short tracks are padded with silence.
        ``source``: the feature list ``rows`` index (default ``feats``; e.g. ``unlabelled``).

        ``align[i] = j`` (>= 0) crops row ``i`` at the same relative position as row ``j``:
        two renditions of one work share score and tempo, so the windows hold the same
        notes on other instruments (-1: independent position)."""
        feats = self.feats if source is None else source
        first = feats[int(rows[0])]
        out = np.full((len(rows), first.shape[0], frames), self.pad_db, dtype=np.float32)
        u = rng.random(len(rows))
        if align is not None:
            follow = np.flatnonzero(align >= 0)
            u[follow] = u[align[follow]]
        for b, r in enumerate(rows):
            f = feats[int(r)]
            total = f.shape[1]
            if total <= frames:
                out[b, :, :total] = f
            else:
                start = int(u[b] * (total - frames + 1))
                out[b] = f[:, start : start + frames]
        return torch.from_numpy(out)

    def relevance(self, strings: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``(len(strings), len(rows))`` bool: does track ``rows[j]`` have every attribute
        that string ``strings[i]`` states? (False for strings stating none.)"""
        va = self.pool.view_attr[strings]  # (s, n_attr)
        need = np.asarray(va.sum(axis=1)).ravel()  # (s,)
        shared = (va @ self.index.track_attr[rows].T).toarray()  # (s, r)
        return (shared >= need[:, None]) & (need[:, None] > 0)


def _cache_entry(job: tuple[str, str, FrontendConfig]) -> None:
    """Worker of :func:`_fill_cache`: compute and store one file's features (one torch
    thread); an unusable file is left for the caller, which reports it."""
    path, root, cfg = job
    torch.set_num_threads(1)
    try:
        FeatureCache(root, cfg).features(path)
    except (KgjembError, OSError, ValueError):
        pass


def _fill_cache(cache: FeatureCache, paths: list, workers: int, progress: bool) -> None:
    """Compute the features of ``paths`` missing from ``cache`` in ``workers`` processes
    (spawned: a forked child of a process with torch threads may hang), so that the
    caller's pass reads them all from disk. Nothing to do without a disk cache, with one
    worker or with few missing files."""
    if cache.directory is None or workers < 2:
        return
    missing = sorted({str(p) for p in paths if not cache.entry_path(p).is_file()})
    if len(missing) < 4 * workers:
        return
    root = str(cache.directory.parent)  # FeatureCache appends the config key
    jobs = [(p, root, cache.cfg) for p in missing]
    logger.info("computing the audio features of %d file(s) in %d processes", len(missing), workers)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            it = pool.map(_cache_entry, jobs, chunksize=8)
            for _ in tqdm(it, total=len(jobs), desc="audio features", unit="file", disable=not progress):
                pass
    except (BrokenProcessPool, OSError, RuntimeError) as err:  # e.g. a caller's script without a __main__ guard
        logger.warning("feature worker processes failed (%s); computing the rest in this process", err)


def _features(model, paths, todo, names, progress: bool, desc: str) -> list[np.ndarray | None]:
    """float16 features ``(n_features, T)`` of ``paths[i]`` for ``i`` in ``todo`` through the
    model's feature cache (None where unusable, with a warning naming ``names``)."""
    feats: list[np.ndarray | None] = [None] * len(paths)
    it = tqdm(todo, desc=desc, unit="file") if progress else todo
    for i, name in zip(it, names):
        try:
            feats[i] = model.features.features(paths[i]).astype(np.float16)  # (n_features, T)
        except (KgjembError, OSError, ValueError) as err:
            logger.warning("%s: audio unusable, left out of training (%s)", name, err)
    return feats


def _stated_attrs(views: TextViews, i: int, text: str) -> list[str]:
    """Attributes of track ``i`` whose value the text names (whole-word, case-insensitive)."""
    low = f" {text.lower().replace(',', ' ')} "
    return [attribute_id(k, v) for k, v in views.facts[i].attributes if f" {v.lower()} " in low]


def track_subgraph(export: GraphExport, keep: np.ndarray) -> tuple[GraphExport, np.ndarray]:
    """The export without the tracks where ``keep`` is False (and their edges); other
    labels are kept whole. Returns it and the kept Track rows of the original export."""
    tracks = export.nodes["Track"]
    keep = np.asarray(keep, dtype=bool)
    kept_ids = set(tracks["id"][keep])
    nodes = dict(export.nodes)
    nodes["Track"] = tracks[keep].reset_index(drop=True)
    edges = {}
    for key, frame in export.edges.items():
        sel = np.ones(len(frame), dtype=bool)
        if key[0] == "Track":
            sel &= frame["src"].isin(kept_ids).to_numpy()
        if key[2] == "Track":
            sel &= frame["dst"].isin(kept_ids).to_numpy()
        edges[key] = frame[sel].reset_index(drop=True)
    return GraphExport(nodes=nodes, edges=edges), np.flatnonzero(keep)
