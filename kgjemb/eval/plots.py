"""PNG plots of an evaluation result: per-kind bars comparing systems, R@k curves."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from kgjemb.eval.suite import KINDS

__all__ = ["plot_by_kind", "plot_recall_curves", "write_plots"]

logger = logging.getLogger(__name__)


def _save(fig, path: Path) -> Path:
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def plot_by_kind(result: dict, path: Path, metric: str = "nDCG@10") -> Path:
    """Grouped bars: one group per query kind (+ overall), one bar per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(result["systems"])
    kinds = [k for k in KINDS if any(k in s["by_kind"] for s in result["systems"].values())] + ["overall"]
    width = 0.8 / max(len(systems), 1)
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(kinds)), 4.5))
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
    out = _save(fig, path)
    plt.close(fig)
    return out


def plot_recall_curves(result: dict, path: Path) -> Path:
    """Mean R@k against k, one line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, s in result["systems"].items():
        ks = [int(k) for k in s["curve"]]
        ax.plot(ks, [s["curve"][str(k)] if s["curve"][str(k)] is not None else np.nan for k in ks], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks]) if result["systems"] else None
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("k")
    ax.set_ylabel("mean R@k")
    ax.set_title(f"Recall at k (n={result.get('n', 0)} queries, pool {result.get('pool_size')} tracks)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out = _save(fig, path)
    plt.close(fig)
    return out


def write_plots(result: dict, out_dir: str | os.PathLike) -> list[Path]:
    """Write by_kind_ndcg.png, by_kind_recall.png and recall_at_k.png into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = result.get("k", 10)
    return [
        plot_by_kind(result, out / "by_kind_ndcg.png", f"nDCG@{k}"),
        plot_by_kind(result, out / "by_kind_recall.png", f"R@{k}" if k in (1, 5, 10) else "R@10"),
        plot_recall_curves(result, out / "recall_at_k.png"),
    ]
