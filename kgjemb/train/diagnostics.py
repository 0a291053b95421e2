"""Embedding diagnostics: singular-value spectrum, effective rank, and a 2-D map.

A joint space that collapses onto a few directions retrieves poorly however low the loss
is; the singular-value spectrum of the (centred) embedding matrix shows it, and the
entropy-based *effective rank* (Roy & Vetterli, 2007) sums it up in one number in
[1, dim]: ``exp(H(p))`` with ``p_i = σ_i / Σσ``. The trainer writes ``spectrum.png``,
``scatter.png`` and the numbers (``diagnostics.json``) into the model directory. Plots use
matplotlib's object API (``Figure``, no pyplot), so no process-wide backend is switched.

>>> effective_rank(np.random.default_rng(0).standard_normal((500, 32)))  # close to 32
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from kgjemb.atomic import atomic_path, write_text
from kgjemb.train.views import caption

__all__ = ["singular_values", "effective_rank", "plot_spectrum", "plot_scatter", "write_diagnostics", "diagnose_model"]

logger = logging.getLogger(__name__)


def singular_values(x: np.ndarray, *, center: bool = True) -> np.ndarray:
    """Singular values (descending) of ``x`` ``(n, dim)``, column-centred by default."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty (n, dim) matrix, got shape {x.shape}")
    if center:
        x = x - x.mean(axis=0, keepdims=True)
    return np.linalg.svd(x, compute_uv=False)


def effective_rank(x: np.ndarray, *, center: bool = True) -> float:
    """Entropy effective rank of ``x`` (Roy & Vetterli): 1 for rank one, ``min(n, dim)`` when
    every direction carries equal energy. A zero matrix gives 1."""
    s = singular_values(x, center=center)
    total = s.sum()
    if total <= 0:
        return 1.0
    p = s / total
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def _atomic_savefig(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def plot_spectrum(matrices: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Log-scale normalised singular-value spectra of several embedding matrices, one line
    each, effective rank in the legend; saved as PNG at ``path``."""
    path = Path(path)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, x in matrices.items():
        s = singular_values(x)
        ax.semilogy(np.arange(1, len(s) + 1), s / max(s[0], 1e-12), label=f"{name} (eff. rank {effective_rank(x):.1f})")
    ax.set_ylim(bottom=1e-4)  # below this it is numerical noise (duplicate rows, n < dim)
    ax.set_xlabel("index")
    ax.set_ylabel("singular value / largest")
    ax.set_title("Embedding spectrum")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    _atomic_savefig(fig, path)
    return path


def plot_scatter(
    audio: np.ndarray,
    labels: Sequence[str | None],
    path: str | os.PathLike,
    *,
    text: np.ndarray | None = None,
    text_labels: Sequence[str] | None = None,
    title: str = "Joint space (PCA)",
    max_classes: int = 10,
) -> Path:
    """2-D PCA of the audio vectors (text vectors, if given, are projected on the same
    axes and drawn as labelled stars),
    points coloured by ``labels`` (the ``max_classes`` most frequent; the rest grey)."""
    path = Path(path)
    # the basis is fitted on audio only: fitted on both, PC 1 would just be the modality gap
    mean = audio.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(audio - mean, full_matrices=False)
    both = audio if text is None else np.vstack([audio, text])
    proj = (both - mean) @ vt[:2].T  # (n, 2)
    pa = proj[: len(audio)]
    labels = ["(none)" if lb is None else str(lb) for lb in labels]
    values, counts = np.unique(labels, return_counts=True)
    top = [v for v, _ in sorted(zip(values, counts), key=lambda vc: -vc[1]) if v != "(none)"][:max_classes]
    fig = Figure(figsize=(7, 6))
    ax = fig.subplots()
    lab = np.asarray(labels, dtype=object)
    other = ~np.isin(lab, top)
    ax.scatter(pa[other, 0], pa[other, 1], s=8, c="lightgrey", label="other")
    cmap = colormaps["tab10"]
    for i, value in enumerate(top):
        sel = lab == value
        ax.scatter(pa[sel, 0], pa[sel, 1], s=10, color=cmap(i % 10), label=value)
    if text is not None:
        pt = proj[len(audio):]
        ax.scatter(pt[:, 0], pt[:, 1], marker="*", s=120, c="black")
        for (x, y), name in zip(pt, text_labels or []):
            ax.annotate(name, (x, y), fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    _atomic_savefig(fig, path)
    return path


def write_diagnostics(
    out_dir: str | os.PathLike,
    *,
    audio: np.ndarray,
    text: np.ndarray,
    labels: Sequence[str | None],
    label_kind: str,
    text_labels: Sequence[str] | None = None,
    text_points: np.ndarray | None = None,
    track: np.ndarray | None = None,
) -> dict:
    """Write ``spectrum.png``, ``scatter.png`` and ``diagnostics.json`` into ``out_dir``;
    return the numbers ``{audio: {effective_rank, dim, n}, text: {…}}`` (and ``track``: the
    audio vectors in the track head's space, when given)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    matrices = {"audio": audio, "text": text, **({"track": track} if track is not None else {})}
    numbers = {
        name: {"effective_rank": effective_rank(x), "dim": int(x.shape[1]), "n": int(x.shape[0])}
        for name, x in matrices.items()
    }
    plot_spectrum(matrices, out / "spectrum.png")
    plot_scatter(
        audio, labels, out / "scatter.png", text=text_points, text_labels=text_labels,
        title=f"Audio embeddings (PCA), coloured by {label_kind}",
    )
    write_text(out / "diagnostics.json", json.dumps(numbers, indent=2))
    logger.info("effective rank: audio %.1f, text %.1f", numbers["audio"]["effective_rank"], numbers["text"]["effective_rank"])
    return numbers


def diagnose_model(model, data, out_dir: str | os.PathLike, *, kind: str = "ensemble",
                   tracks: tuple[np.ndarray, dict[str, np.ndarray]] | None = None) -> dict:
    """Diagnostics of a trained model over every track with audio: audio vectors
    (``model.embed_audio``), text vectors of each track's full caption, scatter coloured by
    attribute ``kind`` (falls back to the kind covering most tracks when absent), with
    the text vectors of that kind's most common values drawn as stars; with a track head,
    the audio vectors in its space too. ``tracks``: (Track rows with features, ``{space:
    (n, dim)}``) already computed by the caller (the trainer's final pass), instead of a
    pass over the audio here."""
    if tracks is None:
        rows = np.flatnonzero([f is not None for f in data.feats])
        paths = list(data.export.nodes["Track"]["audio_path"].iloc[rows])
        spaces = ("joint", "track") if model.config.track_head else ("joint",)
        vecs = model.embed_audio_spaces(paths, batch_size=32, spaces=spaces)  # one pass over the audio
    else:
        rows, vecs = tracks
    facts = [data.views.facts[i] for i in rows]
    audio, track = vecs["joint"], vecs.get("track")
    text = model.embed_text([caption(list(f.attributes)) if f.attributes else f.title for f in facts])
    cover: dict[str, int] = {}
    for f in facts:
        for k in {k for k, _ in f.attributes}:
            cover[k] = cover.get(k, 0) + 1
    if kind not in cover and cover:
        kind = max(sorted(cover), key=cover.get)
    labels = [next((v for k, v in f.attributes if k == kind), None) for f in facts]
    values, counts = np.unique([lb for lb in labels if lb is not None], return_counts=True)
    top = [str(v) for v, _ in sorted(zip(values, counts), key=lambda vc: -vc[1])][:6]
    stars = model.embed_text(top) if top else None
    return write_diagnostics(
        out_dir, audio=audio, text=text, labels=labels, label_kind=kind, text_labels=top, text_points=stars,
        track=track,
    )
