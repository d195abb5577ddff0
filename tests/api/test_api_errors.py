"""Every failure is an RFC 9457 problem: 404, 405, validation, oversized bodies, unavailable chain / IPFS; metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
from api_world import ApiWorld, assert_problem

from api.app import create_app
from api.settings import ApiSettings
from tests.conftest import free_port


def test_unknown_route_and_method(api: ApiWorld, http: httpx.Client) -> None:
    assert "no resource" in assert_problem(http.get("/v1/nothing-here"), 404, "not-found")["detail"]
    assert_problem(http.delete("/health"), 405, "method-not-allowed")
    assert_problem(api.as_scope("read").put("/v1/network"), 405)


def test_validation_problem_lists_each_issue(api: ApiWorld) -> None:
    problem = assert_problem(api.as_scope("admin").post("/v1/admin/tokens", json={"name": "", "scopes": ["root"]}), 422, "invalid-request")
    locations = {issue["location"] for issue in problem["errors"]}
    assert {"body.name", "body.scopes.0"} <= locations
    assert_problem(api.as_scope("read").get("/v1/patients/0xnot-an-address/consents"), 422)
    mixed_case_typo = "0x5B38Da6a701c568545dCfcB03FcB875f56beddc4"  # last digit's case breaks EIP-55
    assert "checksum" in assert_problem(api.as_scope("read").get(f"/v1/patients/{mixed_case_typo}/consents"), 422)["detail"]


def test_oversized_bodies_are_refused_before_reading(api: ApiWorld, http: httpx.Client) -> None:
    limit = api.app.state.services.settings.max_body_bytes
    big = b"{" + b" " * limit + b"}"
    assert "limited to" in assert_problem(http.post("/v1/auth/challenge", content=big, headers={"Content-Type": "application/json"}), 413, "payload-too-large")["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(limit // (1 << 20) + 2):
            yield b" " * (1 << 20)

    streamed = api.as_scope("write").post("/v1/patients/0x5B38Da6a701c568545dCfcB03FcB875f56beddC4/records", content=chunks(), headers={"Content-Type": "application/json"})
    assert_problem(streamed, 413, "payload-too-large")


def test_admin_creates_tokens_that_work(api: ApiWorld) -> None:
    created = api.as_scope("admin").post("/v1/admin/tokens", json={"name": "ward-reader", "scopes": ["read", "audit"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["token"].startswith("hs_") and body["scopes"] == ["audit", "read"] and body["name"] == "ward-reader"
    assert api.client(body["token"]).get("/v1/members").status_code == 200
    assert_problem(api.client(body["token"]).post("/v1/admin/tokens", json={"name": "x", "scopes": ["admin"]}), 403)
    # only the hash is stored
    assert body["token"].encode() not in (api.data_dir / "auth.sqlite3").read_bytes()


def test_metrics_count_routes_relays_and_errors(api: ApiWorld) -> None:
    api.as_scope("read").get("/v1/members")
    text = api.as_scope("audit").get("/metrics")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    body = text.text
    assert 'healthsilk_api_requests_total{method="GET",route="/v1/members",status="200"}' in body
    assert 'healthsilk_api_request_seconds_bucket{le="0.005",method="GET",route="/v1/members"}' in body
    assert "healthsilk_api_relays_total" in body and "healthsilk_api_chain_errors_total" in body
    assert 'route="/v1/patients/{address}/records"' in body or 'route="/v1/members"' in body


def test_unreachable_chain_and_ipfs_are_503(api: ApiWorld, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = ApiSettings(data_dir=tmp_path, gateway_url=dead, deployments_file=api.net.settings.deployments_file, ipfs_api=dead)
    app = create_app(settings, api.hospital.identity)
    token = app.state.services.auth.create_token("t", frozenset({"read", "audit"}))

    async def scenario() -> None:  # in-process ASGI: this app never listens anywhere
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", headers={"Authorization": f"Bearer {token}"}) as client:
            assert (await client.get("/health")).status_code == 200
            ready = assert_problem(await client.get("/ready"), 503, "not-ready")
            assert not ready["checks"]["chain"]["ok"] and not ready["checks"]["ipfs"]["ok"]
            assert_problem(await client.get("/v1/members"), 503, "chain-unavailable")
            assert_problem(await client.get("/v1/records/0x" + "ab" * 32 + "/verification"), 503, "chain-unavailable")
            assert 'healthsilk_api_chain_errors_total{kind="chain_unavailable"}' in (await client.get("/metrics")).text

    asyncio.run(scenario())
