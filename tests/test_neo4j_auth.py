"""scripts/neo4j-dev with --password: a wrong password is a clear StoreError, the right one
works; status/stop report and end the server."""
from __future__ import annotations

import subprocess

import pytest

from kgjemb.errors import StoreError
from kgjemb.graph.neo4j_store import Neo4jGraphStore
from tests.fixtures_neo4j import NEO4J_DEV, start_neo4j, stop_neo4j

pytestmark = pytest.mark.neo4j

PASSWORD = "kgjemb-test-pw"


def test_password_server_refuses_wrong_and_accepts_right_password(tmp_path):
    data = tmp_path / "auth-neo4j"
    uri = start_neo4j(data, password=PASSWORD)
    try:
        status = subprocess.run([str(NEO4J_DEV), "status", "--data", str(data)], capture_output=True, text=True)
        assert status.returncode == 0 and uri in status.stdout

        with pytest.raises(StoreError, match="refused the credentials") as err:
            Neo4jGraphStore(uri, user="neo4j", password="not-the-password")
        assert uri in str(err.value)
        with pytest.raises(StoreError, match="refused the credentials"):
            Neo4jGraphStore(uri)  # no credentials at all

        with Neo4jGraphStore(uri, user="neo4j", password=PASSWORD) as store:
            assert store.stats().nodes == {"Artist": 0, "Album": 0, "Track": 0, "Attribute": 0}
    finally:
        stop_neo4j(data)
    status = subprocess.run([str(NEO4J_DEV), "status", "--data", str(data)], capture_output=True, text=True)
    assert status.returncode != 0 and "stopped" in status.stdout
    with pytest.raises(StoreError, match="unreachable"):
        Neo4jGraphStore(uri, password=PASSWORD, connection_timeout=2.0)
