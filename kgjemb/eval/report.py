"""Text tables and the Markdown report of an evaluation result."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from kgjemb.eval.suite import KINDS

__all__ = ["table_rows", "text_table", "markdown_report", "write_json", "weakest_kinds"]

logger = logging.getLogger(__name__)


def _metric_cols(result: dict) -> list[str]:
    for s in result["systems"].values():
        cols = [c for c in s["overall"] if c not in ("n", "n_empty")]
        if cols:
            return cols
    return []


def table_rows(result: dict) -> list[dict]:
    """One row per (system, kind) plus (system, overall)."""
    rows = []
    for name, s in result["systems"].items():
        for kind in [*[k for k in KINDS if k in s["by_kind"]], "overall"]:
            m = s["overall"] if kind == "overall" else s["by_kind"][kind]
            rows.append({"system": name, "kind": kind, **m})
    return rows


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def text_table(result: dict, *, markdown: bool = False) -> str:
    """Aligned plain-text (or Markdown) table of :func:`table_rows`."""
    cols = ["system", "kind", *_metric_cols(result), "n"]
    rows = [[_fmt(r.get(c, "")) for c in cols] for r in table_rows(result)]
    if markdown:
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) if i > 1 else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def summary_json(result: dict) -> dict:
    """The JSON printed by ``kgjemb eval --format json``: with one system
    ``{"overall", "by_kind", "n"}``; with several, also ``"systems": {name: {...}}``
    (top-level fields = the first system, the full engine)."""
    systems = {n: {"overall": s["overall"], "by_kind": s["by_kind"], "n": s["overall"]["n"], "recall_curve": s["curve"]}
               for n, s in result["systems"].items()}
    first = next(iter(systems.values()), {"overall": {}, "by_kind": {}, "n": 0})
    out = {"overall": first["overall"], "by_kind": first["by_kind"], "n": first["n"],
           "n_queries": result["n_queries"], "pool_size": result["pool_size"], "k": result["k"]}
    if len(systems) > 1:
        out["systems"] = systems
    return out


def write_json(result: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=float))
    os.replace(tmp, path)
    return path


def weakest_kinds(result: dict, system: str | None = None, metric: str = "nDCG@10", n: int = 3) -> list[tuple[str, float]]:
    """The ``n`` kinds where ``system`` (default: the first) scores lowest on ``metric``."""
    name = system or next(iter(result["systems"]))
    by = result["systems"][name]["by_kind"]
    vals = sorted(((k, m.get(metric, float("nan"))) for k, m in by.items() if m.get("n")), key=lambda kv: kv[1])
    return vals[:n]


def markdown_report(result: dict, *, meta: dict, plots: list[Path]) -> str:
    """report.md: setup, the table, the plots, weakest kinds, and a few failed queries."""
    k = result["k"]
    lines = [
        "# kgjemb evaluation report", "",
        *(f"- **{key}**: {val}" for key, val in meta.items()),
        f"- **queries**: {result['n_queries']} ({result['n']} with at least one relevant track in the pool)",
        f"- **pool**: {result['pool_size']} tracks", "",
        "Metrics (queries without a relevant track in the pool are left out): R@k = hits in top k / "
        f"min(k, #relevant); P@{k}; mAP@{k}; nDCG@{k} (gain 2^grade−1); MRR.", "",
        "## Results", "", text_table(result, markdown=True), "",
        "## Plots", "", *(f"![{p.stem}]({p.name})" for p in plots), "",
    ]
    name = next(iter(result["systems"]), None)
    if name:
        lines += [f"## Weakest query kinds ({name}, nDCG@{k})", ""]
        lines += [f"- {kind}: {val:.3f}" for kind, val in weakest_kinds(result, name, f"nDCG@{k}")]
        failed = [q for q in result["systems"][name]["per_query"] if q.get("MRR") == 0.0][:10]
        if failed:
            lines += ["", f"## Queries with no relevant track in the ranking ({name}, first 10)", "",
                      "| id | kind | query | #relevant |", "|---|---|---|---|"]
            lines += [f"| {q['id']} | {q['kind']} | {q['query']} | {q['n_relevant']} |" for q in failed]
    return "\n".join(lines) + "\n"
