"""Authorisation matrix: every route x {no auth, bad token, each scope, patient self, other patient}.

A cell is 401 (not authenticated), 403 (authenticated, not allowed) or "allowed" (any other status: the
request got past authorisation; bodies are chosen so allowed calls change little or nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from api_world import ApiWorld, assert_problem

from api.auth.store import SCOPES
from crypto import Identity

SCOPE_CALLERS = tuple(SCOPES)
CALLERS = ("none", "bad", *SCOPE_CALLERS, "self", "other")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    allowed: frozenset[str]
    body: Callable[["Fixture"], Any] | None = None


@dataclass
class Fixture:
    api: ApiWorld
    patient: Identity
    other: Identity
    record_id: str
    tokens: dict[str, str]


def _every(*callers: str) -> frozenset[str]:
    return frozenset(callers)


VALID = _every(*SCOPE_CALLERS, "self", "other")
ROUTES = (
    Route("GET", "/metrics", _every("admin", "audit")),
    Route("GET", "/v1/network", VALID),
    Route("GET", "/v1/members", VALID),
    Route("POST", "/v1/consents/prepare", _every("relay", "self"), lambda f: {"action": "delegate", "patient": f.patient.address, "delegate": f.api.other.address}),
    Route("POST", "/v1/consents/relay", _every("relay", "self"), lambda f: f.relay_body),  # type: ignore[attr-defined]
    Route("GET", "/v1/patients/{patient}/consents", _every("read", "audit", "self")),
    Route("GET", "/v1/patients/{patient}/consents/{hospital}/fhir", _every("read", "audit", "self")),
    Route("POST", "/v1/patients/{patient}/records", _every("write"), lambda f: {"resourceType": "Encounter"}),
    Route("GET", "/v1/patients/{patient}/records", _every("read", "self")),
    Route("GET", "/v1/records/{record}", _every("read")),
    Route("GET", "/v1/records/{record}/verification", _every("read", "audit", "self")),
    Route("GET", "/v1/records/{record}/sealed", _every("self")),
    Route("POST", "/v1/keys/shares", _every("self"), lambda f: {"grantee": f.api.hospital.address, "wraps": {f.record_id: "0x0101"}}),
    Route("GET", "/v1/patients/{patient}/access-log", _every("audit", "self")),
    Route("POST", "/v1/admin/tokens", _every("admin"), lambda f: {"name": "matrix", "scopes": ["read"]}),
)


@pytest.fixture(scope="module")
def fixture(api: ApiWorld) -> Fixture:
    patient, uploaded = api.patient_with_record()
    other = api.new_patient()
    tokens = {"bad": "hs_" + "0" * 12 + "x" * 43, **{scope: api.tokens[scope] for scope in SCOPE_CALLERS}, "self": api.sign_in(patient), "other": api.sign_in(other)}
    f = Fixture(api, patient, other, uploaded["record_id"], tokens)
    typed = api.as_scope("relay").post("/v1/consents/prepare", json={"action": "delegate", "patient": patient.address, "delegate": api.other.address}).json()["typed_data"]
    f.relay_body = {"typed_data": typed, "signature": "0x" + "11" * 65}  # type: ignore[attr-defined]  # well-formed, never valid
    return f


def _call(f: Fixture, route: Route, caller: str) -> httpx.Response:
    path = route.path.format(patient=f.patient.address, hospital=f.api.hospital.address, record=f.record_id)
    headers = {"Authorization": f"Bearer {f.tokens[caller]}"} if caller != "none" else {}
    with httpx.Client(base_url=f.api.url, timeout=60) as client:
        return client.request(route.method, path, headers=headers, json=route.body(f) if route.body else None)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_authorisation_matrix(fixture: Fixture, route: Route) -> None:
    outcomes: dict[str, int] = {}
    for caller in CALLERS:
        response = _call(fixture, route, caller)
        outcomes[caller] = response.status_code
        if caller in ("none", "bad"):
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"
        elif caller in route.allowed:
            assert response.status_code not in (401, 403), f"{caller} should be allowed: {response.status_code} {response.text[:300]}"
            assert response.status_code < 500, response.text[:300]
        else:
            assert_problem(response, 403, "forbidden")
    print(route.method, route.path, outcomes)


def test_expired_patient_session_is_401(api: ApiWorld) -> None:
    patient = api.new_patient(register=False)
    token = api.sign_in(patient)
    with api.app.state.services.auth._tx() as db:  # age the session in place
        db.execute("UPDATE sessions SET expires_at = 0 WHERE id = ?", (token[4:16],))
    assert "expired" in assert_problem(api.client(token).get("/v1/network"), 401)["detail"]


def test_public_routes_need_no_token(api: ApiWorld, http: httpx.Client) -> None:
    assert http.get("/health").status_code == 200
    assert http.get("/ready").status_code == 200
    assert http.post("/v1/auth/challenge", json={"address": api.hospital.address}).status_code == 200
    assert http.get("/openapi.json").status_code == 200
