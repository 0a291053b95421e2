"""Ranking metrics against hand-computed values (ties, empty relevance, short rankings,
graded nDCG) and suite-file validation."""
from __future__ import annotations

import json
import math

import pytest

from kgjemb.eval.metrics import (
    average_precision_at_k, mean_metrics, ndcg_at_k, precision_at_k, query_metrics, rank_by_score,
    recall_at_k, reciprocal_rank,
)
from kgjemb.eval.suite import SuiteError, load_suite, load_suites, write_suite

RANKED = ["a", "b", "c", "d", "e"]


def test_binary_metrics_hand_computed():
    rel = {"b": 1, "d": 1, "z": 1}  # z never retrieved
    # hits at ranks 2 and 4
    assert recall_at_k(RANKED, rel, 1) == 0.0
    assert recall_at_k(RANKED, rel, 2) == pytest.approx(1 / 2)  # 1 hit / min(2, 3)
    assert recall_at_k(RANKED, rel, 5) == pytest.approx(2 / 3)
    assert precision_at_k(RANKED, rel, 5) == pytest.approx(2 / 5)
    # AP@5 = (1/2 + 2/4) / min(5, 3)
    assert average_precision_at_k(RANKED, rel, 5) == pytest.approx((0.5 + 0.5) / 3)
    assert reciprocal_rank(RANKED, rel) == pytest.approx(0.5)
    # nDCG@5, binary: (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3) + 1/log2(4))
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RANKED, rel, 5) == pytest.approx(dcg / idcg)


def test_perfect_ranking_scores_one_even_with_more_relevant_than_k():
    rel = {t: 1 for t in RANKED}
    m = query_metrics(RANKED, rel, ks=(1, 5), k=3)
    assert m["R@1"] == 1.0 and m["R@5"] == 1.0 and m["P@3"] == 1.0
    assert m["mAP@3"] == pytest.approx(1.0) and m["nDCG@3"] == pytest.approx(1.0) and m["MRR"] == 1.0


def test_k_larger_than_ranking():
    rel = {"b": 1}
    ranked = ["a", "b"]
    assert recall_at_k(ranked, rel, 10) == 1.0
    assert precision_at_k(ranked, rel, 10) == pytest.approx(0.1)  # padded with misses
    assert average_precision_at_k(ranked, rel, 10) == pytest.approx(0.5)
    assert ndcg_at_k(ranked, rel, 10) == pytest.approx(1 / math.log2(3))
    assert recall_at_k([], rel, 10) == 0.0 and average_precision_at_k([], rel, 10) == 0.0


def test_empty_relevance_is_left_out_of_the_mean():
    assert query_metrics(RANKED, {}) is None
    assert math.isnan(recall_at_k(RANKED, {"x": 0}, 5))
    assert math.isnan(ndcg_at_k(RANKED, {}, 5))
    means = mean_metrics([query_metrics(["a"], {"a": 1}, ks=(1,), k=1), None, query_metrics(["b"], {"a": 1}, ks=(1,), k=1)])
    assert means["n"] == 2 and means["n_empty"] == 1
    assert means["R@1"] == pytest.approx(0.5)


def test_graded_ndcg():
    grades = {"a": 1, "b": 3, "c": 2}
    ranked = ["a", "x", "b", "c"]
    dcg = (2**1 - 1) / math.log2(2) + (2**3 - 1) / math.log2(4) + (2**2 - 1) / math.log2(5)
    idcg = (2**3 - 1) / math.log2(2) + (2**2 - 1) / math.log2(3) + (2**1 - 1) / math.log2(4)
    assert ndcg_at_k(ranked, grades, 4) == pytest.approx(dcg / idcg)
    # the ideal order scores 1 and a worse order strictly less
    assert ndcg_at_k(["b", "c", "a"], grades, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "c", "b"], grades, 3) < 1.0


def test_ties_broken_by_id_deterministically():
    ids = ["d", "b", "a", "c"]
    scores = [0.5, 0.9, 0.5, 0.5]
    assert rank_by_score(ids, scores) == ["b", "a", "c", "d"]
    assert rank_by_score(list(reversed(ids)), list(reversed(scores))) == ["b", "a", "c", "d"]
    with pytest.raises(ValueError):
        rank_by_score(ids, [0.1, float("nan"), 0.2, 0.3])
    with pytest.raises(ValueError):
        recall_at_k(RANKED, {"a": 1}, 0)


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
