"""A Neo4j started by scripts/neo4j-dev with --password: a wrong password is a clear
StoreError naming the URI, the right one works; status/stop report and end the server.

The server is the session's second Neo4j (``neo4j_auth_server``), started in the
background while the other Neo4j tests run; this file sorts after them on purpose."""
from __future__ import annotations

import subprocess

import pytest

from kgjemb.errors import StoreError
from kgjemb.graph.neo4j_store import Neo4jGraphStore
from kgjemb.graph.open import open_store
from tests.fixtures_neo4j import AUTH_PASSWORD, NEO4J_DEV, stop_neo4j

pytestmark = pytest.mark.neo4j


def _status(data) -> subprocess.CompletedProcess:
    return subprocess.run([str(NEO4J_DEV), "status", "--data", str(data)], capture_output=True, text=True)


def test_password_server_refuses_wrong_and_accepts_right_password(neo4j_auth_server):
    uri, data = neo4j_auth_server
    status = _status(data)
    assert status.returncode == 0 and uri in status.stdout

    with pytest.raises(StoreError, match="refused the credentials") as err:
        Neo4jGraphStore(uri, user="neo4j", password="not-the-password")
    assert uri in str(err.value)
    with pytest.raises(StoreError, match="refused the credentials"):
        Neo4jGraphStore(uri)  # no credentials at all

    with Neo4jGraphStore(uri, user="neo4j", password=AUTH_PASSWORD) as store:
        assert store.stats().nodes == {"Artist": 0, "Album": 0, "Track": 0, "Attribute": 0}
    store = open_store(uri, user="neo4j", password=AUTH_PASSWORD)
    try:
        assert isinstance(store, Neo4jGraphStore)
    finally:
        store.close()


def test_stop_ends_the_server(neo4j_auth_server):
    uri, data = neo4j_auth_server
    stop_neo4j(data)
    status = _status(data)
    assert status.returncode == 3 and "stopped" in status.stdout
    with pytest.raises(StoreError, match="unreachable"):
        Neo4jGraphStore(uri, password=AUTH_PASSWORD, connection_timeout=2.0)
