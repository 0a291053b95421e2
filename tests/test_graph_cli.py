"""`kgjemb graph validate|load|stats` end to end, including a SIGKILL in the middle of a load."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kgjemb.catalog import validate_catalog
from kgjemb.catalog.rows import build_rows
from kgjemb.catalog.synthetic import write_synthetic_catalog
from kgjemb.cli import app
from kgjemb.graph.embedded import GRAPH_FILE, EmbeddedGraphStore
from kgjemb.graph.frames import export_diff

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_validate_exit_codes_and_json(fixture_catalog, defects_catalog, tmp_path):
    ok = invoke("graph", "validate", fixture_catalog)
    assert ok.exit_code == 0 and "valid — 0 error(s)" in ok.stdout
    bad = invoke("graph", "validate", defects_catalog, "--format", "json")
    assert bad.exit_code == 1
    doc = json.loads(bad.stdout)
    _, report = validate_catalog(defects_catalog)
    assert doc["valid"] is False and len(doc["problems"]) == len(report.problems)
    assert all({"file", "line", "field", "message"} <= set(p) for p in doc["problems"])
    assert {"file": "tracks.csv", "line": 4, "field": "artist_id"}.items() <= next(
        p for p in doc["problems"] if p["file"] == "tracks.csv" and p["line"] == 4).items()
    text = invoke("graph", "validate", defects_catalog)
    assert text.exit_code == 1 and "tracks.csv:4 [artist_id]: unknown artist 'nobody'" in text.stdout
    assert invoke("graph", "validate", tmp_path / "missing").exit_code == 2
    assert invoke("graph", "validate", fixture_catalog, "--format", "yaml").exit_code == 2


def test_invalid_catalog_writes_nothing(defects_catalog, tmp_path):
    home = tmp_path / "home"
    result = invoke("graph", "load", defects_catalog, "--home", home, "--no-progress")
    assert result.exit_code == 1 and "nothing written" in result.stdout
    assert not (home / "graph" / GRAPH_FILE).exists()


def test_skip_invalid_loads_the_valid_rows(defects_catalog, tmp_path):
    home = tmp_path / "home"
    result = invoke("graph", "load", defects_catalog, "--home", home, "--skip-invalid", "--no-progress", "--format", "json")
    assert result.exit_code == 0, result.stdout
    doc = json.loads(result.stdout)
    catalog, report = validate_catalog(defects_catalog)
    rows, dropped = build_rows(catalog, skip=report.error_rows())
    assert doc["skipped_rows"] == {k: v for k, v in dropped.items() if v} and doc["valid"] is False
    stats = json.loads(invoke("graph", "stats", "--home", home, "--format", "json").stdout)
    assert stats["nodes"] == {lb: len(v) for lb, v in rows.nodes.items()}
    assert stats["nodes"]["Track"] == 1


def test_skip_invalid_refuses_file_level_problems(defects_files_catalog, tmp_path):
    result = invoke("graph", "load", defects_files_catalog, "--home", tmp_path, "--skip-invalid", "--no-progress")
    assert result.exit_code == 1 and not (tmp_path / "graph" / GRAPH_FILE).exists()


def test_dry_run_writes_nothing(fixture_catalog, tmp_path):
    result = invoke("graph", "load", fixture_catalog, "--home", tmp_path, "--dry-run", "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    catalog, _ = validate_catalog(fixture_catalog)
    rows, _ = build_rows(catalog)
    assert doc["report"]["dry_run"] is True
    assert {lb: c["created"] for lb, c in doc["report"]["nodes"].items()} == {lb: len(v) for lb, v in rows.nodes.items()}
    assert not (tmp_path / "graph").exists()


def test_load_stats_and_reload(fixture_catalog, tmp_path):
    home = tmp_path / "home"
    first = invoke("graph", "load", fixture_catalog, "--home", home, "--no-progress")
    assert first.exit_code == 0 and "(Track)" in first.stdout and "catalog rows/s" in first.stdout
    store = EmbeddedGraphStore(home / "graph")
    export1 = store.export()
    stats = json.loads(invoke("graph", "stats", "--home", home, "--format", "json").stdout)
    assert stats == store.stats().to_dict()
    assert set(stats["relationships"]) == {"BY", "ON", "HAS", "SIMILAR_TO", "INFLUENCED_BY", "MEMBER_OF", "VERSION_OF"}
    again = invoke("graph", "load", fixture_catalog, "--home", home, "--no-progress", "--format", "json")
    doc = json.loads(again.stdout)
    assert sum(c["created"] + c["changed"] + c["deleted"] for c in doc["report"]["nodes"].values()) == 0
    assert sum(c["unchanged"] for c in doc["report"]["nodes"].values()) == sum(stats["nodes"].values())
    assert export_diff(export1, EmbeddedGraphStore(home / "graph").export()) == []
    empty = json.loads(invoke("graph", "stats", "--home", tmp_path / "other", "--format", "json").stdout)
    assert set(empty["nodes"]) == set(stats["nodes"]) and sum(empty["nodes"].values()) == 0


def test_help_texts_explain():
    for cmd, words in (("validate", "EVERY problem"), ("load", "--skip-invalid"), ("stats", "relationships"),
                       ("diff", "property by property"), ("delete", "--artist")):
        out = invoke("graph", cmd, "--help")
        assert out.exit_code == 0 and words in out.stdout, cmd


def _load_cmd(catalog, home):
    code = "import sys; from kgjemb.cli import main; sys.argv[0] = 'kgjemb'; main()"
    return [sys.executable, "-c", code, "graph", "load", str(catalog), "--home", str(home), "--no-progress"]


@pytest.mark.slow
def test_sigkill_midway_then_reload_equals_uninterrupted(tmp_path):
    catalog = tmp_path / "syn"
    write_synthetic_catalog(catalog, tracks=12_000, seed=1)
    ref_home = tmp_path / "ref"
    subprocess.run(_load_cmd(catalog, ref_home), check=True, capture_output=True)
    reference = EmbeddedGraphStore(ref_home / "graph").export()

    home = tmp_path / "x"
    graph = home / "graph"
    proc = subprocess.Popen(_load_cmd(catalog, home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # the validator logs "validated ..." when it is done: from then on the process is building
    # rows and writing the graph, so a SIGKILL now interrupts the load itself
    for line in proc.stderr:
        if "kgjemb.catalog.validate: validated" in line:
            break
    assert proc.poll() is None, "the load finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    interrupted = EmbeddedGraphStore(graph)  # opens cleanly: no half-written graph
    assert not graph.is_dir() or not any(p.name.endswith(".tmp") for p in graph.iterdir())  # leftover removed
    # all or nothing: (almost always) nothing, unless the kill landed after the atomic rename
    assert sum(interrupted.stats().nodes.values()) in (0, sum(len(f) for f in reference.nodes.values()))
    subprocess.run(_load_cmd(catalog, home), check=True, capture_output=True)
    assert export_diff(reference, EmbeddedGraphStore(graph).export()) == []
    assert not any(p.name.endswith(".tmp") for p in graph.iterdir())
