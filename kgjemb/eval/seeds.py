"""Evaluation over several trained models (one per training seed): :func:`run_seeds` runs
:func:`~kgjemb.eval.runner.run_eval` once per (bundle, text-only bundle) pair and
:func:`combine_seeds` folds the per-seed results into mean ± sd per mask rate, system and
query kind, with the engine's paired randomisation test pooled over every (seed, query)
pair.

Why: a quality claim about a trained model is a claim about the training recipe, so it must
hold across seeds. Each seed's model has its own held-out tracks (its own pool), so each
seed is evaluated on its own pool and the seeds are combined afterwards; the pooled test
pairs the engine and a system on the same query of the same seed.

>>> res = run_seeds(["queries/handwritten.jsonl"], [("runs/b/full-s0", "runs/b/text-only-s0"),
...                                                 ("runs/b/full-s1", "runs/b/text-only-s1")],
...                 baselines=True, config=RunConfig(masks=(0, 0.5, 1)), out="runs/eval")  # doctest: +SKIP
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from kgjemb.eval.plots import plot_seeds_vs_mask
from kgjemb.atomic import write_text
from kgjemb.eval.report import mask_levels, write_json
from kgjemb.eval.runner import RunConfig, run_eval
from kgjemb.eval.significance import paired_permutation_test
from kgjemb.eval.suite import KINDS
from kgjemb.query.config import EngineConfig

__all__ = ["run_seeds", "combine_seeds", "seeds_table", "seeds_report"]

logger = logging.getLogger(__name__)


def run_seeds(suites: Sequence[str | Path], bundles: Sequence[tuple[str | Path, str | Path | None]], *,
              out: str | Path | None = None, baselines: bool = False, linear: bool = True,
              pool: str = "held-out", config: RunConfig = RunConfig(), seed: int = 0,
              progress: bool = False, engine_config: EngineConfig = EngineConfig()) -> dict:
    """Evaluate each ``(bundle, text_only_bundle)`` pair (one trained seed each) with
    :func:`run_eval` — masks, random and linear baselines seeded with ``seed + i`` for the
    i-th pair — writing each seed's full report under ``out/seed-<i>/``, then combine them
    (:func:`combine_seeds`) and write ``out/seeds.json``, ``out/seeds.txt``,
    ``out/report.md`` and ``out/ndcg_vs_mask.png``. Returns the combined result with
    ``"files"``. ``engine_config``: the engine's settings, the same for every seed."""
    if not bundles:
        raise ValueError("run_seeds needs at least one bundle")
    results = []
    for i, (bundle, text_only) in enumerate(bundles):
        logger.info("eval seed %d of %d: %s (text-only: %s)", i + 1, len(bundles), bundle, text_only)
        sub = Path(out) / f"seed-{i}" if out is not None else None
        results.append(run_eval(suites, bundle, out=sub, baselines=baselines, text_only_bundle=text_only,
                                linear=linear, pool=pool, config=config, seed=seed + i, progress=progress,
                                engine_config=engine_config))
    combined = combine_seeds(results, n_permutations=config.n_permutations, seed=seed)
    combined["meta"] = {"suites": ", ".join(str(s) for s in suites), "pool": pool,
                        "engine settings": results[0]["meta"]["engine settings"],
                        "seeds": len(bundles), "mask seeds": ", ".join(str(seed + i) for i in range(len(bundles))),
                        **{f"seed {i}": f"{b} (text-only: {t or '—'})" for i, (b, t) in enumerate(bundles)}}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files = [write_json(combined, out / "seeds.json")]
        plot = plot_seeds_vs_mask(combined, out / "ndcg_vs_mask.png") if len(combined["masks"]) > 1 else None
        for name, text in (("seeds.txt", seeds_table(combined)),
                           ("report.md", seeds_report(combined, plot=plot))):
            files.append(write_text(out / name, text))
        combined["files"] = [str(p) for p in files] + ([str(plot)] if plot else []) + [
            f for r in results for f in r.get("files", [])]
    return combined


def combine_seeds(results: Sequence[dict], *, reference: str = "engine", metric: str | None = None,
                  n_permutations: int = 10000, seed: int = 0) -> dict:
    """Fold per-seed :func:`run_eval` results into ``{"k", "masks", "n_seeds", "by_mask":
    {mask: {"systems": {name: {"overall": {metric: {"mean", "sd", "seeds"}}, "by_kind":
    {kind: {...}}}}, "significance": {name: PairedTest dict}}}}``.

    Mean and sample sd (ddof 1; 0 with one seed) over the seeds that scored the system at
    that rate (``seeds`` lists the per-seed values). The significance of ``reference`` vs
    each system pools every (seed, query) pair with a score for both — the per-query
    ``metric`` (default nDCG@k) — into one paired randomisation test."""
    if not results:
        raise ValueError("combine_seeds needs at least one result")
    k = results[0]["k"]
    metric = metric or f"nDCG@{k}"
    masks = list(mask_levels(results[0]))
    by_mask: dict[str, dict] = {}
    for mask in masks:
        levels = [mask_levels(r).get(mask) for r in results]
        levels = [lv for lv in levels if lv is not None]
        names = list(dict.fromkeys(n for lv in levels for n in lv["systems"]))
        systems = {}
        for name in names:
            runs = [lv["systems"][name] for lv in levels if name in lv["systems"]]
            kinds = [kd for kd in KINDS if any(kd in s["by_kind"] for s in runs)]
            systems[name] = {"overall": _fold([s["overall"] for s in runs]),
                             "by_kind": {kd: _fold([s["by_kind"][kd] for s in runs if kd in s["by_kind"]])
                                         for kd in kinds}}
        sig = {}
        if any(reference in lv["systems"] for lv in levels):
            for name in names:
                if name == reference:
                    continue
                a, b = [], []
                for lv in levels:
                    if reference not in lv["systems"] or name not in lv["systems"]:
                        continue
                    ref = {q["id"]: q[metric] for q in lv["systems"][reference]["per_query"] if metric in q}
                    for q in lv["systems"][name]["per_query"]:
                        if metric in q and q["id"] in ref:
                            a.append(ref[q["id"]])
                            b.append(q[metric])
                sig[name] = paired_permutation_test(a, b, n_permutations=n_permutations, seed=seed).to_dict()
        by_mask[mask] = {"systems": systems, "significance": sig}
    return {"k": k, "metric": metric, "masks": masks, "n_seeds": len(results), "by_mask": by_mask}


def _fold(metric_dicts: Sequence[dict]) -> dict:
    """``{metric: {"mean", "sd", "seeds"}}`` over per-seed metric dicts (``n`` summed)."""
    out: dict = {}
    cols = [c for c in metric_dicts[0] if c not in ("n", "n_empty")] if metric_dicts else []
    for c in cols:
        vals = np.array([m[c] for m in metric_dicts if m.get(c) is not None], dtype=np.float64)  # (seeds,)
        vals = vals[~np.isnan(vals)]
        if not len(vals):
            continue
        out[c] = {"mean": float(vals.mean()), "sd": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                  "seeds": [float(v) for v in vals]}
    out["n"] = int(sum(m.get("n", 0) for m in metric_dicts))
    return out


def _cell(m: dict | None) -> str:
    return f"{m['mean']:.3f} ± {m['sd']:.3f}" if m else "—"


def seeds_table(combined: dict, *, markdown: bool = False, metric: str | None = None) -> str:
    """Systems × mask rates of ``metric`` (default nDCG@k) overall, mean ± sd over seeds,
    then the engine's pooled paired test (Δ, p) per rate; then the same per query kind."""
    metric = metric or combined["metric"]
    masks = combined["masks"]
    levels = combined["by_mask"]
    names = list(dict.fromkeys(n for lv in levels.values() for n in lv["systems"]))
    head = ["system", *(f"R={m}" for m in masks), *(f"Δ, p (R={m})" for m in masks)]
    rows = []
    for name in names:
        cells = [_cell(levels[m]["systems"].get(name, {}).get("overall", {}).get(metric)) for m in masks]
        tests = []
        for m in masks:
            t = levels[m]["significance"].get(name)
            tests.append(f"{t['diff']:+.3f}, {t['p_value']:.3g}" if t and t["n"] else "")
        rows.append([name, *cells, *tests])
    kind_head = ["system", "kind", *(f"R={m}" for m in masks)]
    kind_rows = []
    for name in names:
        for kd in KINDS:
            cells = [levels[m]["systems"].get(name, {}).get("by_kind", {}).get(kd, {}).get(metric) for m in masks]
            if any(cells):
                kind_rows.append([name, kd, *(_cell(c) for c in cells)])
    title = f"{metric}, mean ± sd over {combined['n_seeds']} seed(s)"
    return "\n\n".join([title, _table(head, rows, markdown), f"{metric} by query kind", _table(kind_head, kind_rows, markdown)])


def _table(head: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                          *("| " + " | ".join(r) + " |" for r in rows)])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def seeds_report(combined: dict, *, plot: Path | None = None) -> str:
    """report.md of a multi-seed evaluation: setup, the tables of :func:`seeds_table`, the
    plot, and where each seed's own report is."""
    lines = ["# kgjemb evaluation report: several seeds", "",
             *(f"- **{key}**: {val}" for key, val in combined.get("meta", {}).items()), "",
             f"Each seed's model is evaluated on its own held-out pool (its own report: `seed-<i>/report.md`). "
             f"Cells: mean ± sample sd over seeds. Δ, p: engine − system on per-query {combined['metric']}, "
             "two-sided paired randomisation test pooled over every (seed, query) pair.", "",
             seeds_table(combined, markdown=True), ""]
    if plot is not None:
        lines += ["## Plot", "", f"![{plot.stem}]({plot.name})", ""]
    return "\n".join(lines) + "\n"
