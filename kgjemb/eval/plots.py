"""PNG plots of an evaluation result: per-kind bars comparing systems, R@k curves, and
nDCG@k against the mask rate.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot), so plotting
never changes the process-wide matplotlib backend or state.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from kgjemb.atomic import atomic_path
from kgjemb.eval.suite import KINDS

__all__ = ["plot_by_kind", "plot_recall_curves", "plot_metric_vs_mask", "plot_seeds_vs_mask", "write_plots"]

logger = logging.getLogger(__name__)


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    return path


def plot_by_kind(result: dict, path: Path, metric: str = "nDCG@10") -> Path:
    """Grouped bars: one group per query kind (+ overall), one bar per system."""
    systems = list(result["systems"])
    kinds = [k for k in KINDS if any(k in s["by_kind"] for s in result["systems"].values())] + ["overall"]
    width = 0.8 / max(len(systems), 1)
    fig = Figure(figsize=(max(8, 1.3 * len(kinds)), 4.5))
    ax = fig.subplots()
    x = np.arange(len(kinds))
    for i, name in enumerate(systems):
        s = result["systems"][name]
        vals = [(s["overall"] if k == "overall" else s["by_kind"].get(k, {})).get(metric, np.nan) for k in kinds]
        ax.bar(x + (i - (len(systems) - 1) / 2) * width, vals, width, label=name)
    s0 = result["systems"][systems[0]] if systems else {"overall": {}, "by_kind": {}}
    ns = [s0["overall"].get("n", 0) if k == "overall" else s0["by_kind"].get(k, {}).get("n", 0) for k in kinds]
    ax.set_xticks(x, [f"{k}\n(n={n})" for k, n in zip(kinds, ns)], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by query kind")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(len(systems), 5), loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    return _save(fig, path)


def plot_recall_curves(result: dict, path: Path) -> Path:
    """Mean R@k against k, one line per system."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ks: list[int] = []
    for name, s in result["systems"].items():
        ks = [int(k) for k in s["curve"]]
        ax.plot(ks, [s["curve"][str(k)] if s["curve"][str(k)] is not None else np.nan for k in ks], marker="o", label=name)
    ax.set_xscale("log")
    if ks:
        ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("k")
    ax.set_ylabel("mean R@k (recall)")
    ax.set_title(f"Recall at k (n={result.get('n', 0)} queries, pool {result.get('pool_size')} tracks)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_metric_vs_mask(result: dict, path: Path, metric: str = "nDCG@10") -> Path:
    """``metric`` against the mask rate R, one line per system: one panel overall, then
    one per query kind."""
    levels = result["by_mask"]
    rates = [float(m) for m in levels]
    systems = list(next(iter(levels.values()))["systems"])
    kinds = [k for k in KINDS if any(k in s["by_kind"] for lv in levels.values() for s in lv["systems"].values())]
    panels = ["overall", *kinds]
    cols = min(4, len(panels))
    n_rows = (len(panels) + cols - 1) // cols
    fig = Figure(figsize=(3.4 * cols, 3.0 * n_rows))
    axes = np.atleast_1d(fig.subplots(n_rows, cols, squeeze=False).ravel())
    for ax, panel in zip(axes, panels):
        for name in systems:
            vals = []
            for lv in levels.values():
                s = lv["systems"].get(name)
                m = (s["overall"] if panel == "overall" else s["by_kind"].get(panel, {})) if s else {}
                vals.append(m.get(metric, np.nan))
            ax.plot(rates, vals, marker="o", label=name)
        ax.set_title(panel, fontsize=10, fontweight="bold" if panel == "overall" else "normal")
        ax.set_ylim(0, 1)
        ax.set_xticks(rates)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    axes[0].set_ylabel(metric)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=min(len(systems), 7), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.04))
    fig.supxlabel("mask rate R: share of the evaluated tracks' HAS / VERSION_OF edges hidden", fontsize=9, y=0.02)
    fig.suptitle(f"{metric} against the mask rate")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path)


def plot_seeds_vs_mask(combined: dict, path: str | os.PathLike, metric: str | None = None) -> Path:
    """``metric`` overall against the mask rate, one line per system, ± sd over seeds as
    error bars."""
    metric = metric or combined["metric"]
    masks = combined["masks"]
    rates = [float(m) for m in masks]
    levels = combined["by_mask"]
    names = list(dict.fromkeys(n for lv in levels.values() for n in lv["systems"]))
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    for name in names:
        cells = [levels[m]["systems"].get(name, {}).get("overall", {}).get(metric) for m in masks]
        mean = [c["mean"] if c else np.nan for c in cells]
        sd = [c["sd"] if c else np.nan for c in cells]
        ax.errorbar(rates, mean, yerr=sd, marker="o", capsize=3, label=name)
    ax.set_ylim(0, 1)
    ax.set_xticks(rates)
    ax.set_xlabel("mask rate R: share of the evaluated tracks' HAS / VERSION_OF edges hidden")
    ax.set_ylabel(f"{metric} (mean ± sd over {combined['n_seeds']} seeds)")
    ax.set_title(f"{metric} against the mask rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, Path(path))


def write_plots(result: dict, out_dir: str | os.PathLike) -> list[Path]:
    """Write by_kind_ndcg.png, by_kind_recall.png and recall_at_k.png (the first mask rate)
    into ``out_dir``, and ndcg_vs_mask.png when the result has several mask rates."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = result.get("k", 10)
    files = [
        plot_by_kind(result, out / "by_kind_ndcg.png", f"nDCG@{k}"),
        plot_by_kind(result, out / "by_kind_recall.png", f"R@{k}" if k in (1, 5, 10) else "R@10"),
        plot_recall_curves(result, out / "recall_at_k.png"),
    ]
    if len(result.get("by_mask") or {}) > 1:
        files.append(plot_metric_vs_mask(result, out / "ndcg_vs_mask.png", f"nDCG@{k}"))
    return files
