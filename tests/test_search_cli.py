"""``kgjemb search`` and ``kgjemb index remove`` through the real CLI app."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from kgjemb.cli import app

runner = CliRunner()


def test_search_json_schema(bundle_dir, engine):
    title = engine.bundle.export.nodes["Track"]["title"].iloc[0]
    res = runner.invoke(app, ["search", f"pieces like {title}, not fast", "-k", "3", "--bundle", str(bundle_dir), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"query", "parse", "hits", "warnings"}
    assert out["query"] == f"pieces like {title}, not fast"
    assert {"entities", "phrases", "negations", "filters"} <= set(out["parse"])
    assert len(out["hits"]) == 3
    for h in out["hits"]:
        assert {"track_id", "title", "artists", "score", "signals", "explanation"} <= set(h)
        assert isinstance(h["artists"], list) and isinstance(h["signals"], dict) and h["explanation"]
        assert abs(sum(h["signals"].values()) - h["score"]) < 1e-4
    scores = [h["score"] for h in out["hits"]]
    assert scores == sorted(scores, reverse=True)
    # the same answer as the Python API
    assert [h["track_id"] for h in out["hits"]] == [h.track_id for h in engine.search(out["query"], k=3).hits]


def test_search_table_and_errors(bundle_dir, tmp_path):
    res = runner.invoke(app, ["search", "slow and sad", "-k", "2", "--bundle", str(bundle_dir), "--explain"])
    assert res.exit_code == 0, res.output
    assert "slow and sad" in res.stdout and "score" in res.stdout
    res = runner.invoke(app, ["search", "   ", "--bundle", str(bundle_dir)])
    assert res.exit_code == 2 and "empty" in res.output
    res = runner.invoke(app, ["search", "slow", "--bundle", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "missing" in res.output
    res = runner.invoke(app, ["search", "slow", "--bundle", str(bundle_dir), "--format", "xml"])
    assert res.exit_code == 2 and "choose from" in res.output


def test_index_remove_cli(bundle_copy, engine):
    victim = engine.track_ids[0]
    res = runner.invoke(app, ["index", "remove", victim, "--bundle", str(bundle_copy), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["removed"] == [victim]
    res = runner.invoke(app, ["search", "slow", "-k", "50", "--bundle", str(bundle_copy), "--format", "json"])
    assert victim not in {h["track_id"] for h in json.loads(res.stdout)["hits"]}
