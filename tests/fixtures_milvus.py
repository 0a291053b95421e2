"""Fixtures for the Milvus backend (see tests/conftest.py).

``milvus_uri`` (session): a real Milvus 2.3 standalone server from the PyPI package
``milvus`` (the ``milvus`` extra), started ONCE per session through ``scripts/milvus-dev``
on a free port with a temporary base dir, stopped at the end. Never skipped: when it
cannot start, every test using it FAILS with the server's log tail.
``KGJEMB_TEST_MILVUS_URI`` points the tests at an already running server instead (tests
create and drop collections named ``kgjemb_test_*`` there).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MILVUS_DEV = ROOT / "scripts" / "milvus-dev"

#: seconds the session fixture took to start Milvus, for reports
STARTUP: dict[str, float] = {}


def _milvus_dev(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(MILVUS_DEV), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory):
    """``http://127.0.0.1:PORT`` of the session's Milvus server."""
    external = os.environ.get("KGJEMB_TEST_MILVUS_URI")
    if external:
        yield external
        return
    base = tmp_path_factory.mktemp("milvus-session")
    t0 = time.perf_counter()
    started = _milvus_dev("start", "--base", str(base), "--timeout", "240")
    if started.returncode != 0:
        pytest.fail(f"Milvus did not start (exit {started.returncode}):\n{started.stderr[-6000:]}", pytrace=False)
    STARTUP["start_s"] = time.perf_counter() - t0
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        _milvus_dev("stop", "--base", str(base), timeout=60)


def pytest_terminal_summary(terminalreporter):
    """One line with the session Milvus start time (CI logs)."""
    if STARTUP:
        terminalreporter.write_line(f"milvus session server: start {STARTUP['start_s']:.1f}s")
