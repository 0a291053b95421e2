"""The HTTP service. Part one: the app without a bundle, in process (limits, auth, readiness,
metrics, config). Part two: a real ``kgjemb serve`` process on the real ``bundle_dir``."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from kgjemb.errors import BundleError
from kgjemb.query.types import ParsedQuery, SearchResult
from kgjemb.serve.app import create_app
from kgjemb.serve.auth import tokens_match
from kgjemb.serve.config import ServeConfig
from kgjemb.serve.launch import ServerProcess
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


def test_config_validates_and_reads_env(monkeypatch):
    with pytest.raises(ValidationError, match="max_batch"):
        ServeConfig(max_batch=0)
    with pytest.raises(ValidationError, match="at least 8 characters"):
        ServeConfig(api_token="short")
    for name in [n for n in os.environ if n.startswith(("KGJEMB_SERVE_", "KGJEMB_API", "KGJEMB_ADMIN"))]:
        monkeypatch.delenv(name)
    for name, value in {"KGJEMB_SERVE_MAX_BATCH": "16", "KGJEMB_SERVE_BATCHING": "on", "KGJEMB_API_TOKEN": API,
                        "KGJEMB_ADMIN_TOKEN": "", "KGJEMB_SERVE_PORT": "9123", "KGJEMB_SERVE_TORCH_THREADS": "none",
                        "KGJEMB_SERVE_HEADER_TIMEOUT_S": "2.5", "KGJEMB_SERVE_MAX_BODY_BYTES": "4096"}.items():
        monkeypatch.setenv(name, value)
    cfg = ServeConfig.from_env(port=None, workers=3)  # None: not given on the command line
    assert (cfg.max_batch, cfg.batching, cfg.token("api_token"), cfg.admin_token) == (16, True, API, None)
    assert (cfg.port, cfg.torch_threads, cfg.header_timeout_s, cfg.max_body_bytes, cfg.workers) == (9123, None, 2.5, 4096, 3)
    assert API not in repr(cfg)  # tokens are secrets
    monkeypatch.setenv("KGJEMB_SERVE_REQUEST_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="KGJEMB_SERVE_REQUEST_TIMEOUT_S"):
        ServeConfig.from_env()
    monkeypatch.setenv("KGJEMB_API_TOKEN", "short")
    with pytest.raises(ValueError, match="KGJEMB_API_TOKEN") as err:
        ServeConfig.from_env(request_timeout_s=1.0)
    assert "short" not in str(err.value)  # a rejected token is never echoed
    monkeypatch.delenv("KGJEMB_API_TOKEN")
    monkeypatch.delenv("KGJEMB_SERVE_REQUEST_TIMEOUT_S")
    for round_trip in (ServeConfig(max_batch=7, batching=False, batch_wait_ms=0.5, admin_token=ADMIN),
                       ServeConfig(torch_threads=None, engine_threads=3, port=1234, walks_kept=0)):
        for name, value in round_trip.to_env().items():
            monkeypatch.setenv(name, value)
        assert ServeConfig.from_env() == round_trip


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
    assert {"/v1/search", "/v1/search/batch", "/v1/similar/{kind}/{id}", "/v1/similar/artist/{id}/artists",
            "/v1/parse", "/v1/admin/reload",
            "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["SearchRequest"]["examples"][0]["query"]


SURROGATE_BODIES = [
    b'{"query": "\\ud800"}', b'{"\\ud800": 1}', b'{"query": "x", "k": "\\udfff"}',
    b'{"query": "x", "explain": "\\ud800"}', b'{"queries": [{"query": "a"}, {"query": "\\ud800"}]}',
    b'{"query": "x", "filters": [{"kind": "era", "value": "\\ud800"}]}', b'{"query": "\xff\xfe"}',
]


@pytest.mark.parametrize("body", SURROGATE_BODIES)
def test_undecodable_input_is_422_never_echoed(empty_client, body):
    """Lone surrogates (valid JSON escapes, not encodable text) and bytes that are not UTF-8:
    a documented 4xx with the one error shape, never a 500, never the input echoed."""
    route = "/v1/search/batch" if b"queries" in body else "/v1/search"
    r = empty_client.post(route, content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), (r.status_code, r.text)
    doc = json.loads(r.content.decode("utf-8"))  # the body itself is valid UTF-8 JSON
    if r.status_code == 422:
        assert all(set(issue) == {"loc", "msg", "type"} for issue in doc["detail"]), doc
    assert "\ud800" not in r.content.decode("utf-8")


def test_strict_types_and_one_422_shape(empty_client):
    for body in ({"query": "x", "explain": 0}, {"query": "x", "k": True}, {"query": "x", "k": "5"},
                 {"query": "x", "k": 2.5}, {"query": 5}, {"query": "x", "unknown": 1}, {"query": "\x1c\x1f"}):
        r = empty_client.post("/v1/search", json=body)
        assert r.status_code == 422, (body, r.text)
        assert all(set(issue) == {"loc", "msg", "type"} for issue in r.json()["detail"]), r.text
    r = empty_client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_openapi_states_auth_limits_and_errors(empty_client):
    spec = empty_client.get("/openapi.json", headers={"Authorization": ""}).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["apiToken"] == {"type": "http", "scheme": "bearer", "description": schemes["apiToken"]["description"]}
    assert spec["paths"]["/v1/search"]["post"]["security"] == [{"apiToken": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"] and "head" in spec["paths"]["/healthz"]
    assert spec["paths"]["/v1/admin/reload"]["post"]["security"] == [{"adminToken": []}]
    search = spec["paths"]["/v1/search"]["post"]["responses"]
    assert {"200", "400", "401", "404", "413", "422", "503", "504"} <= set(search)
    assert search["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ValidationErrorBody")
    schemas = spec["components"]["schemas"]
    assert schemas["BatchRequest"]["properties"]["queries"]["maxItems"] == 64  # the server's max_batch
    assert schemas["SearchRequest"]["properties"]["query"]["maxLength"] == 1000
    assert schemas["SearchRequest"]["properties"]["k"]["maximum"] == 1000
    assert "HTTPValidationError" not in schemas
    assert empty_client.head("/healthz").status_code == 200
    assert empty_client.head("/readyz").status_code == 503


def test_open_server_declares_no_security_and_its_own_batch_limit():
    app = create_app(None, config=ServeConfig(max_batch=5))
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
        assert "security" not in spec["paths"]["/v1/search"]["post"]
        assert spec["components"]["schemas"]["BatchRequest"]["properties"]["queries"]["maxItems"] == 5
        r = client.post("/v1/search/batch", json={"queries": [{"query": "a"}] * 6})
        assert r.status_code == 422 and "at most 5" in r.json()["detail"][0]["msg"]


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


def test_engine_settings_reach_the_served_engine(bundle_dir, tmp_path):
    """``engine_config`` (``--engine-config``) sets the served engine's settings, and
    ``walks_kept`` (``--walks-kept``, ``KGJEMB_SERVE_WALKS_KEPT``) wins over the file's:
    0 keeps no walks, so an entity query leaves nothing kept."""
    settings = tmp_path / "engine.json"
    settings.write_text('{"weights": {"graph": 0.5}, "walks_kept": 1000}')
    app = create_app(bundle_dir, config=ServeConfig(walks_kept=0, engine_config=str(settings)))
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        engine, _ = app.state.holder.current
        graph = engine.snapshot.graph
        assert engine.config.weights.graph == 0.5 and engine.config.threads == ServeConfig().torch_threads
        assert (engine.config.walks_kept, graph.walks_kept) == (0, 0)
        query = f"music like {engine.snapshot.export.nodes['Artist']['name'].iloc[0]}"
        assert engine.parse(query).entities  # an entity query: the engine walks from the artist
        assert client.post("/v1/search", json={"query": query, "k": 3}).status_code == 200
        assert not graph._walks
    assert ServeConfig().walks_kept is None  # None: the engine's own default


# ---------------------------------------------------------------- a real server on a real bundle


@pytest.fixture(scope="module")
def servers(bundle_dir):
    """Two ``kgjemb serve`` child processes on the session's real bundle, started together.

    ``main``: both tokens set, micro-batching. ``strict``: no tokens (admin disabled),
    thread-pool dispatch, a timeout far below any real search, batch limit 2, a 1 s
    request-head timeout, all set through ``KGJEMB_SERVE_*`` variables."""
    main = ServerProcess(bundle_dir, env={"KGJEMB_API_TOKEN": API, "KGJEMB_ADMIN_TOKEN": ADMIN},
                         args=["--batching", "--log-level", "warning"])
    strict = ServerProcess(bundle_dir, env={
        "KGJEMB_API_TOKEN": "", "KGJEMB_ADMIN_TOKEN": "", "KGJEMB_SERVE_BATCHING": "off", "KGJEMB_SERVE_MAX_BATCH": "2",
        "KGJEMB_SERVE_REQUEST_TIMEOUT_S": "0.000001", "KGJEMB_SERVE_HEADER_TIMEOUT_S": "1",
        "KGJEMB_SERVE_LOG_LEVEL": "warning"})
    try:
        main.launch()
        strict.launch()
        yield {"main": main.wait_ready(), "strict": strict.wait_ready()}
    finally:
        main.stop()
        strict.stop()


@pytest.fixture(scope="module")
def server(servers):
    return servers["main"]


@pytest.fixture(scope="module")
def strict_server(servers):
    return servers["strict"]


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API}"}, timeout=60.0) as c:
        yield c


@pytest.fixture(scope="module")
def sample(client):
    """Real names from the served catalog, found through the API itself."""
    r = client.post("/v1/search", json={"query": "calm slow music", "k": 10})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert hits, "the bundle answered no hits to a plain text query"
    hit = next((h for h in hits if h["artists"]), hits[0])
    return hit


def test_real_health_ready(server, client):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["status"] == "ready"
    assert Path(ready["bundle"]["path"]) == Path(server.bundle).resolve()
    assert len(ready["bundle"]["checksum"]) == 64


def test_real_server_loads_no_torch(server, client, sample):
    """The serving process answers on ONNX Runtime, spaCy and FAISS: torch's libraries are
    never mapped into it (they cost every worker seconds of start-up and hundreds of MB),
    not even after a query that runs the parser's tagger."""
    r = client.post("/v1/search", json={"query": f"without drums and vocals, like {sample['title']}", "k": 3})
    assert r.status_code == 200, r.text
    maps = Path(f"/proc/{server.pid}/maps").read_text()
    assert "onnxruntime" in maps and "libtorch" not in maps


def test_real_search(client, sample):
    body = {"query": f"songs like {sample['title']}", "k": 5}
    r = client.post("/v1/search", json=body)
    assert r.status_code == 200, r.text
    res = SearchResult.model_validate(r.json())
    assert 0 < len(res.hits) <= 5 and res.query == body["query"]
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True)
    assert any(e.id is not None for e in res.parse.entities), res.parse
    assert r.headers["x-bundle-generation"].isdigit()
    terse = client.post("/v1/search", json={**body, "explain": False}).json()
    assert [h["track_id"] for h in terse["hits"]] == [h.track_id for h in res.hits]
    assert all(h["explanation"] == "" and h["path"] == [] for h in terse["hits"])


def test_real_batch_keeps_order(client, sample):
    queries = [{"query": "slow sad strings", "k": 3}, {"query": f"songs like {sample['title']}", "k": 4},
               {"query": "fast lively music", "k": 2}]
    r = client.post("/v1/search/batch", json={"queries": queries})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["query"] for x in results] == [q["query"] for q in queries]
    assert [len(x["hits"]) <= q["k"] for x, q in zip(results, queries)] == [True] * 3
    single = client.post("/v1/search", json=queries[1]).json()
    assert [h["track_id"] for h in results[1]["hits"]] == [h["track_id"] for h in single["hits"]]
    too_many = client.post("/v1/search/batch", json={"queries": [{"query": "x"}] * 65})
    assert too_many.status_code == 422 and "at most 64" in too_many.json()["detail"][0]["msg"]
    assert set(too_many.json()["detail"][0]) == {"loc", "msg", "type"}


def test_real_similar_and_unknown_id(client, sample):
    r = client.get(f"/v1/similar/track/{sample['track_id']}", params={"k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "track" and 0 < len(body["hits"]) <= 3
    missing = sample["track_id"] + "-nope"
    r = client.get(f"/v1/similar/track/{missing}")
    assert r.status_code == 404, r.text
    err = r.json()
    assert err["name"].endswith(missing) and err["candidates"], err
    assert client.get(f"/v1/similar/track/{sample['track_id']}", params={"k": 0}).status_code == 422


def test_real_similar_artist(client, sample):
    parsed = client.get("/v1/parse", params={"q": f"songs like {sample['artists'][0]}"}).json()
    artist = next((e for e in parsed["entities"] if e["label"] == "Artist" and e["id"]), None)
    assert artist is not None, parsed
    r = client.get(f"/v1/similar/artist/{artist['id']}", params={"k": 5})
    assert r.status_code == 200, r.text
    assert 0 < len(r.json()["hits"]) <= 5
    # artists like the artist: ranked by graph proximity + entity vectors, never itself
    r = client.get(f"/v1/similar/artist/{artist['id']}/artists", params={"k": 3})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert 0 < len(hits) <= 3 and artist["id"] not in [h["artist_id"] for h in hits]
    assert all(h["explanation"] and h["signals"] for h in hits)
    assert client.get("/v1/similar/artist/no-such-artist-xyz/artists").status_code == 404


def test_real_parse(client, sample):
    r = client.get("/v1/parse", params={"q": f"songs like {sample['title']}, no vocals"})
    assert r.status_code == 200, r.text
    parsed = ParsedQuery.model_validate(r.json())
    assert parsed.entities and any("vocal" in n for n in parsed.negations + [f.value for f in parsed.filters])
    assert client.get("/v1/parse", params={"q": "   "}).status_code == 422


@pytest.mark.parametrize("body", [{"query": "x", "k": 0}, {"query": "x", "k": 5000}, {"k": 3}, {"query": ""},
                                  {"query": " \t "}, {"query": "x" * 1001}, {"query": "x", "bogus": 1}])
def test_real_422(client, body):
    r = client.post("/v1/search", json=body)
    assert r.status_code == 422 and r.json()["detail"], r.text


def test_real_auth(server):
    r = httpx.post(server.url + "/v1/search", json={"query": "x"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.post(server.url + "/v1/admin/reload", json={}, headers={"Authorization": f"Bearer {API}"})
    assert r.status_code == 401 and "invalid admin token" in r.json()["detail"]
    assert httpx.post(server.url + "/v1/admin/reload", json={}).status_code == 401


def test_real_413(client):
    huge = {"query": "x", "pad": "y" * (1 << 20)}
    r = client.post("/v1/search", json=huge)
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(17):
            yield b" " * 65536

    r = client.post("/v1/search", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_real_reload_under_load(server, client, sample, bundle_dir, tmp_path_factory):
    """8 threads keep querying while the admin reload swaps to a copy: no request fails."""
    copy = tmp_path_factory.mktemp("bundle-b") / "bundle"
    shutil.copytree(bundle_dir, copy)
    before = httpx.get(server.url + "/readyz").json()["bundle"]["generation"]
    requests = [
        ("post", "/v1/search", {"json": {"query": "slow sad strings", "k": 5}}),
        ("post", "/v1/search", {"json": {"query": f"songs like {sample['title']}", "k": 10}}),
        ("post", "/v1/search/batch", {"json": {"queries": [{"query": "lively dance"}, {"query": "calm piano"}]}}),
        ("get", f"/v1/similar/track/{sample['track_id']}", {"params": {"k": 5}}),
        ("get", "/v1/parse", {"params": {"q": "music like " + sample["title"]}}),
    ]
    reloaded = threading.Event()
    failures: list[str] = []
    counts = [0] * 8
    generations: set[str] = set()

    def worker(n: int) -> None:
        after = 0
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API}"}, timeout=60.0) as c:
            for i in range(400):  # bounded; normally stops 5 requests after the reload
                method, url, kw = requests[(n + i) % len(requests)]
                try:
                    r = getattr(c, method)(url, **kw)
                    if r.status_code != 200:
                        failures.append(f"{url}: {r.status_code} {r.text[:200]}")
                    elif "x-bundle-generation" in r.headers:
                        generations.add(r.headers["x-bundle-generation"])
                except httpx.HTTPError as err:
                    failures.append(f"{url}: {err!r}")
                counts[n] += 1
                if reloaded.is_set():
                    after += 1
                    if after >= 5:
                        break

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for _ in range(600):  # wait until every worker is busy (bounded)
        if min(counts) >= 2:
            break
        time.sleep(0.05)
    r = client.post("/v1/admin/reload", json={"bundle": str(copy)}, headers={"Authorization": f"Bearer {ADMIN}"})
    reloaded.set()
    for t in threads:
        t.join(timeout=300)
    assert r.status_code == 200, r.text
    assert r.json()["bundle"]["generation"] == before + 1
    assert failures == [], failures[:5]
    assert sum(counts) >= 8 * 7
    assert str(before + 1) in generations
    text = client.get("/metrics").text
    assert metric(text, "kgjemb_bundle_info", path=str(copy.resolve())) == 1.0
    assert metric(text, "kgjemb_bundle_generation") == before + 1
    assert metric(text, "kgjemb_bundle_reloads_total", result="ok") >= 2
    assert metric(text, "kgjemb_http_requests_total", method="POST", route="/v1/search", status="200") >= 8
    assert metric(text, "kgjemb_http_request_duration_seconds_count", method="POST", route="/v1/search") >= 8
    assert metric(text, "kgjemb_search_batch_size_count") >= 1


def test_real_sighup_reloads_in_place(server, client):
    before = httpx.get(server.url + "/readyz").json()["bundle"]
    os.kill(server.pid, signal.SIGHUP)
    after = before
    for _ in range(1200):  # bounded wait for the background load
        after = httpx.get(server.url + "/readyz").json()["bundle"]
        if after["generation"] > before["generation"]:
            break
        time.sleep(0.1)
    assert after["generation"] == before["generation"] + 1
    assert after["path"] == before["path"] and after["checksum"] == before["checksum"]
    assert client.post("/v1/search", json={"query": "calm strings", "k": 2}).status_code == 200


def test_real_admin_disabled_timeout_and_batch_limit(strict_server):
    url = strict_server.url
    r = httpx.post(url + "/v1/admin/reload", json={}, headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 403 and "disabled" in r.json()["detail"]
    r = httpx.post(url + "/v1/search", json={"query": "a slow sad cello piece never asked before", "k": 3}, timeout=60)
    assert r.status_code == 504 and "did not answer" in r.json()["detail"]
    r = httpx.post(url + "/v1/search/batch", json={"queries": [{"query": "a"}] * 3}, timeout=60)
    assert r.status_code == 422 and "at most 2" in r.json()["detail"][0]["msg"]
    assert httpx.get(url + "/metrics").status_code == 200  # no API token configured: open


def test_real_head_health_and_undecodable_input(server, client):
    assert httpx.head(server.url + "/healthz").status_code == 200
    assert httpx.head(server.url + "/readyz").status_code == 200
    for body in SURROGATE_BODIES:
        route = "/v1/search/batch" if b"queries" in body else "/v1/search"
        r = client.post(route, content=body, headers={"content-type": "application/json"})
        assert r.status_code in (400, 422), (body, r.status_code, r.text)
        json.loads(r.content.decode("utf-8"))


def test_real_incomplete_request_head_is_closed(strict_server):
    """A connection that never completes its request head is closed after the header
    timeout (1 s here; slow-loris protection) while other requests are answered."""
    host, port = "127.0.0.1", strict_server.port
    with socket.create_connection((host, port), timeout=30) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
        assert httpx.get(strict_server.url + "/healthz").status_code == 200
        slow.settimeout(30)  # bounded wait: the server closes long before
        assert slow.recv(1024) == b""  # closed by the server
    with socket.create_connection((host, port), timeout=30) as idle:  # nothing sent at all
        idle.settimeout(30)
        assert idle.recv(1024) == b""


@pytest.mark.slow
def test_real_workers_share_one_metrics_view(bundle_dir):
    """``--workers 2``: whichever worker answers /metrics reports the requests of both
    (Prometheus multiprocess mode set up by the launcher)."""
    env = {"KGJEMB_API_TOKEN": "", "KGJEMB_ADMIN_TOKEN": "", "PROMETHEUS_MULTIPROC_DIR": ""}
    with ServerProcess(bundle_dir, env=env, args=["--workers", "2", "--log-level", "warning"]) as srv:
        n = 40
        for _ in range(n):  # a new connection each: the kernel spreads them over the workers
            assert httpx.get(srv.url + "/healthz").status_code == 200
        pids: set[str] = set()
        for _ in range(600):  # bounded wait until both workers have loaded the bundle
            text = httpx.get(srv.url + "/metrics").text
            assert metric(text, "kgjemb_http_requests_total", method="GET", route="/healthz", status="200") == n
            pids |= set(re.findall(r'kgjemb_bundle_generation\{pid="(\d+)"\}', text))
            if len(pids) == 2:
                break
            time.sleep(0.5)
        assert len(pids) == 2, text[-2000:]


def _sockets_by_pid(port: int, pids: list[int], state: str) -> dict[int, set[str]]:
    """Socket inodes on local ``port`` in TCP ``state`` ("01" established, "0A" listening)
    held by each of ``pids`` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == state and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    out = {}
    for pid in pids:
        fds = Path(f"/proc/{pid}/fd")
        links = [os.readlink(fd) for fd in fds.iterdir()] if fds.exists() else []
        out[pid] = {link[8:-1] for link in links if link.startswith("socket:[") and link[8:-1] in inodes}
    return out


@pytest.mark.slow
def test_real_workers_each_listen_so_a_burst_of_connections_is_spread(bundle_dir):
    """``--workers 2``: each worker listens on its own socket (SO_REUSEPORT), and the kernel
    spreads connections over them; 16 connections reach both workers. On one socket shared
    by the workers, the first worker woken accepts every waiting connection, and a burst
    of keep-alive connections often all land on one worker (8 of 8 in 3 of 4 bench runs)."""
    env = {"KGJEMB_API_TOKEN": "", "KGJEMB_ADMIN_TOKEN": "", "PROMETHEUS_MULTIPROC_DIR": ""}
    with ServerProcess(bundle_dir, env=env, args=["--workers", "2", "--log-level", "warning"]) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        workers = []
        for _ in range(600):  # bounded wait until both workers are up
            workers = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                       and _ppid(p) == srv.pid and "resource_tracker" not in _cmdline(p)]
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2
        listening = {}
        for _ in range(300):  # each worker listens once its app has started
            listening = _sockets_by_pid(port, workers, "0A")
            if all(listening.values()):
                break
            time.sleep(0.2)
        assert all(len(v) == 1 for v in listening.values()), listening
        assert len(set.union(*listening.values())) == 2  # two sockets, not one shared
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
        try:
            for c in clients:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for c in clients:
                c.settimeout(30)
                assert c.recv(4096).startswith(b"HTTP/1.1 200")
            held = {pid: len(v) for pid, v in _sockets_by_pid(port, workers, "01").items()}
        finally:
            for c in clients:
                c.close()
        assert sum(held.values()) == 16 and min(held.values()) > 0, held


def _ppid(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def test_connections_get_tcp_nodelay_even_from_a_protocol_0_listener():
    """uvicorn's --workers listener is socket(AF_INET, SOCK_STREAM) with protocol 0, for
    which asyncio leaves Nagle on: kept-alive responses then waited ~40 ms for a delayed
    ACK. The protocol sets TCP_NODELAY on every connection itself."""
    import asyncio
    import socket

    from kgjemb.serve.protocol import _no_delay

    async def check() -> tuple[int, int]:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, like uvicorn's bind_socket
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        seen: list[tuple[int, int]] = []
        done = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport):
                sock = transport.get_extra_info("socket")
                before = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                _no_delay(transport)
                seen.append((before, sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
                transport.close()
                done.set_result(None)

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        await asyncio.wait_for(done, 5)
        writer.close()
        server.close()
        await server.wait_closed()
        return seen[0]

    before, after = asyncio.run(check())
    assert before == 0, "asyncio started setting TCP_NODELAY on protocol-0 sockets; the workaround may go"
    assert after != 0
