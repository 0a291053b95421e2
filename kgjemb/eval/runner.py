"""Run suites through retrieval systems and score them.

Systems are in :mod:`kgjemb.eval.systems` (the engine, its ablations and baselines). The
metrics are :mod:`kgjemb.metrics` (standard definitions, shared with training).

Honest split (default ``pool="held-out"``): the evaluation pool is the model's held-out
tracks (``split.val`` in the bundle model's metrics.json) that are in the index. Every
ranking is filtered to the pool (training tracks are dropped from it) and every relevant
set is restricted to the pool; a query whose restricted set is empty is left out and
counted in ``n_empty``. ``pool="all"`` evaluates over every indexed track.

Honest metadata (``masks``): at each mask rate R, a seeded share R of the evaluated
(pool) tracks' HAS and track ↔ track edges is hidden from the query-time snapshot
(:func:`kgjemb.eval.mask.mask_export`) before any system sees it; relevance is always
judged on the full graph. With no rate given the snapshot is the bundle's (R = 0).

>>> result = evaluate_systems([EngineSystem(engine)], load_suites(["queries/handwritten.jsonl"]),
...                           facts, pool=held_out_ids(bundle_dir))  # doctest: +SKIP
>>> result["systems"]["engine"]["overall"]["nDCG@10"]  # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from kgjemb.errors import UnknownEntityError
from kgjemb.eval.generate import training_vocabulary, unseen_ok
from kgjemb.eval.linear import LinearConfig, LinearMetricSystem
from kgjemb.eval.mask import hidden_counts, mask_export
from kgjemb.eval.plots import write_plots
from kgjemb.atomic import write_text
from kgjemb.eval.report import markdown_report, summary_json, text_table, write_json
from kgjemb.eval.rules import GraphFacts, Rule, resolve
from kgjemb.eval.significance import paired_permutation_test
from kgjemb.eval.suite import KINDS, SuiteRow, load_suites
from kgjemb.eval.systems import (
    SYSTEM_ORDER, EngineSystem, RandomSystem, System, engine_system, entity_only_weights, no_graph_weights,
)
from kgjemb.index.bundle import Bundle
from kgjemb.metrics import mean_metrics, query_metrics
from kgjemb.query.config import EngineConfig, changed_settings

__all__ = ["POOLS", "RunConfig", "relevance", "evaluate_systems", "significance", "held_out_ids", "run_eval",
           "mask_key", "CURVE_KS"]

logger = logging.getLogger(__name__)

CURVE_KS: tuple[int, ...] = (1, 2, 3, 5, 10, 20)
POOLS: tuple[str, ...] = ("held-out", "all")


@dataclass(frozen=True)
class RunConfig:
    """``k`` (10): cut-off of P/mAP/nDCG; ``ks`` (1, 5, 10): recall cut-offs in the table;
    ``fetch`` (None): how many hits to ask each system for before filtering to the pool
    (None: every indexed track, exact for small catalogs); ``masks`` (()): mask rates R in
    [0, 1] to evaluate at (empty: the unmasked snapshot only); ``n_permutations``
    (10,000): sign flips of the paired significance test of the engine vs each other system
    on per-query nDCG@k."""

    k: int = 10
    ks: tuple[int, ...] = (1, 5, 10)
    fetch: int | None = None
    masks: tuple[float, ...] = ()
    n_permutations: int = 10000

    def __post_init__(self) -> None:
        for r in self.masks:
            if not 0.0 <= float(r) <= 1.0:  # NaN fails too
                raise ValueError(f"mask rate must be within [0, 1], got {r}")


def mask_key(rate: float) -> str:
    """The key of a mask rate in results: ``0``, ``0.5``, ``1``."""
    return f"{float(rate):g}"


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


def _grades(rows: Sequence[SuiteRow], facts: GraphFacts, pool: set[str] | None) -> tuple[list[dict], list[str]]:
    grades, unresolved = [], []
    for r in rows:
        try:
            grades.append(relevance(r, facts, pool))
        except (UnknownEntityError, ValueError) as err:  # a rule naming what this graph lacks
            grades.append({})
            unresolved.append(f"{r.source or r.id}: {err}")
    if unresolved:
        logger.warning("%d rows name tracks/artists/attributes absent from this graph (left out): %s",
                       len(unresolved), "; ".join(unresolved[:5]))
    return grades, unresolved


def evaluate_systems(systems: Sequence[System], rows: Sequence[SuiteRow], facts: GraphFacts, *,
                     pool: Sequence[str] | None = None, config: RunConfig = RunConfig(),
                     n_indexed: int | None = None) -> dict:
    """Score every system on every row; relevance from ``facts`` (the full graph).

    Returns ``{"n", "n_queries", "k", "pool_size", "unresolved", "systems": {name:
    {"overall", "by_kind", "curve", "per_query"}}}`` where ``overall`` and ``by_kind[kind]``
    are :func:`~kgjemb.metrics.mean_metrics` dicts, ``curve`` is mean recall@k over
    :data:`CURVE_KS` and ``per_query`` keeps each query's metrics and top 5. Metrics are
    computed on each system's whole pool-filtered ranking (MRR included)."""
    pool_set = set(pool) if pool is not None else None
    grades, unresolved = _grades(rows, facts, pool_set)
    fetch = config.fetch or n_indexed or len(facts.track_ids)
    queries = [r.query for r in rows]
    out: dict = {"n_queries": len(rows), "k": config.k, "pool_size": len(pool_set) if pool_set else len(facts.track_ids),
                 "systems": {}, "unresolved": unresolved}
    for system in systems:
        logger.info("eval: %s on %d queries", system.name, len(rows))
        ranked = system.rank_batch(queries, fetch) if rows else []
        if pool_set is not None:
            ranked = [[t for t in r if t in pool_set] for r in ranked]
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


def significance(result: dict, *, reference: str = "engine", metric: str | None = None,
                 n_permutations: int = 10000, seed: int = 0) -> dict:
    """Paired randomisation test of ``reference`` vs every other system of one
    :func:`evaluate_systems` result on per-query ``metric`` (default nDCG@k), overall and
    per query kind: ``{system: {"overall": PairedTest dict, "by_kind": {kind: ...}}}``
    (``diff`` = reference − system). Empty when ``reference`` is not in the result."""
    metric = metric or f"nDCG@{result['k']}"
    systems = result["systems"]
    if reference not in systems:
        return {}
    ref = {q["id"]: q for q in systems[reference]["per_query"] if metric in q}
    out: dict = {}
    for name, s in systems.items():
        if name == reference:
            continue
        pairs = [(ref[q["id"]][metric], q[metric], q["kind"]) for q in s["per_query"] if metric in q and q["id"] in ref]

        def test(sel: list) -> dict:
            return paired_permutation_test([a for a, _, _ in sel], [b for _, b, _ in sel],
                                           n_permutations=n_permutations, seed=seed).to_dict()

        out[name] = {"overall": test(pairs),
                     "by_kind": {kind: test([p for p in pairs if p[2] == kind])
                                 for kind in KINDS if any(p[2] == kind for p in pairs)}}
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


def _order(systems: list) -> list:
    rank = {n: i for i, n in enumerate(SYSTEM_ORDER)}
    return sorted(systems, key=lambda s: rank.get(s.name, len(rank)))


def run_eval(suites: Sequence[str | Path], bundle_dir: str | Path, *, out: str | Path | None = None,
             baselines: bool = False, text_only_bundle: str | Path | None = None, linear: bool = True,
             pool: str = "held-out", config: RunConfig = RunConfig(), seed: int = 0, progress: bool = False,
             linear_config: LinearConfig | None = None, engine_config: EngineConfig = EngineConfig()) -> dict:
    """Everything ``kgjemb eval`` does: open the bundle, load the suites, and at each mask
    rate of ``config.masks`` (none: the unmasked snapshot) score the full engine — and with
    ``baselines`` no-graph and graph-query-only (when a text-only bundle is given),
    graph-train-only, entity-only, linear-metric and random (see
    :mod:`kgjemb.eval.systems`) with the engine's paired significance against each. When
    ``out`` is given write result.json, summary.json, table.txt, PNG plots and report.md
    there. ``seed`` seeds the masks, the random and linear baselines and the permutation
    tests. ``engine_config``: the engine's settings (weights, walk, fusion); the ablations
    and baselines derive their weights from it, and the report's meta lists what differs
    from the defaults.

    Returns the first rate's :func:`evaluate_systems` result (``"systems"``,
    ``"significance"``, ``"hidden"``) plus ``"masks"`` (the rates), ``"by_mask"`` (one such
    result per rate, keyed by :func:`mask_key`), ``"meta"`` (setup) and ``"files"``.

    ``pool``: "held-out" (the model's validation tracks; falls back to "all" with a warning
    when the model recorded no split) or "all". The evaluated (masked) tracks are the pool.

    >>> res = run_eval(["queries/handwritten.jsonl"], ".kgjemb/bundle", baselines=True,
    ...                config=RunConfig(masks=(0, 0.5, 1)), out="runs/eval")  # doctest: +SKIP
    """
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; choose from {sorted(POOLS)}")
    rows = load_suites(suites)
    bundle = Bundle.open(Path(bundle_dir))
    full = bundle.export
    model = bundle.load_model()
    facts = GraphFacts.from_export(full)  # relevance: always the full graph
    indexed = list(bundle.track_ids)
    masks = sorted({float(r) for r in config.masks}) or [0.0]
    meta: dict = {"bundle": str(bundle_dir), "suites": ", ".join(str(s) for s in suites), "pool": pool,
                  "mask rates": ", ".join(mask_key(r) for r in masks) + (f" (seed {seed})" if config.masks else " (no mask)"),
                  "engine settings": _settings_line(engine_config)}
    pool_ids: list[str] | None = None
    if pool == "held-out":
        held = held_out_ids(Path(bundle_dir) / "model")
        if held is None:
            logger.warning("the bundle's model records no held-out split: evaluating over all indexed tracks")
            meta["pool"] = "all (the model records no held-out split)"
        else:
            pool_ids = [t for t in held if t in set(indexed)]
    evaluated = pool_ids if pool_ids is not None else indexed
    bad = unseen_violations(rows, full)
    if bad:
        logger.warning("%d unseen-word queries use words of the training texts: %s", len(bad), ", ".join(bad[:10]))
        meta["unseen-word rows using training words"] = ", ".join(bad)
    text_bundle, skipped = None, []
    if baselines:
        tb = Path(text_only_bundle) if text_only_bundle else None
        if tb is not None and (tb / "manifest.json").is_file():
            text_bundle = Bundle.open(tb)
            text_model = text_bundle.load_model()
            meta["text-only bundle"] = str(tb)
        else:
            why = f"no bundle at {tb}" if tb else "no --text-only-bundle given"
            skipped += [f"no-graph ({why})", f"graph-query-only ({why})"]
    base = engine_config
    by_mask: dict[str, dict] = {}
    lin: LinearMetricSystem | None = None
    for rate in masks:
        export = mask_export(full, track_ids=evaluated, rate=rate, seed=seed)
        hidden = hidden_counts(full, export)
        logger.info("eval at mask %s: hidden %s", mask_key(rate), hidden)
        engine = engine_system(bundle, export=export, name="engine", model=model, config=base)
        systems: list = [engine]
        if baselines:
            shared = {"export": export, "parser": engine.engine.parser, "config": base}
            systems.append(engine_system(bundle, name="graph-train-only", model=model,
                                         weights=no_graph_weights(base.weights), **shared))
            systems.append(engine_system(bundle, name="entity-only", model=model,
                                         weights=entity_only_weights(base.weights), **shared))
            if text_bundle is not None:
                systems.append(engine_system(text_bundle, name="graph-query-only", model=text_model, **shared))
                systems.append(engine_system(text_bundle, name="no-graph", model=text_model,
                                             weights=no_graph_weights(base.weights), **shared))
            if linear and not any(s.startswith("linear-metric") for s in skipped):
                try:
                    lin = LinearMetricSystem.fit(engine.engine, held_out=pool_ids or [], export=export,
                                                 features=lin.features if lin is not None else None,
                                                 config=linear_config or LinearConfig(), seed=seed, progress=progress)
                    systems.append(lin)
                except Exception as err:  # noqa: BLE001 - a failing baseline must not hide the others
                    logger.exception("linear baseline failed")
                    skipped.append(f"linear-metric ({err})")
            systems.append(RandomSystem(indexed, seed=seed))
        res = evaluate_systems(_order(systems), rows, facts, pool=pool_ids, config=config, n_indexed=len(indexed))
        res["hidden"] = hidden
        res["significance"] = significance(res, n_permutations=config.n_permutations, seed=seed)
        by_mask[mask_key(rate)] = res
    result = dict(by_mask[mask_key(masks[0])])
    result["masks"] = [mask_key(r) for r in masks]
    result["by_mask"] = by_mask
    if skipped:
        meta["baselines skipped"] = "; ".join(skipped)
    if result["unresolved"]:
        meta["rows left out (rule names what this graph lacks)"] = (
            f"{len(result['unresolved'])}, e.g. " + "; ".join(result["unresolved"][:3]))
    result["meta"] = meta
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        plots = write_plots(result, out)
        files = [write_json(result, out / "result.json"), write_json(summary_json(result), out / "summary.json")]
        for name, text in (("table.txt", text_table(result)), ("report.md", markdown_report(result, meta=meta, plots=plots))):
            files.append(write_text(out / name, text))
        result["files"] = [str(p) for p in [*files, *plots]]
    return result


def _settings_line(config: EngineConfig) -> str:
    changed = changed_settings(config)
    return ", ".join(f"{k}={v}" for k, v in changed.items()) if changed else "defaults"


def unseen_violations(rows: Sequence[SuiteRow], export) -> list[str]:
    """Ids of ``unseen-word`` rows whose descriptive words occur in the training texts
    (:func:`kgjemb.eval.generate.training_vocabulary` of ``export``)."""
    unseen = [r for r in rows if r.kind == "unseen-word"]
    if not unseen:
        return []
    vocab = training_vocabulary(export)
    return [r.id for r in unseen if not unseen_ok(r.query, vocab)]
