"""A `kgjemb graph load --uri` killed with SIGKILL midway leaves whole committed batches;
re-running the load completes the graph exactly as an uninterrupted load builds it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgjemb.catalog.rows import catalog_to_rows
from kgjemb.catalog.synthetic import write_synthetic_catalog
from kgjemb.catalog.validate import validate_catalog
from kgjemb.graph.embedded import EmbeddedGraphStore
from kgjemb.graph.frames import export_diff

pytestmark = pytest.mark.neo4j

TRACKS = 1500  # ~7.5k catalog rows, ~11k graph rows: several seconds at 100 rows per batch
BATCH = 100


def _load_cmd(catalog: Path, uri: str) -> list[str]:
    return [sys.executable, "-c", "from kgjemb.cli import main; main()", "graph", "load", str(catalog),
            "--uri", uri, "--batch-size", str(BATCH), "--no-progress", "--format", "json"]


def _env() -> dict:
    env = dict(os.environ)
    for var in ("NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        env.pop(var, None)
    return env


def test_sigkill_midway_then_rerun_gives_the_uninterrupted_graph(neo4j_store, neo4j_uri, tmp_path):
    catalog_dir = tmp_path / "synth"
    write_synthetic_catalog(catalog_dir, tracks=TRACKS)
    catalog, report = validate_catalog(catalog_dir, check_audio_files=False)
    assert report.valid
    reference = EmbeddedGraphStore(None)
    reference.upsert(catalog_to_rows(catalog), progress=False)
    total_nodes = sum(reference.stats().nodes.values())
    total_rels = sum(reference.stats().relationships.values())

    proc = subprocess.Popen(_load_cmd(catalog_dir, neo4j_uri), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env())
    # Wait until some batches are committed (nodes are written before relationships), then
    # kill it without warning: whatever is mid-transaction must roll back.
    deadline = time.monotonic() + 300
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        committed = sum(neo4j_store.stats().nodes.values())
        if committed >= 3 * BATCH:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the load ended before it could be interrupted: {proc.communicate()[1][-2000:]!r}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    partial = neo4j_store.stats()
    n_partial = sum(partial.nodes.values()) + sum(partial.relationships.values())
    assert committed <= n_partial < total_nodes + total_rels, "the kill should leave a partly loaded graph"

    rerun = subprocess.run(_load_cmd(catalog_dir, neo4j_uri), capture_output=True, text=True, env=_env(),
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    neo4j_store.refresh()
    assert neo4j_store.stats() == reference.stats()
    assert export_diff(reference.export(), neo4j_store.export()) == []
