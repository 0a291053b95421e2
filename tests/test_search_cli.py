"""``kgjemb search`` and ``kgjemb index remove`` through the real CLI app."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from kgjemb.cli import app

runner = CliRunner()
# every search passes --threads 0: the CLI default (1) would set torch/FAISS threads for the
# whole pytest process, i.e. for the other areas' tests too


def test_search_json_schema(bundle_dir, engine):
    title = engine.bundle.export.nodes["Track"]["title"].iloc[0]
    res = runner.invoke(app, ["search", "--threads", "0", f"pieces like {title}, not fast", "-k", "3", "--bundle", str(bundle_dir), "--format", "json"])
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
    res = runner.invoke(app, ["search", "--threads", "0", "slow and sad", "-k", "2", "--bundle", str(bundle_dir), "--explain"])
    assert res.exit_code == 0, res.output
    assert "slow and sad" in res.stdout and "score" in res.stdout
    res = runner.invoke(app, ["search", "--threads", "0", "   ", "--bundle", str(bundle_dir)])
    assert res.exit_code == 2 and "empty" in res.output
    res = runner.invoke(app, ["search", "--threads", "0", "slow", "--bundle", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "missing" in res.output
    res = runner.invoke(app, ["search", "--threads", "0", "slow", "--bundle", str(bundle_dir), "--format", "xml"])
    assert res.exit_code == 2 and "choose from" in res.output


def test_index_remove_cli(bundle_copy, engine, tmp_path):
    victim = engine.track_ids[0]
    res = runner.invoke(app, ["index", "remove", victim, "--bundle", str(bundle_copy), "--home", str(tmp_path / "empty"),
                              "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["removed"] == [victim] and out["removed_from_graph"] == []  # this store never held it
    res = runner.invoke(app, ["search", "--threads", "0", "slow", "-k", "50", "--bundle", str(bundle_copy), "--format", "json"])
    assert victim not in {h["track_id"] for h in json.loads(res.stdout)["hits"]}


def test_index_build_then_add_catalog(ci_graph_home, trained_model_dir, ci_catalog, tmp_path):
    """`kgjemb index build` from the store, then `kgjemb index add NEW_CATALOG` loads the new
    artist's tracks into the store and the bundle; they become searchable by the artist."""
    import shutil

    from kgjemb.index.bundle import Bundle

    home = tmp_path / "home"
    shutil.copytree(ci_graph_home, home)
    bundle = tmp_path / "bundle"
    res = runner.invoke(app, ["index", "build", "--home", str(home), "--model", str(trained_model_dir),
                              "--out", str(bundle), "--no-progress", "--format", "json"])
    assert res.exit_code == 0, res.output
    built = json.loads(res.stdout)
    assert built["factory"] == "Flat" and built["tracks_indexed"] == len(Bundle.open(bundle).track_ids) > 0

    new = tmp_path / "new-catalog"
    (new / "audio").mkdir(parents=True)
    sources = sorted((ci_catalog / "audio").glob("*.flac"))[:2]
    for i, src in enumerate(sources):
        shutil.copy(src, new / "audio" / f"n{i}.flac")
    (new / "artists.csv").write_text("id,name\nzz-new,Quentin Newartist\n")
    (new / "tracks.csv").write_text("id,title,artist_id,audio_path\n" + "".join(
        f"zz-t{i},Newartist Study {i},zz-new,audio/n{i}.flac\n" for i in range(len(sources))))
    res = runner.invoke(app, ["index", "add", str(new), "--home", str(home), "--bundle", str(bundle), "--no-progress", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert sorted(json.loads(res.stdout)["added_ids"]) == ["zz-t0", "zz-t1"]
    # the store got them too
    from kgjemb.graph.open import open_store

    store = open_store(home=home)
    assert store.get_node("Track", "zz-t0")["title"] == "Newartist Study 0"
    store.close()
    # the new artist's inductive vector finds its tracks (each ties with the old track
    # whose audio it reuses), and the hit is explained by the BY edge to the artist
    res = runner.invoke(app, ["search", "--threads", "0", "songs like Quentin Newartist", "-k", "4", "--bundle", str(bundle), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    new_hits = [h for h in out["hits"] if h["track_id"] in {"zz-t0", "zz-t1"}]
    assert new_hits, out["hits"]
    assert all(h["artists"] == ["Quentin Newartist"] and h["path"][-1] == "Artist:zz-new" for h in new_hits)
    # an invalid catalog adds nothing (exit 2)
    (new / "tracks.csv").write_text("id,title,artist_id\nzz-t9,Broken,nobody\n")
    res = runner.invoke(app, ["index", "add", str(new), "--home", str(home), "--bundle", str(bundle)])
    assert res.exit_code == 2
    assert "zz-t9" not in Bundle.open(bundle).track_ids
