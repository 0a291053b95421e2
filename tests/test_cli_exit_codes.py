"""Exit codes of the real ``kgjemb`` entry point: 0 ok, 1 invalid, 2 usage, 3 internal
error — and never a raw traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import kgjemb.catalog.validate
from kgjemb.cli import app

CLI = "from kgjemb.cli import main; main()"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=300, check=False)


def test_real_entry_point_exit_codes(fixture_catalog, tmp_path: Path):
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    (hostile / "artists.jsonl").write_text('{"id": "a1", "name": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    (hostile / "tracks.csv").write_text("id,title,artist_id,audio_path\nt1,One,a1,../../etc/passwd\n")
    for args, code in (((str(fixture_catalog),), 0), ((str(hostile),), 1), ((str(tmp_path / "nope"),), 2),
                       ((str(fixture_catalog), "--format", "yaml"), 2)):
        done = _run("graph", "validate", *args, "--no-progress")
        assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-2000:])
        assert "Traceback" not in done.stdout + done.stderr
    done = _run("graph", "validate", str(hostile), "--no-progress")
    assert "artists.jsonl:1: JSON nested 100001 levels deep; the limit is 32" in done.stdout
    assert "tracks.csv:2 [audio_path]: audio_path points outside the catalog directory" in done.stdout


def test_unexpected_exception_is_logged_and_exits_3(fixture_catalog, monkeypatch, caplog):
    """The guard itself: a bug (here injected into validation) is one log line and exit 3."""
    def broken(*args, **kwargs):
        raise ZeroDivisionError("injected bug")

    monkeypatch.setattr(kgjemb.catalog.validate, "validate_catalog", broken)
    result = CliRunner().invoke(app, ["graph", "validate", str(fixture_catalog), "--no-progress"])
    assert result.exit_code == 3, result.output
    assert "internal error: ZeroDivisionError: injected bug" in caplog.text
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["graph", "validate"], ["graph", "nope"], ["search"]])
def test_usage_errors_exit_2(args):
    assert CliRunner().invoke(app, args).exit_code == 2
