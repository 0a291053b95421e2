"""A bundle follows its graph: `kgjemb index sync` after curator edits (a track deleted, a
track added with audio, an artist renamed, an attribute dropped) — without retraining —
and a served bundle synced and reloaded under traffic loses no request."""
from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from kgjemb.cli import app
from kgjemb.graph.base import GraphRows, Prune
from kgjemb.graph.embedded import EmbeddedGraphStore
from kgjemb.index.builder import BuildConfig, bundle_staleness, graph_digest, update_bundle
from kgjemb.index.bundle import Bundle
from kgjemb.paths import graph_dir

runner = CliRunner()
NEW_NAME = "Renamed By The Curator"


@pytest.fixture
def home(ci_graph_home, tmp_path) -> Path:
    """A private copy of the ci catalog's store (the one the session bundle follows)."""
    dst = tmp_path / "home"
    shutil.copytree(ci_graph_home, dst)
    return dst


def _edit(store: EmbeddedGraphStore, bundle: Bundle) -> dict:
    """Curator edits straight in the store; returns what changed."""
    export = store.export()
    by = export.edges[("Track", "BY", "Artist")]
    primary = by[by["role"] == "primary"]
    artist = primary["dst"].value_counts().index[0]
    gone = bundle.track_ids[0]
    template = store.get_node("Track", bundle.track_ids[1])
    renamed = dict(store.get_node("Artist", artist), name=NEW_NAME)
    store.upsert(GraphRows(
        nodes={"Artist": [renamed], "Track": [dict(template, id="zz-new", title="Brand New Study")]},
        edges={("Track", "BY", "Artist"): [{"src": "zz-new", "dst": artist, "weight": 1.0, "source": "catalog",
                                             "role": "primary"}]}), progress=False)
    store.delete({"Track": [gone]}, progress=False)
    # dropping an attribute: a pruning load of the whole graph minus one HAS edge
    rows = store.export()
    keep = rows.edges[("Track", "HAS", "Attribute")]
    has = keep.iloc[0]
    keep = keep[~((keep["src"] == has["src"]) & (keep["dst"] == has["dst"]))]
    full = GraphRows(nodes={lb: f.to_dict("records") for lb, f in rows.nodes.items()},
                     edges={k: (keep if k == ("Track", "HAS", "Attribute") else f).to_dict("records")
                            for k, f in rows.edges.items()})
    assert store.upsert(full, prune=Prune(), progress=False).rels_deleted["HAS"] == 1
    return {"artist": artist, "gone": gone, "new": "zz-new", "has": (has["src"], has["dst"])}


def test_index_sync_brings_the_bundle_up_to_the_graph(home, bundle_copy):
    before = Bundle.open(bundle_copy)
    store = EmbeddedGraphStore(graph_dir(home))
    assert bundle_staleness(before, store) is None  # built from this very graph
    change = _edit(store, before)
    warning = bundle_staleness(before, store)
    assert warning and "index sync" in warning and "Track: 1 created, 1 deleted" in warning, warning
    assert "Artist: 1 changed" in warning and "HAS: " in warning and "BY: 1 created" in warning

    res = runner.invoke(app, ["index", "sync", "--home", str(home), "--bundle", str(bundle_copy), "--no-progress",
                              "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["added"] == [change["new"]] and out["removed"] == [change["gone"]] and out["up_to_date"] is False
    assert out["graph"]["nodes"]["Artist"]["changed"] == 1
    after = Bundle.open(bundle_copy)
    assert after.manifest["graph_digest"] == graph_digest(store.export())
    assert graph_digest(after.export) == after.manifest["graph_digest"]  # the snapshot round-trips exactly
    assert bundle_staleness(after, store) is None
    assert change["gone"] not in after.track_ids and change["new"] in after.track_ids
    assert len(after.index) == len(before.index)  # one out, one in
    assert change["gone"] not in set(after.export.nodes["Track"]["id"])
    artists = after.export.nodes["Artist"].set_index("id")
    assert artists.loc[change["artist"], "name"] == NEW_NAME
    has = after.export.edges[("Track", "HAS", "Attribute")]
    assert change["has"] not in set(zip(has["src"], has["dst"]))
    # kept tracks keep their vectors (no re-embedding), entity vectors follow the new snapshot
    row = {t: i for i, t in enumerate(after.track_ids)}
    for i, t in enumerate(before.track_ids[1:6], start=1):
        np.testing.assert_array_equal(after.track_vectors[row[t]], before.track_vectors[i])
    assert after.entities["Track"].shape[0] == len(after.export.nodes["Track"])
    assert after.manifest["model_checksum"] == before.manifest["model_checksum"]  # same model: no retraining

    from kgjemb.query.engine import Engine

    engine = Engine.open(bundle_copy)
    result = engine.search(f"songs like {NEW_NAME}", k=5)
    assert any(h.matched_entity == f"Artist:{change['artist']}" and NEW_NAME in h.artists for h in result.hits)
    assert change["gone"] not in {h.track_id for h in engine.search("calm slow music", k=len(after.track_ids)).hits}

    # a second sync finds nothing to do and does not rewrite the bundle
    stamp = (bundle_copy / "manifest.json").stat().st_mtime_ns
    again = json.loads(runner.invoke(app, ["index", "sync", "--home", str(home), "--bundle", str(bundle_copy),
                                           "--no-progress", "--format", "json"]).stdout)
    assert again["up_to_date"] is True and (bundle_copy / "manifest.json").stat().st_mtime_ns == stamp


def test_index_remove_takes_the_track_out_of_the_graph_too(home, bundle_copy):
    bundle = Bundle.open(bundle_copy)
    victim, spared = bundle.track_ids[2], bundle.track_ids[3]
    res = runner.invoke(app, ["index", "remove", victim, "nope", "--home", str(home), "--bundle", str(bundle_copy),
                              "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["removed"] == [victim] and out["removed_from_graph"] == [victim] and out["unknown"] == ["nope"]
    store = EmbeddedGraphStore(graph_dir(home))
    assert store.get_node("Track", victim) is None
    assert bundle_staleness(bundle_copy, store) is None  # graph and bundle lost the same track
    # --bundle-only leaves the graph alone, so the bundle is behind until the next sync
    res = runner.invoke(app, ["index", "remove", spared, "--bundle-only", "--home", str(home), "--bundle",
                              str(bundle_copy), "--format", "json"])
    assert json.loads(res.stdout)["removed_from_graph"] is None
    assert store.get_node("Track", spared) is not None and bundle_staleness(bundle_copy, store)
    _, change = update_bundle(bundle_copy, store.export(), config=BuildConfig(progress=False))
    assert change["added"] == [spared] and bundle_staleness(bundle_copy, store) is None


API, ADMIN = "api-token-123456", "admin-token-654321"


def test_served_bundle_synced_under_traffic_loses_no_request(home, bundle_copy):
    """8 threads query a real `kgjemb serve` while its bundle is synced in place and
    reloaded: every request answers 200, and the reloaded server shows the edits."""
    from kgjemb.serve.launch import ServerProcess

    store = EmbeddedGraphStore(graph_dir(home))
    change = _edit(store, Bundle.open(bundle_copy))
    server = ServerProcess(bundle_copy, env={"KGJEMB_API_TOKEN": API, "KGJEMB_ADMIN_TOKEN": ADMIN},
                           args=["--log-level", "warning"])
    server.launch()
    try:
        server.wait_ready()
        auth = {"Authorization": f"Bearer {API}"}
        before = httpx.get(server.url + "/readyz").json()["bundle"]["generation"]
        assert httpx.get(f"{server.url}/v1/similar/track/{change['gone']}", headers=auth, timeout=60).status_code == 200
        requests = [
            ("post", "/v1/search", {"json": {"query": "slow sad strings", "k": 5}}),
            ("post", "/v1/search", {"json": {"query": f"songs like {NEW_NAME}", "k": 5}}),
            ("get", f"/v1/similar/track/{change['gone']}", {"params": {"k": 3}}),
            ("post", "/v1/search/batch", {"json": {"queries": [{"query": "lively dance"}, {"query": "calm piano"}]}}),
        ]
        done, failures, counts = threading.Event(), [], [0] * 8

        def worker(n: int) -> None:
            with httpx.Client(base_url=server.url, headers=auth, timeout=60.0) as c:
                for i in range(2000):  # bounded
                    method, url, kw = requests[(n + i) % len(requests)]
                    if done.is_set():
                        break
                    try:
                        r = getattr(c, method)(url, **kw)
                        # the deleted track is 404 only once the synced bundle is served
                        ok = r.status_code == 200 or (r.status_code == 404 and change["gone"] in url and swapped.is_set())
                        if not ok:
                            failures.append(f"{url}: {r.status_code} {r.text[:200]}")
                    except httpx.HTTPError as err:
                        failures.append(f"{url}: {err!r}")
                    counts[n] += 1

        swapped = threading.Event()
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for _ in range(600):
            if min(counts) >= 2:
                break
            time.sleep(0.05)
        update_bundle(bundle_copy, store.export(), config=BuildConfig(progress=False))  # sync in place, under traffic
        swapped.set()
        r = httpx.post(server.url + "/v1/admin/reload", json={}, headers={"Authorization": f"Bearer {ADMIN}"},
                       timeout=300)
        mark = list(counts)
        for _ in range(600):  # let every worker run a few requests on the synced bundle
            if all(c >= m + 4 for c, m in zip(counts, mark)):
                break
            time.sleep(0.05)
        done.set()
        for t in threads:
            t.join(timeout=300)
        assert r.status_code == 200, r.text
        assert r.json()["bundle"]["generation"] == before + 1
        assert failures == [], failures[:5]
        assert sum(counts) >= 8 * 6
        assert httpx.get(f"{server.url}/v1/similar/track/{change['gone']}", headers=auth, timeout=60).status_code == 404
        hits = httpx.post(server.url + "/v1/search", json={"query": f"songs like {NEW_NAME}", "k": 5}, headers=auth,
                          timeout=60).json()["hits"]
        assert any(NEW_NAME in h["artists"] for h in hits), hits
    finally:
        server.stop()
