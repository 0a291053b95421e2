"""Retrieval quality on held-out tracks: R@k and mAP@k, per attribute kind and per graph
relation.

* **text → audio**, per attribute kind: each attribute value present among the held-out
  tracks is a query (its name as a tag, e.g. ``"violin"``, ``"d minor"``); the relevant
  tracks are those that HAVE the attribute.
* **track → track**: each held-out track's audio vector queries the other held-out tracks;
  relevant = ``same_artist`` (a shared ``BY`` artist) or ``same_work`` (same connected
  component over ``VERSION_OF``; split by work keeps every version on one side).

``R@k`` (recall@k) and ``AP@k`` are :func:`kgjemb.metrics.retrieval_metrics` (the
definitions shared with ``kgjemb eval``: recall = hits in the top k / |relevant|). Queries
with no relevant candidate are left out; ``n`` says how many counted.
Everything is a few matrix products (exact, brute force: evaluation sets are small).

>>> metrics = evaluate_vectors(export, split.val_mask, audio, model.embed_text, k=10)
>>> metrics["track_track"]["same_work"]["map"]
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

from kgjemb.graph.base import GraphExport
from kgjemb.metrics import retrieval_metrics
from kgjemb.train.positives import GraphIndex

__all__ = ["evaluate_vectors", "random_vectors", "summary_rows"]

logger = logging.getLogger(__name__)

TextEncoder = Callable[[Sequence[str]], np.ndarray]


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def evaluate_vectors(
    export: GraphExport,
    mask: np.ndarray,
    audio: np.ndarray,
    embed_text: TextEncoder | None,
    *,
    k: int = 10,
    index: GraphIndex | None = None,
    min_relevant: int = 1,
) -> dict:
    """Metrics of one set of audio vectors over the tracks selected by ``mask``.

    ``audio``: (mask.sum(), dim) vectors of the selected tracks in Track-row order;
    ``embed_text``: strings → (n, dim) (None: skip text → audio). Returns
    ``{"text_audio": {kind: {recall, map, n}, "all": …}, "track_track": {relation: …}}``.
    """
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask)
    if audio.shape[0] != len(rows):
        raise ValueError(f"audio has {audio.shape[0]} rows but the mask selects {len(rows)} tracks")
    index = index or GraphIndex.from_export(export)
    a = _normalise(audio)  # (n_val, dim)
    out: dict = {"k": k, "n_tracks": int(len(rows)), "text_audio": {}, "track_track": {}}

    if embed_text is not None and len(rows):
        has = index.track_attr[rows].toarray() > 0  # (n_val, n_attr)
        attrs = export.nodes["Attribute"]
        counts = has.sum(axis=0)
        usable = np.flatnonzero(counts >= min_relevant)
        if len(usable):
            names = [str(attrs["name"].iloc[j]).lower() for j in usable]
            kinds = np.asarray(attrs["kind"].iloc[usable], dtype=object)
            q = _normalise(embed_text(names))  # (n_q, dim)
            scores = q @ a.T  # (n_q, n_val)
            relevant = has[:, usable].T  # (n_q, n_val)
            for kind in sorted(set(kinds)):
                sel = kinds == kind
                out["text_audio"][kind] = retrieval_metrics(scores[sel], relevant[sel], k=k)
            out["text_audio"]["all"] = retrieval_metrics(scores, relevant, k=k)

    scores = a @ a.T  # (n_val, n_val)
    np.fill_diagonal(scores, -np.inf)
    for name in ("same_artist", "same_work"):
        relevant = index.paths[name][rows][:, rows].toarray() > 0  # (n_val, n_val)
        np.fill_diagonal(relevant, False)
        out["track_track"][name] = retrieval_metrics(scores, relevant, k=k)
    return out


def random_vectors(n: int, dim: int = 128, *, seed: int = 0) -> np.ndarray:
    """The chance baseline: i.i.d. Gaussian vectors, ``(n, dim)``."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def summary_rows(name: str, metrics: dict) -> list[dict]:
    """Flatten one metrics dict into table rows ``{system, task, R@k, mAP@k, n}``."""
    k = metrics.get("k", 10)
    rows = []
    for group in ("text_audio", "track_track"):
        for task, m in metrics.get(group, {}).items():
            rows.append({"system": name, "task": f"{group}:{task}", f"R@{k}": m["recall"], f"mAP@{k}": m["map"], "n": m["n"]})
    return rows


def compare_systems(
    export: GraphExport,
    configs: dict,
    *,
    out_root,
    cache_dir=None,
    seeds: Sequence[int] = (0,),
    progress: bool = False,
):
    """Train every ``configs[name]`` (a TrainConfig) once per seed on ``export`` and
    evaluate on the held-out split of that seed, next to the ``random`` baseline.

    Returns a pandas DataFrame: one row per (system, task) with mean R@k / mAP@k over the
    seeds, their std, and n (queries per seed). Models go to ``out_root/<name>-s<seed>``.

    >>> table = compare_systems(export, {"full": load_config(), "text-only":
    ...     load_config(preset="text-only")}, out_root="runs/quality", seeds=(0, 1))
    """
    import dataclasses
    from pathlib import Path

    import pandas as pd

    from kgjemb.train.trainer import train

    rows = []
    for seed in seeds:
        for name, cfg in configs.items():
            cfg = dataclasses.replace(cfg, seed=seed)
            result = train(export, cfg, out=Path(out_root) / f"{name}-s{seed}", cache_dir=cache_dir, progress=progress)
            val = result.metrics["epochs"][-1].get("val") or {}
            rows += [{**r, "seed": seed} for r in summary_rows(name, val)]
            n_val = val.get("n_tracks", 0)
        if n_val:
            from kgjemb.train.split import split_by_work

            split = split_by_work(export, val_fraction=cfg.val_fraction, seed=seed)
            mask = split.val_mask & (export.nodes["Track"]["audio_path"].notna().to_numpy())
            idx = GraphIndex.from_export(export)
            dim = cfg.model.dim
            rnd = evaluate_vectors(
                export, mask, random_vectors(int(mask.sum()), dim, seed=seed),
                lambda texts: random_vectors(len(texts), dim, seed=seed + 1), k=cfg.eval_k, index=idx,
            )
            rows += [{**r, "seed": seed} for r in summary_rows("random", rnd)]
    frame = pd.DataFrame(rows)
    metrics = [c for c in frame.columns if c.startswith(("R@", "mAP@"))]
    agg = frame.groupby(["task", "system"], sort=True).agg(
        **{m: (m, "mean") for m in metrics}, **{f"{m} sd": (m, "std") for m in metrics}, n=("n", "mean"),
    )
    return agg.reset_index()
