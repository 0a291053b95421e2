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

#: password of the auth-enabled test server (``neo4j_auth_server``)
AUTH_PASSWORD = "kgjemb-test-pw"
_AUTH: dict = {}

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


def spawn_neo4j(data: Path, *, port: int | None = None, password: str | None = None,
                timeout: int = 240) -> subprocess.Popen:
    """Run ``scripts/neo4j-dev start`` without waiting; finish with :func:`wait_neo4j`."""
    port = port or free_port()
    cmd = [str(NEO4J_DEV), "start", "--port", str(port), "--data", str(data), "--timeout", str(timeout)]
    if password:
        cmd += ["--password", password]
    env = dict(os.environ)
    # C1-only JIT: starts in about half the time on a busy 2-core machine (tests load little)
    env.setdefault("NEO4J_DEV_JAVA_OPTS", TEST_JAVA_OPTS)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_neo4j(proc: subprocess.Popen, data: Path) -> str:
    """The bolt URI printed by a :func:`spawn_neo4j` start; ``pytest.fail`` with the
    launcher log tail when the DBMS did not come up."""
    out, err = proc.communicate(timeout=900)
    if proc.returncode != 0:
        pytest.fail(
            f"Neo4j did not start (exit {proc.returncode}):\n{err[-4000:]}\n"
            f"--- launcher log tail ({data}) ---\n{_log_tail(data)}",
            pytrace=False,
        )
    return out.strip().splitlines()[-1]


def start_neo4j(data: Path, *, port: int | None = None, password: str | None = None, timeout: int = 240) -> str:
    """Start a Neo4j via ``scripts/neo4j-dev start`` and return its bolt URI; calls
    ``pytest.fail`` with the launcher log tail when it does not come up."""
    return wait_neo4j(spawn_neo4j(data, port=port, password=password, timeout=timeout), data)


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
    # The password server of the auth test starts now, in the background, so that its JVM
    # start overlaps with the tests in between (it runs late: test_neo4j_store_auth.py).
    auth_data = tmp_path_factory.mktemp("neo4j-auth")
    _AUTH["data"], _AUTH["proc"] = auth_data, spawn_neo4j(auth_data, password=AUTH_PASSWORD)
    try:
        yield uri
    finally:
        _AUTH["proc"].communicate()
        stop_neo4j(auth_data)
        stop_neo4j(data)


@pytest.fixture(scope="session")
def neo4j_auth_server(neo4j_uri, tmp_path_factory):
    """(bolt URI, data dir) of a second session Neo4j with auth on (user ``neo4j``,
    password :data:`AUTH_PASSWORD`), started in the background by ``neo4j_uri``."""
    if "proc" not in _AUTH:  # external session server: start it here
        data = tmp_path_factory.mktemp("neo4j-auth")
        _AUTH["data"], _AUTH["proc"] = data, spawn_neo4j(data, password=AUTH_PASSWORD)
    if "uri" not in _AUTH:
        _AUTH["uri"] = wait_neo4j(_AUTH["proc"], _AUTH["data"])
    yield _AUTH["uri"], _AUTH["data"]
    stop_neo4j(_AUTH["data"])


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


def pytest_terminal_summary(terminalreporter):
    """One line with the session server's build and start times (CI logs)."""
    if STARTUP:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in STARTUP.items())
        terminalreporter.write_line(f"neo4j session server: {parts}")
