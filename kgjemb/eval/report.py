"""Text tables and the Markdown report of an evaluation result."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from kgjemb import atomic
from kgjemb.eval.suite import KINDS

__all__ = ["table_rows", "text_table", "summary_json", "markdown_report", "write_json", "weakest_kinds",
           "mask_levels"]

logger = logging.getLogger(__name__)


def mask_levels(result: dict) -> dict[str, dict]:
    """``{mask key: evaluate_systems result}``; a result without levels is one level "0"."""
    return result.get("by_mask") or {"0": result}


def _metric_cols(result: dict) -> list[str]:
    for level in mask_levels(result).values():
        for s in level["systems"].values():
            cols = [c for c in s["overall"] if c not in ("n", "n_empty")]
            if cols:
                return cols
    return []


def table_rows(result: dict) -> list[dict]:
    """One row per (mask rate, system, kind) plus (mask rate, system, overall), with the
    engine's paired test against that system on nDCG@k (``Δ`` = engine − system, ``p``)."""
    rows = []
    for mask, level in mask_levels(result).items():
        sig = level.get("significance") or {}
        for name, s in level["systems"].items():
            for kind in [*[k for k in KINDS if k in s["by_kind"]], "overall"]:
                m = s["overall"] if kind == "overall" else s["by_kind"][kind]
                t = sig.get(name, {})
                t = t.get("overall") if kind == "overall" else t.get("by_kind", {}).get(kind)
                extra = {"Δ": t["diff"], "p": t["p_value"]} if t else {}
                rows.append({"mask": mask, "system": name, "kind": kind, **m, **extra})
    return rows


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def text_table(result: dict, *, markdown: bool = False) -> str:
    """Aligned plain-text (or Markdown) table of :func:`table_rows`: every system at every
    mask rate, overall and per query kind."""
    rows_ = table_rows(result)
    cols = ["mask", "system", "kind", *_metric_cols(result), "n"]
    if any("p" in r for r in rows_):
        cols += ["Δ", "p"]
    rows = [[_fmt(r.get(c, "")) for c in cols] for r in rows_]
    if markdown:
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) if i > 2 else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def summary_json(result: dict) -> dict:
    """The JSON printed by ``kgjemb eval --format json``: the first mask rate's (or the
    unmasked) first system, the full engine, as ``{"overall", "by_kind", "n"}``; with
    several systems also ``"systems": {name: {...}}`` and ``"significance"``; with several
    mask rates also ``"by_mask": {rate: {"systems", "significance", "hidden"}}``."""
    def systems_of(level: dict) -> dict:
        return {n: {"overall": s["overall"], "by_kind": s["by_kind"], "n": s["overall"]["n"], "recall_curve": s["curve"]}
                for n, s in level["systems"].items()}

    systems = systems_of(result)
    first = next(iter(systems.values()), {"overall": {}, "by_kind": {}, "n": 0})
    out = {"overall": first["overall"], "by_kind": first["by_kind"], "n": first["n"],
           "n_queries": result["n_queries"], "pool_size": result["pool_size"], "k": result["k"]}
    if len(systems) > 1:
        out["systems"] = systems
        out["significance"] = result.get("significance", {})
    levels = mask_levels(result)
    if len(levels) > 1:
        out["by_mask"] = {m: {"systems": systems_of(lv), "significance": lv.get("significance", {}),
                              "hidden": lv.get("hidden", {})} for m, lv in levels.items()}
    return out


def write_json(result: dict, path: str | os.PathLike) -> Path:
    return atomic.write_text(path, json.dumps(result, indent=1, default=float))


def weakest_kinds(result: dict, system: str | None = None, metric: str = "nDCG@10", n: int = 3) -> list[tuple[str, float]]:
    """The ``n`` kinds where ``system`` (default: the first) scores lowest on ``metric``."""
    name = system or next(iter(result["systems"]))
    by = result["systems"][name]["by_kind"]
    vals = sorted(((k, m.get(metric, float("nan"))) for k, m in by.items() if m.get("n")), key=lambda kv: kv[1])
    return vals[:n]


def markdown_report(result: dict, *, meta: dict, plots: list[Path]) -> str:
    """report.md: setup, the table (every system at every mask rate, with the engine's
    paired tests), hidden edges per rate, the plots, weakest kinds, and failed queries."""
    k = result["k"]
    levels = mask_levels(result)
    lines = [
        "# kgjemb evaluation report", "",
        *(f"- **{key}**: {val}" for key, val in meta.items()),
        f"- **queries**: {result['n_queries']} ({result['n']} with at least one relevant track in the pool)",
        f"- **pool**: {result['pool_size']} tracks", "",
        "Metrics (`kgjemb.metrics`, the trec_eval / ranx definitions; queries without a relevant track in the "
        f"pool are left out): R@k = recall = hits in top k / #relevant; P@{k}; mAP@{k} (AP divided by #relevant); "
        f"nDCG@{k} with linear gain (grade); MRR over the whole ranking. Relevance is judged on the full graph.", "",
        f"Mask R: a seeded share R of the pool tracks' HAS and track-to-track (VERSION_OF) edges hidden from the "
        f"query-time snapshot of every system (BY and ON kept). Δ and p: engine − system on per-query nDCG@{k}, "
        "two-sided paired randomisation test.", "",
        "## Results", "", text_table(result, markdown=True), "",
    ]
    if any(lv.get("hidden") for lv in levels.values()):
        rels = sorted({r for lv in levels.values() for r in lv.get("hidden", {})})
        lines += ["## Hidden edges per mask rate", "", "| mask | " + " | ".join(rels) + " |",
                  "|---|" + "---|" * len(rels)]
        lines += [f"| {m} | " + " | ".join(str(lv.get("hidden", {}).get(r, 0)) for r in rels) + " |"
                  for m, lv in levels.items()]
        lines += [""]
    lines += ["## Plots", "", *(f"![{p.stem}]({p.name})" for p in plots), ""]
    name = next(iter(result["systems"]), None)
    if name:
        lines += [f"## Weakest query kinds ({name}, nDCG@{k}, mask {next(iter(levels))})", ""]
        lines += [f"- {kind}: {val:.3f}" for kind, val in weakest_kinds(result, name, f"nDCG@{k}")]
        failed = [q for q in result["systems"][name]["per_query"] if q.get("MRR") == 0.0][:10]
        if failed:
            lines += ["", f"## Queries with no relevant track in the ranking ({name}, first 10)", "",
                      "| id | kind | query | #relevant |", "|---|---|---|---|"]
            lines += [f"| {q['id']} | {q['kind']} | {q['query']} | {q['n_relevant']} |" for q in failed]
    return "\n".join(lines) + "\n"
