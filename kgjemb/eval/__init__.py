"""Evaluation harness: query suites (JSONL, :mod:`kgjemb.eval.suite`), relevance rules
resolved against the graph (:mod:`kgjemb.eval.rules`), suite generation
(:mod:`kgjemb.eval.generate`), systems and baselines (:mod:`kgjemb.eval.runner`,
:mod:`kgjemb.eval.baselines`, :mod:`kgjemb.eval.linear`), masked snapshots
(:mod:`kgjemb.eval.mask`), paired significance (:mod:`kgjemb.eval.significance`), tables,
plots and the Markdown report. The ranking metrics are :mod:`kgjemb.metrics` (shared with
training).

>>> from kgjemb.eval import run_eval
>>> result = run_eval(["queries/handwritten.jsonl"], ".kgjemb/bundle", out="runs/eval")  # doctest: +SKIP
"""
from kgjemb.eval.rules import GraphFacts, Rule, resolve
from kgjemb.eval.runner import EngineSystem, RunConfig, evaluate_systems, held_out_ids, run_eval
from kgjemb.eval.suite import KINDS, SuiteError, SuiteRow, load_suite, load_suites, write_suite

__all__ = [
    "KINDS", "SuiteRow", "SuiteError", "load_suite", "load_suites", "write_suite", "Rule", "GraphFacts", "resolve",
    "EngineSystem", "RunConfig", "evaluate_systems", "held_out_ids", "run_eval",
]
