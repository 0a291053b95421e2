"""End-to-end: a small generated suite through ``run_eval`` / ``kgjemb eval`` on the
session bundle (real engine, FAISS, text model, audio features for the linear baseline),
at two mask rates with every system and the engine's paired tests."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgjemb.eval.rules import Rule
from kgjemb.eval.suite import KINDS, SuiteRow

METRICS = ("R@1", "R@5", "R@10", "P@10", "mAP@10", "nDCG@10", "MRR")
SYSTEMS = ["engine", "no-graph", "graph-train-only", "graph-query-only", "entity-only", "linear-metric", "random"]


@pytest.fixture(scope="module")
def tiny_suite(ci_export, bundle_dir, tmp_path_factory) -> Path:
    from kgjemb.eval.generate import GenerateConfig, generate_suite
    from kgjemb.eval.runner import held_out_ids
    from kgjemb.eval.suite import write_suite

    held = held_out_ids(Path(bundle_dir) / "model")
    assert held, "the trained model records a held-out split"
    rows = generate_suite(ci_export, held, GenerateConfig(n_queries=21, seed=3))
    # a row written for another catalog: left out and reported, not fatal
    rows.append(SuiteRow(id="foreign", query="songs like nothing here", kind="entity",
                         relevant=Rule(same_work_as="no-such-track")))
    return write_suite(tmp_path_factory.mktemp("suite") / "tiny.jsonl", rows)


@pytest.fixture(scope="module")
def result(tiny_suite, bundle_dir, tmp_path_factory):
    from kgjemb.eval.linear import LinearConfig
    from kgjemb.eval.runner import RunConfig, run_eval

    out = tmp_path_factory.mktemp("eval")
    quick = LinearConfig(steps=100, max_seconds=4.0)
    # the session bundle stands in for the text-only bundle: it exercises the mechanism,
    # and makes graph-query-only identical to engine (a check of the paired test's wiring)
    res = run_eval([tiny_suite], bundle_dir, out=out, baselines=True, text_only_bundle=bundle_dir, seed=0,
                   linear_config=quick, config=RunConfig(masks=(1.0, 0.0), n_permutations=500))
    return res, out


def test_metrics_in_range_and_schema(result):
    res, out = result
    assert res["masks"] == ["0", "1"] and set(res["by_mask"]) == {"0", "1"}
    assert len(res["unresolved"]) == 1 and "no-such-track" in res["unresolved"][0]
    assert "rows left out" in " ".join(res["meta"]) and "baselines skipped" not in res["meta"]
    for mask, level in res["by_mask"].items():
        assert list(level["systems"]) == SYSTEMS
        for name, s in level["systems"].items():
            assert s["overall"]["n"] == res["n"] > 0
            for m in METRICS:
                assert 0.0 <= s["overall"][m] <= 1.0, (mask, name, m)
            for kind, km in s["by_kind"].items():
                assert kind in KINDS and all(0.0 <= km[m] <= 1.0 for m in METRICS)
            assert sum(km["n"] + km["n_empty"] for km in s["by_kind"].values()) == res["n_queries"]
            assert all(0.0 <= v <= 1.0 for v in s["curve"].values())
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"overall", "by_kind", "n", "systems", "significance", "by_mask"}
    assert summary["overall"] == res["by_mask"]["0"]["systems"]["engine"]["overall"]
    for png in ("by_kind_ndcg.png", "by_kind_recall.png", "recall_at_k.png", "ndcg_vs_mask.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    report = (out / "report.md").read_text()
    assert "| 0 | engine | overall |" in report and "| 1 | no-graph | overall |" in report
    assert "ndcg_vs_mask.png" in report and "Hidden edges" in report


def test_mask_hides_edges_but_not_relevance(result):
    res, _ = result
    zero, one = res["by_mask"]["0"], res["by_mask"]["1"]
    assert set(zero["hidden"].values()) == {0} and one["hidden"]["Track-HAS-Attribute"] > 0
    for name in SYSTEMS:
        rel0 = [(q["id"], q["n_relevant"]) for q in zero["systems"][name]["per_query"]]
        rel1 = [(q["id"], q["n_relevant"]) for q in one["systems"][name]["per_query"]]
        assert rel0 == rel1, name  # judged on the full graph at every rate


def test_paired_tests_against_every_baseline(result):
    res, _ = result
    for level in res["by_mask"].values():
        sig = level["significance"]
        assert set(sig) == set(SYSTEMS) - {"engine"}
        for name, t in sig.items():
            assert 0.0 < t["overall"]["p_value"] <= 1.0 and t["overall"]["n"] == res["n"]
            e, s = level["systems"]["engine"]["overall"]["nDCG@10"], level["systems"][name]["overall"]["nDCG@10"]
            assert t["overall"]["diff"] == pytest.approx(e - s)
        # the same bundle with the same weights ranks identically: no difference, p = 1
        assert sig["graph-query-only"]["overall"]["diff"] == 0.0 and sig["graph-query-only"]["overall"]["p_value"] == 1.0


def test_engine_metrics_match_a_direct_recomputation(result, tiny_suite, bundle_dir, engine):
    from kgjemb.eval.rules import GraphFacts
    from kgjemb.eval.runner import held_out_ids, relevance
    from kgjemb.eval.suite import load_suite
    from kgjemb.metrics import query_metrics

    res, _ = result
    rows = load_suite(tiny_suite)
    pool = set(held_out_ids(Path(bundle_dir) / "model"))
    facts = GraphFacts.from_export(engine.bundle.export)
    per = {q["id"]: q for q in res["by_mask"]["0"]["systems"]["engine"]["per_query"]}
    for row in rows[::4]:
        hits = engine.search(row.query, k=len(engine.track_ids)).hits
        ranked = [h.track_id for h in hits if h.track_id in pool]
        want = query_metrics(ranked, relevance(row, facts, pool), k=10)
        got = per[row.id]
        if want is None:
            assert got.get("MRR") is None
        else:
            assert all(got[m] == pytest.approx(want[m]) for m in METRICS)


def test_cli_json(tiny_suite, bundle_dir):
    from typer.testing import CliRunner

    from kgjemb.cli import app

    r = CliRunner().invoke(app, ["eval", str(tiny_suite), "--bundle", str(bundle_dir), "--format", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output[r.output.index("{"):])
    assert data["n"] > 0 and 0.0 <= data["overall"]["nDCG@10"] <= 1.0 and "systems" not in data
    for bad in (["--format", "xml"], ["--mask", "1.5"], ["--pool", "some"]):
        out = CliRunner().invoke(app, ["eval", str(tiny_suite), "--bundle", str(bundle_dir), *bad])
        assert out.exit_code == 2, (bad, out.output)
    missing = CliRunner().invoke(app, ["eval", str(tiny_suite), "--bundle", str(bundle_dir.parent / "no-bundle")])
    assert missing.exit_code == 1 and "Error" in missing.output


def test_cli_text_without_a_text_only_bundle_reports_the_skipped_systems(tiny_suite, bundle_dir):
    from typer.testing import CliRunner

    from kgjemb.cli import app

    r = CliRunner().invoke(app, ["eval", str(tiny_suite), "--bundle", str(bundle_dir), "--baselines", "--no-linear",
                                 "--mask", "0.5"])
    assert r.exit_code == 0, r.output
    assert "no-graph (no --text-only-bundle given)" in r.output and "graph-query-only (no --text-only-bundle" in r.output
    table = [line.split() for line in r.output.splitlines() if line.startswith("0.5 ")]
    assert {row[1] for row in table} == {"engine", "graph-train-only", "entity-only", "random"}
    assert {len(row) for row in table if row[1] != "engine"} == {13} and {len(row) for row in table if row[1] == "engine"} == {11}


def test_cli_engine_config_scores_the_engine_with_those_settings(result, tiny_suite, bundle_dir, tmp_path):
    """--engine-config: with the graph and fact weights at 0 the engine ranks exactly as
    the default run's graph-train-only ablation (the same weights), and the report names
    what was changed."""
    from typer.testing import CliRunner

    from kgjemb.cli import app

    default, _ = result
    r = CliRunner().invoke(app, ["eval", str(tiny_suite), "--bundle", str(bundle_dir), "--out", str(tmp_path),
                                 "--engine-config", '{"weights": {"graph": 0, "fact": 0}}'])
    assert r.exit_code == 0, r.output
    assert "engine settings: weights.graph=0.0, weights.fact=0.0" in r.output
    assert "weights.graph=0.0" in (tmp_path / "report.md").read_text()
    tuned = json.loads((tmp_path / "result.json").read_text())

    def ndcg(res, name):
        return [(q["id"], q.get("nDCG@10")) for q in res["systems"][name]["per_query"]]

    assert ndcg(tuned, "engine") == ndcg(default["by_mask"]["0"], "graph-train-only")
    assert ndcg(tuned, "engine") != ndcg(default["by_mask"]["0"], "engine")
    assert default["meta"]["engine settings"] == "defaults"
    bad = CliRunner().invoke(app, ["eval", str(tiny_suite), "--bundle", str(bundle_dir),
                                   "--engine-config", '{"walk": 1}'])
    assert bad.exit_code == 2 and "walk: must be an object of settings" in bad.output


def _fake_result(values: dict[str, list[float]], mask: str = "0") -> dict:
    """A run_eval-shaped result: per system a list of per-query nDCG@10 values."""
    systems = {}
    for name, vals in values.items():
        per = [{"id": f"q{i}", "kind": "entity", "nDCG@10": v} for i, v in enumerate(vals)]
        mean = {"nDCG@10": float(sum(vals) / len(vals)), "n": len(vals), "n_empty": 0}
        systems[name] = {"overall": mean, "by_kind": {"entity": dict(mean)}, "per_query": per, "curve": {}}
    level = {"systems": systems, "k": 10}
    return {"k": 10, "by_mask": {mask: level}, **level}


def test_combine_seeds_mean_sd_and_pooled_test():
    from kgjemb.eval.seeds import combine_seeds, seeds_table

    a = _fake_result({"engine": [1.0, 0.5, 0.9], "random": [0.0, 0.5, 0.1]})
    b = _fake_result({"engine": [0.8, 0.6], "random": [0.2, 0.6]})
    c = combine_seeds([a, b], n_permutations=200)
    assert c["n_seeds"] == 2 and c["masks"] == ["0"]
    eng = c["by_mask"]["0"]["systems"]["engine"]["overall"]
    assert eng["nDCG@10"]["seeds"] == pytest.approx([0.8, 0.7])
    assert eng["nDCG@10"]["mean"] == pytest.approx(0.75) and eng["nDCG@10"]["sd"] == pytest.approx(0.0707107, rel=1e-5)
    assert eng["n"] == 5
    test = c["by_mask"]["0"]["significance"]["random"]
    assert test["n"] == 5  # every (seed, query) pair, not one per seed
    assert test["diff"] == pytest.approx((1.0 + 0.0 + 0.8 + 0.6 + 0.0) / 5)
    assert "engine" not in c["by_mask"]["0"]["significance"]
    table = seeds_table(c)
    assert "0.750 ± 0.071" in table and "random" in table


def test_cli_several_bundles_give_mean_and_sd(tiny_suite, bundle_dir, tmp_path):
    """The same bundle given twice stands for two seeds: identical per-seed figures, sd 0,
    each seed's own report plus the combined one."""
    from typer.testing import CliRunner

    from kgjemb.cli import app

    out = tmp_path / "seeds"
    args = ["eval", str(tiny_suite), "--bundle", str(bundle_dir), "--bundle", str(bundle_dir),
            "--mask", "0", "--mask", "1", "--out", str(out), "--format", "json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    data = json.loads(r.output[r.output.index("{"):])
    assert data["n_seeds"] == 2 and data["masks"] == ["0", "1"]
    for mask in ("0", "1"):
        cell = data["by_mask"][mask]["systems"]["engine"]["overall"]["nDCG@10"]
        assert len(cell["seeds"]) == 2 and 0.0 <= cell["mean"] <= 1.0
        if mask == "0":  # nothing hidden: both seeds see the same snapshot
            assert cell["sd"] == pytest.approx(0.0)
    for f in ("seeds.json", "seeds.txt", "report.md", "ndcg_vs_mask.png", "seed-0/report.md", "seed-1/report.md"):
        assert (out / f).is_file(), f
    mismatch = CliRunner().invoke(app, ["eval", str(tiny_suite), "--bundle", str(bundle_dir), "--bundle", str(bundle_dir),
                                        "--text-only-bundle", str(bundle_dir)])
    assert mismatch.exit_code == 2 and "one per --bundle" in mismatch.output
