"""Hostile JSON bodies get a clear problem and the API keeps serving: the stdlib scanner once overflowed the C stack
on deep nesting (py_ecc raises the recursion limit), taking the whole institution API down."""

from __future__ import annotations

import httpx
import pytest
from api_world import ApiWorld, assert_problem

DEEP = 100_000


@pytest.mark.parametrize(
    "body",
    [b"[" * DEEP + b"]" * DEEP, b'{"action": "grant", "categories": ' + b"[" * DEEP + b"]" * DEEP + b"}", b"{" + b'"a":{' * DEEP + b"}" * (DEEP + 1)],
    ids=["arrays", "inside-a-field", "objects"],
)
def test_deeply_nested_body_is_refused_and_the_api_stays_up(api: ApiWorld, http: httpx.Client, body: bytes) -> None:
    relay = api.as_scope("relay")
    for client, path in ((http, "/v1/auth/challenge"), (relay, "/v1/consents/prepare"), (api.as_scope("write"), f"/v1/patients/{api.hospital.address}/records")):
        problem = assert_problem(client.post(path, content=body, headers={"Content-Type": "application/json"}), 422, "malformed-json")
        assert "1,024 levels" in problem["detail"]
    assert http.get("/health").status_code == 200


def test_json_media_types_are_all_checked(api: ApiWorld, http: httpx.Client) -> None:
    body = b"[" * DEEP + b"]" * DEEP
    for media_type in ("application/json; charset=utf-8", "application/fhir+json", "APPLICATION/JSON"):
        assert_problem(http.post("/v1/auth/challenge", content=body, headers={"Content-Type": media_type}), 422, "malformed-json")
    assert http.get("/health").status_code == 200


def test_ordinary_bodies_still_parse(api: ApiWorld, http: httpx.Client) -> None:
    patient = api.new_patient()
    answer = http.post("/v1/auth/challenge", json={"address": patient.address})
    assert answer.status_code == 200, answer.text
    assert_problem(http.post("/v1/auth/challenge", content=b"{not json", headers={"Content-Type": "application/json"}), 422, "malformed-json")
