"""``kgjemb index build --backend milvus``, then search, ``index add`` and ``index remove``
through the real CLI against the session's real Milvus server."""
from __future__ import annotations

import json
import shutil
import uuid

import pytest
from typer.testing import CliRunner

from kgjemb.cli import app

runner = CliRunner()


def test_index_build_milvus_then_search_add_remove(ci_graph_home, trained_model_dir, ci_catalog, milvus_uri,
                                                   engine, tmp_path):
    from kgjemb.index.bundle import Bundle
    from kgjemb.index.milvus_index import MilvusIndex

    home, bundle = tmp_path / "home", tmp_path / "bundle"
    shutil.copytree(ci_graph_home, home)
    name = f"kgjemb_test_cli_{uuid.uuid4().hex[:8]}"
    res = runner.invoke(app, ["index", "build", "--home", str(home), "--model", str(trained_model_dir), "--out", str(bundle),
                              "--backend", "milvus", "--index-uri", milvus_uri, "--collection", name,
                              "--no-progress", "--format", "json"])
    assert res.exit_code == 0, res.output
    built = json.loads(res.stdout)
    opened = Bundle.open(bundle)
    try:
        assert built["factory"] == "FLAT" and built["tracks_indexed"] == len(opened.track_ids) > 0
        assert opened.manifest["index"] == {"backend": "milvus", "uri": milvus_uri, "collection": name, "factory": "FLAT"}
        assert isinstance(opened.index, MilvusIndex) and len(opened.index) == len(opened.track_ids)
        assert not (bundle / "index" / "index.faiss").exists()

        # search reconnects from the manifest and answers like the FAISS bundle
        for query in ["slow and sad", f"pieces like {engine.bundle.export.nodes['Track']['title'].iloc[0]}"]:
            res = runner.invoke(app, ["search", "--threads", "0", query, "-k", "5", "--bundle", str(bundle), "--format", "json"])
            assert res.exit_code == 0, res.output
            assert [h["track_id"] for h in json.loads(res.stdout)["hits"]] == [h.track_id for h in engine.search(query, k=5).hits]

        # index add: new tracks (and their filter fields) are upserted into the collection
        new = tmp_path / "new-catalog"
        (new / "audio").mkdir(parents=True)
        sources = sorted((ci_catalog / "audio").glob("*.flac"))[:2]
        for i, src in enumerate(sources):
            shutil.copy(src, new / "audio" / f"n{i}.flac")
        (new / "artists.csv").write_text("id,name\nzz-new,Quentin Newartist\n")
        (new / "tracks.csv").write_text("id,title,artist_id,year,audio_path\n" + "".join(
            f"zz-t{i},Newartist Study {i},zz-new,1901,audio/n{i}.flac\n" for i in range(len(sources))))
        res = runner.invoke(app, ["index", "add", str(new), "--home", str(home), "--bundle", str(bundle), "--no-progress", "--format", "json"])
        assert res.exit_code == 0, res.output
        assert sorted(json.loads(res.stdout)["added_ids"]) == ["zz-t0", "zz-t1"]
        after = Bundle.open(bundle)
        assert after.index.fields("zz-t0").artists == ("zz-new",) and after.index.fields("zz-t0").year == 1901.0
        assert len(after.index) == len(opened.track_ids) + 2

        # index remove: gone from the collection
        victim = opened.track_ids[0]
        res = runner.invoke(app, ["index", "remove", victim, "zz-t1", "--home", str(home), "--bundle", str(bundle), "--format", "json"])
        assert res.exit_code == 0, res.output
        final = Bundle.open(bundle)
        assert len(final.index) == len(opened.track_ids)
        with pytest.raises(KeyError, match=victim):
            final.index.fetch([victim])
    finally:
        opened.index.pm.utility.drop_collection(name, using=opened.index._alias)


def test_index_build_milvus_usage_errors(tmp_path):
    res = runner.invoke(app, ["index", "build", "--home", str(tmp_path), "--backend", "nope"])
    assert res.exit_code == 2 and "choose from" in res.output
    res = runner.invoke(app, ["index", "build", "--home", str(tmp_path), "--backend", "milvus", "--collection", "bad-name"])
    assert res.exit_code == 2 and "collection" in res.output
