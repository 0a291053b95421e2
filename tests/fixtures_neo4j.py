"""Fixtures for the neo4j area (see tests/conftest.py).

``neo4j_uri`` (session): a real Neo4j 5 community DBMS, built from Maven Central artifacts
by ``graph/launcher`` and started ONCE per test session through ``scripts/neo4j-dev`` on a
free port with a temporary data dir and auth off. It is never skipped: when it cannot
start, every test using it FAILS with the launcher's log tail. ``KGJEMB_TEST_NEO4J_URI``
points the tests at an already running server instead (its graph is cleared!).

``neo4j_store`` (function): a cleared :class:`~kgjemb.graph.neo4j_store.Neo4jGraphStore`.

Helpers for other tests: :func:`start_neo4j` / :func:`stop_neo4j` (e.g. a second server with
a password), :func:`free_port`.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEO4J_DEV = ROOT / "scripts" / "neo4j-dev"

#: JVM options of the test servers (override with $NEO4J_DEV_JAVA_OPTS)
TEST_JAVA_OPTS = "-Xms128m -Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

#: seconds the session fixture took to build (if needed) and start Neo4j, for reports
STARTUP: dict[str, float] = {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(data: Path, lines: int = 60) -> str:
    log = data / "launcher.log"
    if not log.exists():
        return f"(no {log})"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def start_neo4j(data: Path, *, port: int | None = None, password: str | None = None, timeout: int = 240) -> str:
    """Start a Neo4j via ``scripts/neo4j-dev start`` and return its bolt URI; calls
    ``pytest.fail`` with the launcher log tail when it does not come up."""
    port = port or free_port()
    cmd = [str(NEO4J_DEV), "start", "--port", str(port), "--data", str(data), "--timeout", str(timeout)]
    if password:
        cmd += ["--password", password]
    env = dict(os.environ)
    # C1-only JIT: starts in about half the time on a busy 2-core machine (tests load little)
    env.setdefault("NEO4J_DEV_JAVA_OPTS", TEST_JAVA_OPTS)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 600, env=env)
    if proc.returncode != 0:
        pytest.fail(
            f"Neo4j did not start (exit {proc.returncode}):\n{proc.stderr[-4000:]}\n"
            f"--- launcher log tail ({data}) ---\n{_log_tail(data)}",
            pytrace=False,
        )
    return proc.stdout.strip().splitlines()[-1]


def stop_neo4j(data: Path) -> None:
    subprocess.run([str(NEO4J_DEV), "stop", "--data", str(data)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def neo4j_uri(tmp_path_factory):
    """Bolt URI of the session's Neo4j 5 (auth off); started once, stopped at the end."""
    external = os.environ.get("KGJEMB_TEST_NEO4J_URI")
    if external:
        yield external
        return
    data = tmp_path_factory.mktemp("neo4j-session")
    t0 = time.perf_counter()
    build = subprocess.run([str(NEO4J_DEV), "build"], capture_output=True, text=True, timeout=1800)
    if build.returncode != 0:
        pytest.fail(f"building graph/launcher failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}", pytrace=False)
    STARTUP["build_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    uri = start_neo4j(data)
    STARTUP["start_s"] = time.perf_counter() - t1
    try:
        yield uri
    finally:
        stop_neo4j(data)


@pytest.fixture
def neo4j_store(neo4j_uri):
    """A :class:`Neo4jGraphStore` on the session's Neo4j, emptied first."""
    from kgjemb.graph.neo4j_store import Neo4jGraphStore

    store = Neo4jGraphStore(neo4j_uri)
    store.clear()
    try:
        yield store
    finally:
        store.close()
