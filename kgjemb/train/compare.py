"""Train several systems per seed and compare them on each seed's held-out works.

The ``kgjemb train-compare`` engine: every system is a :class:`TrainConfig`; each is
trained once per seed (:func:`kgjemb.train.trainer.train`) and evaluated on that seed's
held-out split (:func:`kgjemb.train.evaluate.evaluate_vectors`; by work or, with
``TrainConfig.split = "album"``, by album), next to two baselines on the same held-out
tracks: ``random`` (chance) and ``mfcc`` (MFCC statistics, track → track tasks only;
:mod:`kgjemb.train.baselines`). Track → track tasks are scored twice: among the held-out
tracks (``track_track``) and with the held-out tracks ranked among every track of the
catalog (``track_catalog``); with the split by album, that last one also per held-out album
and seed (:attr:`Comparison.albums`). Trainer and evaluation metrics stay apart: the trainer
reports metrics, this module runs trainers.

>>> result = compare_systems(export, {"full": load_config(), "text-only":
...     load_config(preset="text-only")}, out_root="runs/quality", seeds=(0, 1))
>>> result.table, result.albums  # mean over the seeds; per (seed, held-out album, system)
>>> ranks = effective_ranks("runs/quality", ["full", "text-only"], seeds=(0, 1))
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from kgjemb.audio.cache import FeatureCache
from kgjemb.graph.base import GraphExport
from kgjemb.model.vectors import read_audio_vectors
from kgjemb.train.baselines import mfcc_vectors
from kgjemb.train.config import TrainConfig
from kgjemb.train.evaluate import (album_catalog_metrics, catalog_track_metrics, evaluate_vectors, random_vectors,
                                   summary_rows)
from kgjemb.train.positives import GraphIndex
from kgjemb.train.split import make_split
from kgjemb.train.trainer import train

__all__ = ["Comparison", "album_summary", "compare_systems", "effective_ranks", "plot_album_summary", "run_dir"]

logger = logging.getLogger(__name__)


def run_dir(out_root: str | os.PathLike, name: str, seed: int) -> Path:
    """Where the model of system ``name`` trained with ``seed`` goes: ``<out_root>/<name>-s<seed>``."""
    return Path(out_root) / f"{name}-s{seed}"


def _rows(name: str, val: dict) -> list[dict]:
    """Table rows of one run: its joint-space metrics and, with a track head, the head's
    track→track metrics as ``track_head:<relation>`` (among the held-out tracks) and
    ``track_head_catalog:<relation>`` (among every track)."""
    rows = summary_rows(name, val)
    for group in ("track_head", "track_head_catalog"):
        if val.get(group):
            head = summary_rows(name, {"k": val.get("k", 10), "track_track": val[group]})
            rows += [{**r, "task": r["task"].replace("track_track:", f"{group}:")} for r in head]
    return rows


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What :func:`compare_systems` measured. ``table``: one row per (task, system), means
    over the seeds; ``albums``: with the split by album, one row per (seed, held-out album,
    system) of catalog same-album ``P@k`` / ``P@1`` / ``R@k`` (the trained systems' joint
    space, ``mfcc`` and ``random``); empty otherwise."""

    table: pd.DataFrame
    albums: pd.DataFrame


def compare_systems(
    export: GraphExport,
    configs: dict[str, TrainConfig],
    *,
    out_root: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    seeds: Sequence[int] = (0,),
    progress: bool = False,
    unlabelled: str | os.PathLike | None = None,
) -> Comparison:
    """Train every ``configs[name]`` once per seed on ``export`` and evaluate on the
    held-out split of that seed, next to the ``random`` and ``mfcc`` baselines.

    Returns :class:`Comparison`: the table (one row per (task, system) with mean R@k /
    mAP@k / P@k / P@1 over the seeds, their sd, and n (queries per seed)) and, with the split
    by album, the per-album rows. Models go to :func:`run_dir`. ``unlabelled``: a folder of
    audio for the self-supervised term of the configs that have ``ssl`` on (the others
    train without it).
    """
    rows, albums = [], []
    for seed in seeds:
        n_val, cfg = 0, None
        for name, cfg in configs.items():
            cfg = dataclasses.replace(cfg, seed=seed)
            result = train(export, cfg, out=run_dir(out_root, name, seed), cache_dir=cache_dir, progress=progress,
                           unlabelled=unlabelled if cfg.ssl else None)
            val = result.metrics["epochs"][-1].get("val") or {}
            rows += [{**r, "seed": seed} for r in _rows(name, val)]
            n_val = val.get("n_tracks", 0)
        if n_val and cfg is not None:
            split = make_split(export, by=cfg.split, val_fraction=cfg.val_fraction, seed=seed)
            audio_paths = export.nodes["Track"]["audio_path"]
            has_audio = audio_paths.notna().to_numpy()
            mask = split.val_mask & has_audio
            every = np.flatnonzero(has_audio)  # the catalog gallery: every track with audio
            at = np.searchsorted(every, np.flatnonzero(mask))
            dim = cfg.model.dim
            index = GraphIndex.from_export(export)
            noise = random_vectors(len(every), dim, seed=seed)
            rnd = evaluate_vectors(
                export, mask, noise[at], lambda texts: random_vectors(len(texts), dim, seed=seed + 1),
                k=cfg.eval_k, index=index, catalog=(every, noise),
            )
            rows += [{**r, "seed": seed} for r in summary_rows("random", rnd)]
            features = FeatureCache(Path(cache_dir) / "audio" if cache_dir is not None else None, cfg.model.frontend)
            # standardised over the held-out tracks for the first form, over the catalog for the second
            mfcc = evaluate_vectors(export, mask, mfcc_vectors(list(audio_paths[mask]), features), None,
                                    k=cfg.eval_k, index=index)
            every_mfcc = mfcc_vectors(list(audio_paths[every]), features)
            mfcc["track_catalog"] = catalog_track_metrics(np.flatnonzero(mask), every, every_mfcc, index, k=cfg.eval_k)
            rows += [{**r, "seed": seed} for r in summary_rows("mfcc", mfcc)]
            if cfg.split == "album":
                gallery = {name: _stored_vectors(export, run_dir(out_root, name, seed), every) for name in configs}
                gallery = {**{n: v for n, v in gallery.items() if v is not None}, "mfcc": every_mfcc, "random": noise}
                for name, vectors in gallery.items():
                    albums += [{"seed": seed, "system": name, **r} for r in album_catalog_metrics(
                        export, np.flatnonzero(mask), every, vectors, index=index, k=cfg.eval_k)]
    frame = pd.DataFrame(rows)
    metrics = [c for c in frame.columns if c.startswith(("R@", "mAP@", "P@"))]
    agg = frame.groupby(["task", "system"], sort=True).agg(
        **{m: (m, "mean") for m in metrics}, **{f"{m} sd": (m, "std") for m in metrics}, n=("n", "mean"),
    )
    return Comparison(agg.reset_index(), pd.DataFrame(albums))


def _stored_vectors(export: GraphExport, model_dir: Path, rows: np.ndarray) -> np.ndarray | None:
    """The joint-space audio vectors the trainer stored in ``model_dir`` for the Track
    ``rows`` ``(len(rows), dim)``, or None (logged) when the file is missing or lacks one."""
    try:
        stored = read_audio_vectors(model_dir)
    except (OSError, ValueError) as err:
        logger.warning("no per-album figures for %s: %s", model_dir, err)
        return None
    vectors, ids = stored["vectors"], stored["ids"].tolist()
    at = {track: i for i, track in enumerate(ids)}
    wanted = export.nodes["Track"]["id"].to_numpy()[rows]
    if any(track not in at for track in wanted):
        logger.warning("no per-album figures for %s: its stored vectors lack some tracks", model_dir)
        return None
    return vectors[[at[track] for track in wanted]]


def album_summary(albums: pd.DataFrame, *, k: int = 10) -> pd.DataFrame:
    """Per held-out album: mean ``P@k`` and ``P@1`` of each system over the seeds that held it
    out (``seeds`` of them), one row per album, systems as columns (``<system> P@k``, …)."""
    if albums.empty:
        return pd.DataFrame()
    wide = albums.pivot_table(index=["title", "album"], columns="system", values=[f"P@{k}", "P@1"], aggfunc="mean")
    wide.columns = [f"{system} {metric}" for metric, system in wide.columns]
    seeds = albums.groupby(["title", "album"])["seed"].nunique().rename("seeds")
    queries = albums.groupby(["title", "album"])["queries"].max()
    out = pd.concat([seeds, queries, wide], axis=1).reset_index()
    metrics = sorted(wide.columns, key=lambda c: (c.split()[-1] != f"P@{k}", c))  # each system's P@k, then P@1
    return out[["title", "album", "seeds", "queries", *metrics]]


def plot_album_summary(summary: pd.DataFrame, path: str | os.PathLike, *, k: int = 10) -> Path:
    """Horizontal bars of :func:`album_summary`'s ``P@k``: one group per held-out album (with
    the number of seeds that held it out), one bar per system; saved as PNG at ``path``."""
    from matplotlib.figure import Figure

    from kgjemb.train.diagnostics import _atomic_savefig

    path = Path(path)
    cols = [c for c in summary.columns if c.endswith(f" P@{k}")]
    fig = Figure(figsize=(7, 1.0 + 0.22 * len(summary) * max(1, len(cols))))
    ax = fig.subplots()
    height = 0.8 / max(1, len(cols))
    y = np.arange(len(summary))
    for i, col in enumerate(cols):
        ax.barh(y + i * height, summary[col].to_numpy(dtype=float), height=height, label=col.removesuffix(f" P@{k}"))
    ax.set_yticks(y + height * (len(cols) - 1) / 2)
    ax.set_yticklabels([f"{t} ({n})" for t, n in zip(summary["title"], summary["seeds"])])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"same-album P@{k} among the whole catalog (mean over the seeds holding the album out)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    _atomic_savefig(fig, path)
    return path


def effective_ranks(out_root: str | os.PathLike, systems: Sequence[str], *, seeds: Sequence[int]) -> pd.DataFrame:
    """Effective ranks of the trained models' audio and text embeddings (from each run's
    ``diagnostics.json``): one row per (system, space) with mean, sd over the seeds and dim."""
    rows = []
    for name in systems:
        for seed in seeds:
            path = run_dir(out_root, name, seed) / "diagnostics.json"
            if not path.is_file():
                logger.warning("no diagnostics for %s seed %d at %s", name, seed, path)
                continue
            for space, d in json.loads(path.read_text()).items():
                rows.append({"system": name, "space": space, "seed": seed, "rank": d["effective_rank"], "dim": d["dim"]})
    frame = pd.DataFrame(rows, columns=["system", "space", "seed", "rank", "dim"])
    agg = frame.groupby(["space", "system"], sort=True).agg(
        effective_rank=("rank", "mean"), sd=("rank", "std"), dim=("dim", "first")
    )
    return agg.reset_index()
