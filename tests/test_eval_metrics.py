"""Ranking metrics (:mod:`kgjemb.metrics`) against hand-computed values (ties, empty
relevance, short rankings, graded nDCG), cross-checked against ranx on random runs with
binary and graded relevance; suite-file validation."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from kgjemb.eval.suite import SuiteError, load_suite, load_suites, write_suite
from kgjemb.metrics import (
    average_precision_at_k, mean_metrics, ndcg_at_k, precision_at_k, query_metrics, rank_by_score, rcap_at_k,
    recall_at_k, reciprocal_rank, retrieval_metrics,
)

RANKED = ["a", "b", "c", "d", "e"]


def test_binary_metrics_hand_computed():
    rel = {"b": 1, "d": 1, "z": 1}  # z never retrieved; hits at ranks 2 and 4
    assert recall_at_k(RANKED, rel, 1) == 0.0
    assert recall_at_k(RANKED, rel, 2) == pytest.approx(1 / 3)  # 1 hit / R
    assert rcap_at_k(RANKED, rel, 2) == pytest.approx(1 / 2)  # 1 hit / min(2, R)
    assert recall_at_k(RANKED, rel, 5) == pytest.approx(2 / 3)
    assert precision_at_k(RANKED, rel, 5) == pytest.approx(2 / 5)
    assert average_precision_at_k(RANKED, rel, 5) == pytest.approx((1 / 2 + 2 / 4) / 3)  # / R
    assert average_precision_at_k(RANKED, rel, 2) == pytest.approx((1 / 2) / 3)
    assert reciprocal_rank(RANKED, rel) == pytest.approx(0.5)
    assert reciprocal_rank(RANKED, rel, k=1) == 0.0
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RANKED, rel, 5) == pytest.approx(dcg / idcg)


def test_perfect_ranking_with_more_relevant_than_k():
    rel = {t: 1 for t in RANKED}
    m = query_metrics(RANKED, rel, ks=(1, 5), k=3)
    assert m["R@1"] == pytest.approx(1 / 5) and m["R@5"] == 1.0 and m["P@3"] == 1.0
    assert m["mAP@3"] == pytest.approx(3 / 5) and m["nDCG@3"] == pytest.approx(1.0) and m["MRR"] == 1.0
    assert rcap_at_k(RANKED, rel, 1) == 1.0


def test_k_larger_than_ranking():
    rel = {"b": 1}
    ranked = ["a", "b"]
    assert recall_at_k(ranked, rel, 10) == 1.0
    assert precision_at_k(ranked, rel, 10) == pytest.approx(0.1)  # padded with misses
    assert average_precision_at_k(ranked, rel, 10) == pytest.approx(0.5)
    assert ndcg_at_k(ranked, rel, 10) == pytest.approx(1 / math.log2(3))
    assert recall_at_k([], rel, 10) == 0.0 and average_precision_at_k([], rel, 10) == 0.0
    assert reciprocal_rank([], rel) == 0.0


def test_empty_relevance_is_left_out_of_the_mean():
    assert query_metrics(RANKED, {}) is None
    assert math.isnan(recall_at_k(RANKED, {"x": 0}, 5))
    assert math.isnan(ndcg_at_k(RANKED, {}, 5))
    means = mean_metrics([query_metrics(["a"], {"a": 1}, ks=(1,), k=1), None, query_metrics(["b"], {"a": 1}, ks=(1,), k=1)])
    assert means["n"] == 2 and means["n_empty"] == 1
    assert means["R@1"] == pytest.approx(0.5)


def test_graded_ndcg_linear_and_exponential_gain():
    grades = {"a": 1, "b": 3, "c": 2}
    ranked = ["a", "x", "b", "c"]
    disc = [1 / math.log2(i + 1) for i in range(1, 5)]
    lin = (1 * disc[0] + 3 * disc[2] + 2 * disc[3]) / (3 * disc[0] + 2 * disc[1] + 1 * disc[2])
    exp = (1 * disc[0] + 7 * disc[2] + 3 * disc[3]) / (7 * disc[0] + 3 * disc[1] + 1 * disc[2])
    assert ndcg_at_k(ranked, grades, 4) == pytest.approx(lin)  # linear is the default
    assert ndcg_at_k(ranked, grades, 4, gain="exponential") == pytest.approx(exp)
    assert ndcg_at_k(["b", "c", "a"], grades, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "c", "b"], grades, 3) < 1.0
    with pytest.raises(ValueError, match="choose from"):
        ndcg_at_k(ranked, grades, 4, gain="log")


def test_ties_broken_by_id_deterministically():
    ids = ["d", "b", "a", "c"]
    scores = [0.5, 0.9, 0.5, 0.5]
    assert rank_by_score(ids, scores) == ["b", "a", "c", "d"]
    assert rank_by_score(list(reversed(ids)), list(reversed(scores))) == ["b", "a", "c", "d"]
    with pytest.raises(ValueError):
        rank_by_score(ids, [0.1, float("nan"), 0.2, 0.3])
    with pytest.raises(ValueError):
        recall_at_k(RANKED, {"a": 1}, 0)


# -- cross-check against ranx ---------------------------------------------------------------

def _random_runs(seed: int, graded: bool, n_q: int = 60, n_docs: int = 40):
    """Per query: distinct random scores over a random subset of docs (ties would leave the
    order to each library's sort) and 1..12 relevant docs, some never retrieved."""
    rng = np.random.default_rng(seed)
    runs, qrels = {}, {}
    for q in range(n_q):
        docs = [f"d{i}" for i in rng.permutation(n_docs)[: rng.integers(3, n_docs)]]
        scores = rng.permutation(len(docs)) + rng.random()  # distinct
        runs[f"q{q}"] = {d: float(s) for d, s in zip(docs, scores)}
        rel = rng.choice(n_docs + 5, size=int(rng.integers(1, 13)), replace=False)
        qrels[f"q{q}"] = {f"d{i}": int(rng.integers(1, 4)) if graded else 1 for i in rel}
    return runs, qrels


@pytest.mark.parametrize("graded", [False, True])
def test_metrics_match_ranx_on_random_runs(graded):
    import ranx  # the dev extra; imported in the test because its first import compiles with numba
    runs, qrels = _random_runs(7 + graded, graded)
    names = {"recall@5": ("R@5",), "recall@10": ("R@10",), "precision@10": ("P@10",), "map@10": ("mAP@10",),
             "ndcg@10": ("nDCG@10",), "mrr": ("MRR",)}
    run, run_b = ranx.Run(runs), ranx.Run(runs)
    ranx.evaluate(ranx.Qrels(qrels), run, list(names), make_comparable=True)  # per query in run.scores
    ranx.evaluate(ranx.Qrels(qrels), run_b, "ndcg_burges@10", make_comparable=True)
    ours = {}
    for q in runs:
        ranked = rank_by_score(list(runs[q]), list(runs[q].values()))
        ours[q] = query_metrics(ranked, qrels[q], ks=(5, 10), k=10)
        assert ndcg_at_k(ranked, qrels[q], 10, gain="exponential") == pytest.approx(run_b.scores["ndcg_burges@10"][q])
    for ranx_name, (our_name,) in names.items():
        for q in runs:
            assert ours[q][our_name] == pytest.approx(run.scores[ranx_name][q], abs=1e-9), (ranx_name, q)
    assert 0.0 < np.mean([m["nDCG@10"] for m in ours.values()]) < 1.0  # a non-trivial case


def test_batched_retrieval_metrics_match_ranx():
    import ranx  # the dev extra; imported in the test because its first import compiles with numba
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((40, 60))  # (n_q, n_c), distinct
    relevant = rng.random((40, 60)) < 0.15  # (n_q, n_c)
    relevant[3] = False  # a query without a relevant candidate is left out
    keep = [q for q in range(40) if relevant[q].any()]
    run = ranx.Run({f"q{q}": {f"c{j}": float(scores[q, j]) for j in range(60)} for q in keep})
    qrels = ranx.Qrels({f"q{q}": {f"c{j}": 1 for j in np.flatnonzero(relevant[q])} for q in keep})
    for k in (1, 5, 10, 80):
        m = retrieval_metrics(scores, relevant, k=k)
        want = ranx.evaluate(qrels, run, [f"recall@{k}", f"map@{k}", f"precision@{k}", "precision@1"])
        assert m["n"] == len(keep) == 39
        assert m["recall"] == pytest.approx(want[f"recall@{k}"]) and m["map"] == pytest.approx(want[f"map@{k}"])
        assert m["precision"] == pytest.approx(want[f"precision@{k}"]) and m["p1"] == pytest.approx(want["precision@1"])
    # the per-query form gives the same numbers
    per = [query_metrics(rank_by_score([f"c{j}" for j in range(60)], scores[q]),
                         {f"c{j}": 1 for j in np.flatnonzero(relevant[q])}, ks=(10,), k=10) for q in keep]
    assert retrieval_metrics(scores, relevant, k=10)["map"] == pytest.approx(np.mean([p["mAP@10"] for p in per]))
    perfect = retrieval_metrics(relevant.astype(float), relevant, k=60)
    assert perfect["recall"] == pytest.approx(1.0) and perfect["map"] == pytest.approx(1.0)
    assert retrieval_metrics(scores, np.zeros_like(relevant), k=5)["n"] == 0


def test_batched_map_cap_divides_by_min_k_and_r():
    """``map_cap`` (APcap@k) = the AP@k sum ÷ min(k, R): checked on a hand case and against
    a brute-force loop."""
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5]])  # (1, 5): ranking c0 c1 c2 c3 c4
    relevant = np.array([[True, False, True, True, True]])  # R = 4
    m = retrieval_metrics(scores, relevant, k=2)  # hits at rank 1 only: sum = 1
    assert m["map"] == pytest.approx(1 / 4) and m["map_cap"] == pytest.approx(1 / 2)
    rng = np.random.default_rng(1)
    scores, relevant = rng.standard_normal((30, 50)), rng.random((30, 50)) < 0.2  # (n_q, n_c)
    for k in (3, 10, 60):
        want = []
        for q in range(30):
            r = int(relevant[q].sum())
            if r == 0:
                continue
            top = np.argsort(-scores[q], kind="stable")[:k]
            hits = relevant[q, top]
            want.append(sum(hits[: i + 1].mean() for i in range(len(top)) if hits[i]) / min(k, r))
        got = retrieval_metrics(scores, relevant, k=k)
        assert got["map_cap"] == pytest.approx(np.mean(want)) and got["map_cap"] >= got["map"]


def test_suite_round_trip_and_errors(tmp_path):
    rows = [
        {"id": "q1", "query": "violin", "kind": "attribute-tag", "relevant": {"attributes": ["instrument:violin"]}},
        {"id": "q2", "query": "like x", "kind": "entity", "relevant": ["t1", "t2"], "grades": {"t1": 2}},
    ]
    path = write_suite(tmp_path / "s.jsonl", rows)
    back = load_suite(path)
    assert [r.id for r in back] == ["q1", "q2"]
    assert back[0].relevant.attributes == ["instrument:violin"]
    assert back[1].relevant == ["t1", "t2"] and back[1].grades == {"t1": 2}
    assert back[1].source == "s.jsonl:2"

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps({**rows[1], "kind": "vibes"}) + "\n")
    with pytest.raises(SuiteError, match=r"bad.jsonl:3: bad row: kind"):
        load_suite(bad)
    bad.write_text("{not json\n")
    with pytest.raises(SuiteError, match=r"bad.jsonl:1: not valid JSON"):
        load_suite(bad)
    bad.write_text(json.dumps({**rows[0], "relevant": {"not_attributes": ["tempo:slow"]}}) + "\n")
    with pytest.raises(SuiteError, match="positive constraint"):
        load_suite(bad)
    with pytest.raises(SuiteError, match="already used"):
        load_suites([path, path])
    with pytest.raises(SuiteError, match="no such suite"):
        load_suite(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("name", ["handwritten.jsonl", "demo-generated.jsonl"])
def test_committed_suites_parse(name):
    from pathlib import Path

    from kgjemb.eval.suite import KINDS

    rows = load_suite(Path(__file__).resolve().parents[1] / "queries" / name)
    assert len(rows) >= (40 if name.startswith("hand") else 300)
    assert {r.kind for r in rows} == set(KINDS)
