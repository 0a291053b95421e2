"""Run suites through retrieval systems and score them.

A *system* is anything with ``name`` and ``rank_batch(queries, k) -> list[list[str]]``
(track ids best first): :class:`EngineSystem` wraps :class:`~kgjemb.query.engine.Engine`
(queries go through :meth:`Engine.search_batch`); baselines live in
:mod:`kgjemb.eval.baselines`.

Honest split (default ``pool="held-out"``): the evaluation pool is the model's held-out
tracks (``split.val`` in the bundle model's metrics.json) that are in the index. Every
ranking is filtered to the pool (training tracks are dropped from it, then the top k kept)
and every relevant set is restricted to the pool; a query whose restricted set is empty is
left out and counted in ``n_empty``. ``pool="all"`` evaluates over every indexed track.

>>> result = evaluate_systems([EngineSystem(engine)], load_suites(["queries/handwritten.jsonl"]),
...                           facts, pool=held_out_ids(bundle_dir))  # doctest: +SKIP
>>> result["systems"]["engine"]["overall"]["nDCG@10"]  # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

from kgjemb.eval.rules import GraphFacts, Rule, resolve
from kgjemb.eval.suite import KINDS, SuiteRow
from kgjemb.metrics import mean_metrics, query_metrics

__all__ = ["System", "EngineSystem", "RunConfig", "relevance", "evaluate_systems", "held_out_ids", "CURVE_KS"]

logger = logging.getLogger(__name__)

CURVE_KS: tuple[int, ...] = (1, 2, 3, 5, 10, 20)


class System(Protocol):
    name: str

    def rank_batch(self, queries: Sequence[str], k: int) -> list[list[str]]: ...


class EngineSystem:
    """An :class:`~kgjemb.query.engine.Engine` as a system (``name`` defaults to "engine")."""

    def __init__(self, engine, name: str = "engine", batch_size: int = 64) -> None:
        self.engine = engine
        self.name = name
        self.batch_size = batch_size

    def rank_batch(self, queries: Sequence[str], k: int) -> list[list[str]]:
        out: list[list[str]] = []
        for i in range(0, len(queries), self.batch_size):
            results = self.engine.search_batch(list(queries[i: i + self.batch_size]), k=k)
            out += [[h.track_id for h in r.hits] for r in results]
        return out


@dataclass(frozen=True)
class RunConfig:
    """``k`` (10): cut-off of P/mAP/nDCG; ``ks`` (1, 5, 10): recall cut-offs in the table;
    ``fetch`` (None): how many hits to ask each system for before filtering to the pool
    (None: every indexed track, exact for small catalogs)."""

    k: int = 10
    ks: tuple[int, ...] = (1, 5, 10)
    fetch: int | None = None


def relevance(row: SuiteRow, facts: GraphFacts, pool: set[str] | None) -> dict[str, float]:
    """Grades of one row, restricted to ``pool``: listed ids / a resolved rule, then
    ``grades`` overrides."""
    if isinstance(row.relevant, Rule):
        grades = resolve(row.relevant, facts, pool=None)
    else:
        grades = {t: 1.0 for t in row.relevant}
    if row.grades:
        grades.update(row.grades)
    if pool is not None:
        grades = {t: g for t, g in grades.items() if t in pool}
    return {t: g for t, g in grades.items() if g > 0}


def evaluate_systems(systems: Sequence[System], rows: Sequence[SuiteRow], facts: GraphFacts, *,
                     pool: Sequence[str] | None = None, config: RunConfig = RunConfig(),
                     n_indexed: int | None = None) -> dict:
    """Score every system on every row. Returns ``{"n", "n_queries", "k", "pool_size",
    "systems": {name: {"overall", "by_kind", "curve", "per_query"}}}`` where ``overall`` and
    ``by_kind[kind]`` are :func:`mean_metrics` dicts and ``curve`` is mean R@k over
    :data:`CURVE_KS`."""
    from kgjemb.errors import UnknownEntityError

    pool_set = set(pool) if pool is not None else None
    grades, unresolved = [], []
    for r in rows:
        try:
            grades.append(relevance(r, facts, pool_set))
        except (UnknownEntityError, ValueError) as err:  # a rule naming what this graph lacks
            grades.append({})
            unresolved.append(f"{r.source or r.id}: {err}")
    if unresolved:
        logger.warning("%d rows name tracks/artists/attributes absent from this graph (left out): %s",
                       len(unresolved), "; ".join(unresolved[:5]))
    k_max = max(max(config.ks), config.k, max(CURVE_KS))
    fetch = config.fetch or n_indexed or len(facts.track_ids)
    queries = [r.query for r in rows]
    out: dict = {"n_queries": len(rows), "k": config.k, "pool_size": len(pool_set) if pool_set else len(facts.track_ids),
                 "systems": {}, "unresolved": unresolved}
    for system in systems:
        logger.info("eval: %s on %d queries", system.name, len(rows))
        ranked = system.rank_batch(queries, fetch) if rows else []
        if pool_set is not None:
            ranked = [[t for t in r if t in pool_set] for r in ranked]
        ranked = [r[:k_max] for r in ranked]
        per = [query_metrics(r, g, ks=config.ks, k=config.k) for r, g in zip(ranked, grades)]
        curve = [query_metrics(r, g, ks=CURVE_KS, k=config.k) for r, g in zip(ranked, grades)]
        by_kind = {}
        for kind in KINDS:
            sel = [m for m, row in zip(per, rows) if row.kind == kind]
            if sel:
                by_kind[kind] = mean_metrics(sel)
        c = mean_metrics(curve)
        out["systems"][system.name] = {
            "overall": mean_metrics(per),
            "by_kind": by_kind,
            "curve": {str(x): c.get(f"R@{x}") for x in CURVE_KS},
            "per_query": [
                {"id": row.id, "kind": row.kind, "query": row.query, "n_relevant": len(g), "top": r[:5], **(m or {})}
                for row, g, r, m in zip(rows, grades, ranked, per)
            ],
        }
    first = next(iter(out["systems"].values()), None)
    out["n"] = first["overall"]["n"] if first else 0
    return out


def held_out_ids(model_dir: str | Path) -> list[str] | None:
    """The held-out (validation) track ids recorded by the trainer in
    ``model_dir/metrics.json`` (``split.val``); None when it has none."""
    path = Path(model_dir) / "metrics.json"
    if not path.is_file():
        return None
    split = json.loads(path.read_text()).get("split") or {}
    val = split.get("val")
    return list(val) if val else None


def run_eval(suites: Sequence[str | Path], bundle_dir: str | Path, *, out: str | Path | None = None,
             baselines: bool = False, text_only_bundle: str | Path | None = None, linear: bool = True,
             pool: str = "held-out", config: RunConfig = RunConfig(), seed: int = 0, progress: bool = False,
             linear_config=None) -> dict:
    """Everything ``kgjemb eval`` does: open the bundle, load the suites, score the full
    engine (and with ``baselines`` random, entity-only, text-only when a text-only bundle
    is given, linear metric learning), and when ``out`` is given write result.json,
    summary.json, table.txt, PNG plots and report.md there. Returns the result dict with
    ``"meta"`` (setup) and ``"files"`` (written paths).

    ``linear_config``: a :class:`~kgjemb.eval.linear.LinearConfig` (None: defaults).
    ``pool``: "held-out" (the model's validation tracks; falls back to "all" with a warning
    when the model recorded no split) or "all".

    >>> res = run_eval(["queries/handwritten.jsonl"], ".kgjemb/bundle", baselines=True, out="runs/eval")  # doctest: +SKIP
    """
    from kgjemb.eval.suite import load_suites
    from kgjemb.query.engine import Engine

    if pool not in ("held-out", "all"):
        raise ValueError(f"unknown pool {pool!r}; choose from ['all', 'held-out']")
    rows = load_suites(suites)
    engine = Engine.open(bundle_dir)
    facts = GraphFacts.from_export(engine.bundle.export)
    indexed = list(engine.track_ids)
    meta: dict = {"bundle": str(bundle_dir), "suites": ", ".join(str(s) for s in suites), "pool": pool}
    pool_ids: list[str] | None = None
    if pool == "held-out":
        held = held_out_ids(Path(bundle_dir) / "model")
        if held is None:
            logger.warning("the bundle's model records no held-out split: evaluating over all indexed tracks")
            meta["pool"] = "all (the model records no held-out split)"
        else:
            pool_ids = [t for t in held if t in set(indexed)]
    bad = unseen_violations(rows, engine.bundle.export)
    if bad:
        logger.warning("%d unseen-word queries use words of the training texts: %s", len(bad), ", ".join(bad[:10]))
        meta["unseen-word rows using training words"] = ", ".join(bad)
    systems: list = [EngineSystem(engine, name="engine")]
    skipped: list[str] = []
    if baselines:
        from kgjemb.eval.baselines import RandomSystem, entity_only, text_only

        systems.append(entity_only(engine))
        tb = Path(text_only_bundle) if text_only_bundle else None
        if tb is not None and (tb / "manifest.json").is_file():
            systems.append(text_only(tb, parser=engine.parser))
        else:
            skipped.append(f"text-only (no bundle at {tb})" if tb else "text-only (no --text-only-bundle given)")
        if linear:
            from kgjemb.eval.linear import LinearConfig, LinearMetricSystem

            try:
                systems.append(LinearMetricSystem.fit(engine, held_out=pool_ids or [], config=linear_config or LinearConfig(),
                                                      seed=seed, progress=progress))
            except Exception as err:  # noqa: BLE001 - a failing baseline must not hide the others
                logger.exception("linear baseline failed")
                skipped.append(f"linear-metric ({err})")
        systems.append(RandomSystem(indexed, seed=seed))
    if skipped:
        meta["baselines skipped"] = "; ".join(skipped)
    result = evaluate_systems(systems, rows, facts, pool=pool_ids, config=config, n_indexed=len(indexed))
    if result["unresolved"]:
        meta["rows left out (rule names what this graph lacks)"] = (
            f"{len(result['unresolved'])}, e.g. " + "; ".join(result["unresolved"][:3]))
    result["meta"] = meta
    if out is not None:
        from kgjemb.eval.plots import write_plots
        from kgjemb.eval.report import markdown_report, summary_json, text_table, write_json

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        plots = write_plots(result, out)
        files = [write_json(result, out / "result.json"), write_json(summary_json(result), out / "summary.json")]
        for name, text in (("table.txt", text_table(result)), ("report.md", markdown_report(result, meta=meta, plots=plots))):
            tmp = out / (name + ".tmp")
            tmp.write_text(text)
            tmp.replace(out / name)
            files.append(out / name)
        result["files"] = [str(p) for p in [*files, *plots]]
    return result


def unseen_violations(rows: Sequence[SuiteRow], export) -> list[str]:
    """Ids of ``unseen-word`` rows whose descriptive words occur in the training texts
    (:func:`kgjemb.eval.generate.training_vocabulary` of ``export``)."""
    from kgjemb.eval.generate import training_vocabulary, unseen_ok

    unseen = [r for r in rows if r.kind == "unseen-word"]
    if not unseen:
        return []
    vocab = training_vocabulary(export)
    return [r.id for r in unseen if not unseen_ok(r.query, vocab)]
