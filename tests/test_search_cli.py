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
    assert res.exit_code == 2 and "'xml' is not one of" in res.output
    res = runner.invoke(app, ["search", "--threads", "0", "--bundle", str(bundle_dir)])
    assert res.exit_code == 2 and "give one QUERY or --queries" in res.output


def test_search_many_queries_one_start(bundle_dir, tmp_path):
    """--queries: text lines and suite-style JSON lines answered in order as JSON lines; an
    unreadable line is named on stderr (exit 1) and the others are still answered."""
    lines = ["slow and sad", "", '{"id": "q-2", "query": "fast dance, not slow"}', '{"id": "q-3"}', "{broken", "bright solo"]
    file = tmp_path / "queries.txt"
    file.write_text("\n".join(lines) + "\n")
    res = runner.invoke(app, ["search", "--threads", "0", "--queries", str(file), "-k", "2", "--bundle", str(bundle_dir),
                              "--format", "json"])
    assert res.exit_code == 1
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert [o["query"] for o in out] == ["slow and sad", "fast dance, not slow", "bright solo"]
    assert out[1]["id"] == "q-2" and "id" not in out[0] and all(len(o["hits"]) == 2 for o in out)
    assert f"{file}:4: field \"query\"" in res.stderr and f"{file}:5: not valid JSON" in res.stderr
    # the same query alone gives the same hits; standard input works too
    one = runner.invoke(app, ["search", "--threads", "0", "slow and sad", "-k", "2", "--bundle", str(bundle_dir), "--format", "json"])
    assert [h["track_id"] for h in json.loads(one.stdout)["hits"]] == [h["track_id"] for h in out[0]["hits"]]
    res = runner.invoke(app, ["search", "--threads", "0", "--queries", "-", "-k", "1", "--bundle", str(bundle_dir)],
                        input="slow and sad\nbright solo\n")
    assert res.exit_code == 0 and "slow and sad" in res.stdout and "bright solo" in res.stdout
    res = runner.invoke(app, ["search", "--queries", str(tmp_path / "nope.txt"), "--bundle", str(bundle_dir)])
    assert res.exit_code == 2 and "no such file" in res.output


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


def test_index_build_honours_home(ci_graph_home, trained_model_dir, tmp_path, monkeypatch):
    """`index build --home X` keeps every cache under X (audio features, node-name vectors,
    the exported text path), writes nothing into the working directory, and a second build
    reuses X's caches: no cache file is written again."""
    import os
    import shutil

    home = tmp_path / "home"
    shutil.copytree(ci_graph_home, home)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("KGJEMB_HOME", raising=False)
    args = ["index", "build", "--home", str(home), "--model", str(trained_model_dir), "--no-progress", "--format", "json",
            "--device", "cpu"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["bundle"] == str(home / "bundle")
    assert os.listdir(cwd) == []
    caches = {p: p.stat().st_mtime_ns for p in (home / "cache").rglob("*") if p.is_file()}
    assert {p.relative_to(home / "cache").parts[0] for p in caches} >= {"audio", "text", "text-onnx"}
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert os.listdir(cwd) == []
    assert {p: p.stat().st_mtime_ns for p in (home / "cache").rglob("*") if p.is_file()} == caches
    # and a search from elsewhere finds the exported text path under that home
    res = runner.invoke(app, ["search", "--threads", "0", "slow and sad", "--home", str(home), "--format", "json"])
    assert res.exit_code == 0, res.output
    # ... and adds only the parser's name table there (the index build does not parse)
    added = {p.relative_to(home / "cache").parts[0] for p in (home / "cache").rglob("*") if p.is_file()} - {
        p.relative_to(home / "cache").parts[0] for p in caches}
    assert os.listdir(cwd) == [] and set(caches) <= set((home / "cache").rglob("*")) and added == {"parser"}


def test_console_search_skips_teardown_but_writes_everything(bundle_dir, engine, tmp_path):
    """Through the console entry point (``main``), a search ends the process without the
    interpreter's teardown: every JSON line still arrives, through a pipe too, and the exit
    codes are the command's (1 for an unreadable line, 2 for an empty query). The home is
    the session engine's, whose cache already holds the exported text path (exporting it
    again is the one-shot test's job)."""
    import subprocess
    import sys

    lines = [f"{w} music" for w in ("slow", "sad", "bright", "fast", "calm", "dark")] * 20 + ["{broken"]
    file = tmp_path / "q.txt"
    file.write_text("\n".join(lines) + "\n")
    home = engine.bundle.cache_dir.parent
    assert list((home / "cache" / "text-onnx").glob("*.onnx"))
    entry = [sys.executable, "-c", "from kgjemb.cli import main; main()", "search", "--bundle", str(bundle_dir),
             "--home", str(home)]
    res = subprocess.run(entry + ["--queries", str(file), "-k", "3", "--format", "json"], capture_output=True,
                         text=True, timeout=600, cwd=tmp_path)
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert res.returncode == 1 and f"{file}:121: not valid JSON" in res.stderr
    assert [o["query"] for o in out] == lines[:-1] and all(len(o["hits"]) == 3 for o in out)
    assert all(h["explanation"] for o in out for h in o["hits"])  # JSON keeps the explanations
    empty = subprocess.run(entry + ["  "], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert empty.returncode == 2 and "query is empty" in empty.stderr


def test_one_shot_search_loads_only_the_query_path(bundle_dir, tmp_path):
    """A `kgjemb search` process imports neither torch (spaCy's thinc would), spaCy's CLI, torch-geometric,
    transformers, the trainer nor the full model (audio CNN, graph network, PyTorch text
    tower, audio features): the text path runs on ONNX Runtime. The first process exports
    the text path and the parser's name table into the home's cache; the second, which
    loads both, is checked."""
    import subprocess
    import sys

    code = """
import json, sys
from typer.testing import CliRunner
from kgjemb.cli import app
res = CliRunner().invoke(app, ["search", "slow and sad", "--bundle", sys.argv[1], "--home", sys.argv[2], "--format", "json"])
assert res.exit_code == 0, res.output
heavy = ("torch", "torch_geometric", "transformers", "sentence_transformers", "kgjemb.train", "kgjemb.model.joint",
         "kgjemb.model.entity_tower", "kgjemb.model.audio_tower", "kgjemb.model.text_tower", "kgjemb.audio.features",
         "spacy.cli")
print(json.dumps({"hits": len(json.loads(res.stdout)["hits"]),
                  "heavy": sorted(m for m in sys.modules if m in heavy or m.startswith(tuple(h + "." for h in heavy)))}))
"""
    home = tmp_path / "home"
    for attempt in range(2):
        res = subprocess.run([sys.executable, "-c", code, str(bundle_dir), str(home)], capture_output=True, text=True,
                             timeout=600, cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["hits"] == 10 and out["heavy"] == []
    assert len(list((home / "cache" / "text-onnx").glob("*.onnx"))) == 1
    assert len(list((home / "cache" / "parser").glob("phrases-*.json"))) == 1


def test_search_artists_like_an_artist(bundle_dir, tmp_path):
    """--artists: artists ranked by graph proximity + entity vectors (ci graph: Mozart and
    Chopin INFLUENCED_BY Bach), by name or by id, as JSON or a table."""
    res = runner.invoke(app, ["search", "--threads", "0", "--artists", "Bach", "-k", "3", "--bundle", str(bundle_dir), "--format", "json",
                              "--home", str(tmp_path)])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    ids = [h["artist_id"] for h in body["hits"]]
    assert "bach" not in ids and set(ids[:2]) == {"mozart", "chopin"}
    res = runner.invoke(app, ["search", "--threads", "0", "--artists", "Artist:bach", "-k", "2", "--bundle", str(bundle_dir), "--explain",
                              "--home", str(tmp_path)])
    assert res.exit_code == 0 and "INFLUENCED_BY" in res.output, res.output
    res = runner.invoke(app, ["search", "--threads", "0", "--artists", "Artist:nobody-at-all", "--bundle", str(bundle_dir),
                              "--home", str(tmp_path)])
    assert res.exit_code == 1 and "Error" in res.output
