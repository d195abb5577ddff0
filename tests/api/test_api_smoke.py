"""Smoke tests over real HTTP: liveness, readiness, network description, directory, patient sign-in."""

from __future__ import annotations

import time

import httpx
from api_world import ApiWorld, assert_problem
from eth_account import Account
from eth_account.messages import encode_defunct

from ledger.care_flows import care_flow_contracts


def test_health_and_ready(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}
    ready = http.get("/ready")
    assert ready.status_code == 200, ready.text
    assert {name for name, check in ready.json()["checks"].items() if check["ok"]} == {"chain", "ipfs", "membership"}


def test_network_names_this_institution_and_contracts(api: ApiWorld) -> None:
    body = api.as_scope("read").get("/v1/network").json()
    assert body["chain_id"] == api.net.settings.chain_id
    assert body["institution"] == {"address": api.hospital.address, "name": api.hospital.name, "country": "BJ"}
    ledger = api.net.ledger()
    listed = ("ConsortiumRegistry", "ConsentLedger", "RecordRegistry", "HealthCardPayments", *care_flow_contracts())  # wallets check EIP-712 domains
    assert body["contracts"] == {name: ledger.deployments.address_of(name) for name in listed}


def test_members_directory(api: ApiWorld) -> None:
    members = {m["address"]: m for m in api.as_scope("audit").get("/v1/members").json()}
    hospital = members[api.hospital.address]
    assert hospital["name"] == api.hospital.name and hospital["roles"] == ["PROVIDER"] and hospital["status"] == "ACTIVE"
    assert hospital["hpke_public_key"] == api.hospital.identity.hpke_public_key.to_hex()
    assert all(g.address in members for g in api.net.governors)


def test_patient_sign_in_round_trip(api: ApiWorld, http: httpx.Client) -> None:
    patient = Account.create()
    issued = http.post("/v1/auth/challenge", json={"address": patient.address.lower()}).json()
    text = issued["challenge"]
    assert api.hospital.name in text and api.hospital.address in text and patient.address in text
    assert issued["expires_at"] - time.time() > 250
    signature = patient.sign_message(encode_defunct(text=text)).signature.to_0x_hex()
    session = http.post("/v1/auth/session", json={"address": patient.address, "challenge": text, "signature": signature})
    assert session.status_code == 200, session.text
    body = session.json()
    assert body["address"] == patient.address and body["token"].startswith("hsp_") and 800 < body["expires_at"] - time.time() <= 900
    me = http.get("/v1/network", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    # single use: the same signed challenge cannot open a second session
    assert_problem(http.post("/v1/auth/session", json={"address": patient.address, "challenge": text, "signature": signature}), 401, "unauthorized")


def test_sign_in_refusals(http: httpx.Client) -> None:
    patient, intruder = Account.create(), Account.create()
    text = http.post("/v1/auth/challenge", json={"address": patient.address}).json()["challenge"]
    wrong = intruder.sign_message(encode_defunct(text=text)).signature.to_0x_hex()
    assert_problem(http.post("/v1/auth/session", json={"address": patient.address, "challenge": text, "signature": wrong}), 401)
    # the failed attempt used the challenge up
    right = patient.sign_message(encode_defunct(text=text)).signature.to_0x_hex()
    assert_problem(http.post("/v1/auth/session", json={"address": patient.address, "challenge": text, "signature": right}), 401)
    # a challenge issued to one address cannot be answered for another
    text = http.post("/v1/auth/challenge", json={"address": patient.address}).json()["challenge"]
    signed = intruder.sign_message(encode_defunct(text=text)).signature.to_0x_hex()
    assert_problem(http.post("/v1/auth/session", json={"address": intruder.address, "challenge": text, "signature": signed}), 401)
    # made-up challenge text
    fake = "healthsilk patient sign-in\nNonce: " + "ab" * 16
    assert_problem(http.post("/v1/auth/session", json={"address": patient.address, "challenge": fake, "signature": patient.sign_message(encode_defunct(text=fake)).signature.to_0x_hex()}), 401)
    assert_problem(http.post("/v1/auth/challenge", json={"address": "0x1234"}), 422, "invalid-request")


def test_expired_challenge_is_refused(api: ApiWorld, http: httpx.Client) -> None:
    from api.auth.store import Challenge

    patient = Account.create()
    text = "healthsilk patient sign-in\nNonce: " + "cd" * 16
    api.app.state.services.auth.add_challenge(Challenge("cd" * 16, patient.address, text, int(time.time()) - 1))
    signature = patient.sign_message(encode_defunct(text=text)).signature.to_0x_hex()
    problem = assert_problem(http.post("/v1/auth/session", json={"address": patient.address, "challenge": text, "signature": signature}), 401)
    assert "expired" in problem["detail"]
