"""The HTTP service. Part one: the app without a bundle, in process (limits, auth, readiness,
metrics, config). Part two: a real ``kgjemb serve`` process on the real ``bundle_dir``."""
from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from kgjemb.errors import BundleError
from kgjemb.serve.app import create_app
from kgjemb.serve.auth import tokens_match
from kgjemb.serve.config import ServeConfig
from kgjemb.serve.reload import describe_bundle

API = "api-token-123456"
ADMIN = "admin-token-654321"


def metric(text: str, name: str, **labels) -> float | None:
    """Value of one sample of a Prometheus text exposition, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0] if "{" not in line else line[: line.rindex("}") + 1]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


# ---------------------------------------------------------------- config, tokens, manifests


def test_config_validates_and_reads_env():
    with pytest.raises(ValueError, match="max_batch"):
        ServeConfig(max_batch=0)
    with pytest.raises(ValueError, match="api_token"):
        ServeConfig(api_token="short")
    cfg = ServeConfig.from_env(
        {"KGJEMB_SERVE_MAX_BATCH": "16", "KGJEMB_SERVE_BATCHING": "off", "KGJEMB_API_TOKEN": API, "KGJEMB_ADMIN_TOKEN": ""}
    )
    assert (cfg.max_batch, cfg.batching, cfg.api_token, cfg.admin_token) == (16, False, API, None)
    with pytest.raises(ValueError, match="KGJEMB_SERVE_REQUEST_TIMEOUT_S"):
        ServeConfig.from_env({"KGJEMB_SERVE_REQUEST_TIMEOUT_S": "soon"})
    round_trip = ServeConfig(max_batch=7, batching=False, batch_wait_ms=0.5, admin_token=ADMIN)
    assert ServeConfig.from_env(round_trip.to_env()) == round_trip


def test_tokens_match_is_exact():
    assert tokens_match(API, API)
    assert not tokens_match(API[:-1], API)
    assert not tokens_match(API + "x", API)
    assert not tokens_match(None, API)


def test_describe_bundle(tmp_path):
    with pytest.raises(BundleError, match="manifest.json"):
        describe_bundle(tmp_path, 1)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="unreadable"):
        describe_bundle(tmp_path, 1)
    (tmp_path / "manifest.json").write_text(json.dumps({"model_checksum": "m1", "files": {"a": "1"}}))
    a = describe_bundle(tmp_path, 3)
    assert a.model_checksum == "m1" and a.generation == 3 and a.version == a.checksum[:12]
    (tmp_path / "manifest.json").write_text(json.dumps({"model_checksum": "m1", "files": {"a": "2"}, "version": 2}))
    b = describe_bundle(tmp_path, 4)
    assert b.checksum != a.checksum and b.version == "2"


# ---------------------------------------------------------------- the app with no bundle


@pytest.fixture(scope="module")
def empty_client():
    """The real app with no bundle loaded: everything but the engine is live."""
    app = create_app(None, config=ServeConfig(api_token=API, max_body_bytes=4096))
    with TestClient(app, headers={"Authorization": f"Bearer {API}"}) as client:
        yield client


def test_health_open_ready_503_until_loaded(empty_client):
    no_auth = {"Authorization": ""}
    assert empty_client.get("/healthz", headers=no_auth).json() == {"status": "ok"}
    r = empty_client.get("/readyz", headers=no_auth)
    assert r.status_code == 503 and r.json()["status"] == "unavailable"
    r = empty_client.post("/v1/search", json={"query": "slow strings"})
    assert r.status_code == 503 and "not ready" in r.json()["detail"]


def test_api_token_required(empty_client):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-token-000"}, {"Authorization": f"Basic {API}"}):
        r = empty_client.post("/v1/search", json={"query": "x"}, headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert empty_client.get("/metrics", headers={"Authorization": ""}).status_code == 401


def test_admin_disabled_without_admin_token(empty_client):
    r = empty_client.post("/v1/admin/reload", json={}, headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 403 and "KGJEMB_ADMIN_TOKEN" in r.json()["detail"]


def test_body_limit_declared_length(empty_client):
    r = empty_client.post("/v1/search", content=b" " * 5000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "4096" in r.json()["detail"]


def test_validation_runs_before_readiness(empty_client):
    for body in ({"query": "x", "k": 0}, {"query": "x", "k": 1001}, {}, {"query": "   "}, {"query": "x" * 1001}):
        r = empty_client.post("/v1/search", json=body)
        assert r.status_code == 422, body
        assert r.json()["detail"][0]["loc"][:2] == ["body", "query" if "k" not in body else "k"]
    r = empty_client.get("/v1/similar/planet/p1")
    assert r.status_code == 422 and "'track', 'artist', 'album' or 'attribute'" in r.json()["detail"][0]["msg"]


def test_openapi_has_examples_and_routes(empty_client):
    spec = empty_client.get("/openapi.json", headers={"Authorization": ""}).json()
    assert {"/v1/search", "/v1/search/batch", "/v1/similar/{kind}/{id}", "/v1/parse", "/v1/admin/reload",
            "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["SearchRequest"]["examples"][0]["query"]


def test_metrics_use_route_templates(empty_client):
    empty_client.get("/v1/similar/track/some-id-xyz", params={"k": 3})
    text = empty_client.get("/metrics").text
    assert metric(text, "kgjemb_http_requests_total", route="/v1/similar/{kind}/{id}", status="503") >= 1
    assert "some-id-xyz" not in text
    assert metric(text, "kgjemb_http_requests_in_flight") == 1.0  # the /metrics request itself


def test_admin_reload_of_missing_bundle_keeps_serving_state(tmp_path):
    app = create_app(None, config=ServeConfig(admin_token=ADMIN))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        assert client.post("/v1/admin/reload", json={}).status_code == 401
        r = client.post("/v1/admin/reload", json={"bundle": str(tmp_path / "nope")}, headers=auth)
        assert r.status_code == 400 and "does not exist" in r.json()["detail"]
        r = client.post("/v1/admin/reload", json={"bundle": str(tmp_path)}, headers=auth)
        assert r.status_code == 400 and "manifest.json" in r.json()["detail"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "manifest.json" in ready.json()["detail"]
        assert metric(client.get("/metrics").text, "kgjemb_bundle_reloads_total", result="error") == 2.0  # both failed loads
