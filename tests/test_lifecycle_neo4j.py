"""The curator lifecycle on a real Neo4j 5 against the embedded store: identical diffs,
prune results, deletions and exports on the example catalog with one of each change; a
pruning load killed midway and run again equals the uninterrupted one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from kgjemb.catalog.synthetic import write_synthetic_catalog
from kgjemb.graph.base import Prune
from kgjemb.graph.diff import diff_to_dict
from kgjemb.graph.embedded import EmbeddedGraphStore
from kgjemb.graph.frames import export_diff
from tests.lifecycle_catalog import GONE_TRACKS, NEW_NAME, copy_example, edit_example, rows_of

pytestmark = pytest.mark.neo4j


@pytest.fixture
def pair(neo4j_store, tmp_path):
    """(embedded, neo4j, original rows, edited rows): both stores hold the original."""
    catalog = copy_example(tmp_path / "catalog")
    original = rows_of(catalog)
    edited = rows_of(edit_example(catalog))
    embedded = EmbeddedGraphStore(tmp_path / "graph")
    embedded.upsert(original, progress=False)
    neo4j_store.upsert(original, batch_size=7, progress=False)
    return embedded, neo4j_store, original, edited


def test_diffs_prunes_and_exports_are_identical(pair):
    embedded, neo, _, edited = pair
    for prune in (None, Prune(), Prune(all_sources=True)):
        a, b = embedded.diff(edited, prune=prune), neo.diff(edited, prune=prune)
        assert diff_to_dict(a) == diff_to_dict(b), prune
        assert a.counts() == b.counts()
    doc = diff_to_dict(neo.diff(edited, prune=Prune()))
    assert sorted(x["id"] for x in doc["nodes"]["Track"]["deleted"]) == GONE_TRACKS
    assert doc["nodes"]["Artist"]["changed"][0]["changes"]["name"]["new"] == NEW_NAME
    r_emb = embedded.upsert(edited, prune=Prune(), progress=False)
    r_neo = neo.upsert(edited, prune=Prune(), batch_size=3, progress=False)  # many small delete batches
    assert r_emb.to_dict()["nodes"] == r_neo.to_dict()["nodes"]
    assert r_emb.to_dict()["relationships"] == r_neo.to_dict()["relationships"]
    assert sum(r_neo.nodes_deleted.values()) >= 4 and r_neo.rels_deleted["INFLUENCED_BY"] == 2
    assert neo.stats() == embedded.stats()
    assert export_diff(embedded.export(), neo.export()) == []
    fresh = EmbeddedGraphStore(None)
    fresh.upsert(edited, progress=False)
    assert export_diff(fresh.export(), neo.export()) == []
    # the renamed artist is found under its new name only (cached names were dropped)
    assert [m.id for m in neo.lookup(NEW_NAME, labels=["Artist"], fuzzy=False)] == ["satie"]
    assert not neo.lookup("Erik Satie", labels=["Artist"], fuzzy=False)
    again = neo.upsert(edited, prune=Prune(), progress=False)
    assert not again.diff and sum(again.nodes_unchanged.values()) == sum(neo.stats().nodes.values())


def test_named_deletes_are_identical_and_idempotent(pair):
    embedded, neo, *_ = pair
    wanted = {"Track": ["t05", "nope"], "Artist": ["debussy"], "Attribute": ["instrument:organ"]}
    r_emb, r_neo = embedded.delete(wanted, progress=False), neo.delete(wanted, batch_size=2, progress=False)
    assert diff_to_dict(r_emb.diff) == diff_to_dict(r_neo.diff)
    assert r_neo.nodes_deleted == {"Artist": 1, "Album": 0, "Track": 1, "Attribute": 1}
    assert r_neo.rels_deleted["SIMILAR_TO"] == 2
    assert export_diff(embedded.export(), neo.export()) == []
    assert neo.get_node("Artist", "debussy") is None
    assert not neo.delete(wanted, progress=False).diff  # nothing left to delete


TRACKS = 1500
BATCH = 50


def _prune_cmd(catalog: Path, uri: str) -> list[str]:
    return [sys.executable, "-c", "from kgjemb.cli import main; main()", "graph", "load", str(catalog), "--prune",
            "--uri", uri, "--batch-size", str(BATCH), "--no-progress", "--format", "json"]


def _halve(src: Path, dst: Path) -> None:
    """``dst``: the synthetic catalog ``src`` without every other track (and what hangs on it)."""
    dst.mkdir()
    tracks = pd.read_csv(src / "tracks.csv", dtype=str, keep_default_na=False)
    gone = set(tracks["id"][::2])
    tracks[~tracks["id"].isin(gone)].to_csv(dst / "tracks.csv", index=False)
    for name in ("artists", "albums", "artist_attributes"):
        if (src / f"{name}.csv").exists():
            (dst / f"{name}.csv").write_bytes((src / f"{name}.csv").read_bytes())
    ta = pd.read_csv(src / "track_attributes.csv", dtype=str, keep_default_na=False)
    ta[~ta["track_id"].isin(gone)].to_csv(dst / "track_attributes.csv", index=False)
    rel = pd.read_csv(src / "relations.csv", dtype=str, keep_default_na=False)
    rel[~rel["src"].isin(gone) & ~rel["dst"].isin(gone)].to_csv(dst / "relations.csv", index=False)


def test_sigkill_during_a_pruning_load_then_rerun_gives_the_uninterrupted_graph(neo4j_store, neo4j_uri, tmp_path):
    full, half = tmp_path / "full", tmp_path / "half"
    write_synthetic_catalog(full, tracks=TRACKS)
    _halve(full, half)
    full_rows, half_rows = rows_of(full), rows_of(half)
    reference = EmbeddedGraphStore(None)
    reference.upsert(full_rows, progress=False)
    reference.upsert(half_rows, prune=Prune(), progress=False)
    neo4j_store.upsert(full_rows, progress=False)
    rels_before = sum(neo4j_store.stats().relationships.values())
    rels_after = sum(reference.stats().relationships.values())
    assert rels_before - rels_after > 10 * BATCH  # plenty of delete batches to interrupt

    env = {k: v for k, v in os.environ.items() if k not in ("NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE")}
    proc = subprocess.Popen(_prune_cmd(half, neo4j_uri), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:  # deletions are under way: kill it
        if sum(neo4j_store.stats().relationships.values()) <= rels_before - 3 * BATCH:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the load ended before it could be interrupted: {proc.communicate()[1][-2000:]!r}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    partial = neo4j_store.stats()
    assert partial != reference.stats(), "the kill should leave a partly pruned graph"

    rerun = subprocess.run(_prune_cmd(half, neo4j_uri), capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    neo4j_store.refresh()
    assert neo4j_store.stats() == reference.stats()
    assert export_diff(reference.export(), neo4j_store.export()) == []
