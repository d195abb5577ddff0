"""Consents through the API: prepare -> wallet signs -> relay, listing, FHIR export, and every refusal."""

from __future__ import annotations

import time
from typing import Any

from api_world import ApiWorld, assert_problem
from eth_account import Account
from fhir.resources.R4B.consent import Consent as FhirConsent

from crypto import HpkePrivateKey, Identity
from ledger.consent import ConsentLedger


def _grant_body(now: int, patient: str, grantee: str, **extra: Any) -> dict[str, Any]:
    return {"action": "grant", "patient": patient, "grantee": grantee, "categories": ["ECG", "LAB"], "purposes": ["TREATMENT", "RESEARCH"], "valid_from": now - 60, "valid_until": now + 86400, **extra}


def _sign(signer: Identity, typed: dict[str, Any]) -> str:
    return signer.account.sign_typed_data(full_message=typed).signature.to_0x_hex()


def test_patient_grants_lists_exports_and_revokes(api: ApiWorld) -> None:
    patient = api.new_patient()
    me = api.as_patient(patient)
    prepared = me.post("/v1/consents/prepare", json=_grant_body(api.now(), patient.address, api.other.address, data_from=1_700_000_000))
    assert prepared.status_code == 200, prepared.text
    body = prepared.json()
    typed = body["typed_data"]
    network = me.get("/v1/network").json()
    assert typed["domain"]["verifyingContract"] == network["contracts"]["ConsentLedger"] and typed["domain"]["chainId"] == network["chain_id"]
    assert typed["primaryType"] == "GrantConsent" and typed["message"]["nonce"] == 1  # register used nonce 0
    # Ten minutes from the later of the chain's clock and the wall clock (geth's dev chain runs ahead under load).
    assert 540 <= typed["message"]["deadline"] - max(api.now(), int(time.time())) <= 600
    summary = body["summary"]
    assert api.other.name in summary and "LAB and ECG" in summary and "TREATMENT and RESEARCH" in summary and "2023-11-14" in summary

    relayed = me.post("/v1/consents/relay", json={"typed_data": typed, "signature": _sign(patient, typed)})
    assert relayed.status_code == 200, relayed.text
    answer = relayed.json()
    assert answer["consent_id"].startswith("0x") and len(answer["consent_id"]) == 66 and answer["block_number"] > 0

    listed = api.as_scope("read").get(f"/v1/patients/{patient.address}/consents").json()
    assert len(listed) == 1
    consent = listed[0]
    assert consent["grantee"] == api.other.address and consent["grantee_name"] == api.other.name
    assert consent["categories"] == ["LAB", "ECG"] and consent["purposes"] == ["TREATMENT", "RESEARCH"] and consent["status"] == "ACTIVE"
    assert consent["data_from"] == 1_700_000_000 and consent["data_until"] == 0 and consent["version"] == 1 and consent["consent_id"] == answer["consent_id"]
    assert me.get(f"/v1/patients/{patient.address}/consents").json() == listed

    exported = me.get(f"/v1/patients/{patient.address}/consents/{api.other.address}/fhir")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/fhir+json")
    resource = exported.json()
    FhirConsent.model_validate(resource)
    assert resource["status"] == "active" and resource["patient"]["identifier"]["value"] == patient.address
    provision = resource["provision"]
    assert provision["actor"][0]["reference"]["identifier"]["value"] == api.other.address and provision["actor"][0]["reference"]["display"] == api.other.name
    assert [c["code"] for c in provision["class"]] == ["LAB", "ECG"] and [p["code"] for p in provision["purpose"]] == ["TREAT", "HRESCH"]
    assert provision["dataPeriod"] == {"start": "2023-11-14T22:13:20Z"} and provision["period"]["end"].endswith("Z")
    assert resource["identifier"][0]["value"] == answer["consent_id"] and "dateTime" in resource

    revoke = me.post("/v1/consents/prepare", json={"action": "revoke", "patient": patient.address, "grantee": api.other.address}).json()
    assert "withdraw" in revoke["summary"]
    assert me.post("/v1/consents/relay", json={"typed_data": revoke["typed_data"], "signature": _sign(patient, revoke["typed_data"])}).status_code == 200
    assert api.as_scope("audit").get(f"/v1/patients/{patient.address}/consents").json()[0]["status"] == "REVOKED"
    assert me.get(f"/v1/patients/{patient.address}/consents/{api.other.address}/fhir").json()["status"] == "inactive"
    # nothing left to revoke: refused before anything is signed
    assert_problem(me.post("/v1/consents/prepare", json={"action": "revoke", "patient": patient.address, "grantee": api.other.address}), 409, "no-active-consent")


def test_delegate_grants_for_the_patient(api: ApiWorld) -> None:
    patient = api.new_patient()
    guardian = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    prepared = api.as_patient(patient).post("/v1/consents/prepare", json={"action": "delegate", "patient": patient.address, "delegate": guardian.address}).json()
    assert "delegate" in prepared["summary"]
    api.relay_signed(patient, {"action": "delegate", "patient": patient.address, "delegate": guardian.address}, client=api.as_patient(patient))

    as_guardian = api.as_patient(guardian)
    # the delegate acts for the patient: its own nonce, its signature, the patient's consent
    prepared = as_guardian.post("/v1/consents/prepare", json=_grant_body(api.now(), patient.address, api.hospital.address, signer=guardian.address))
    assert prepared.status_code == 200, prepared.text
    assert "As delegate of patient" in prepared.json()["summary"] and prepared.json()["typed_data"]["message"]["nonce"] == 0
    typed = prepared.json()["typed_data"]
    relayed = as_guardian.post("/v1/consents/relay", json={"typed_data": typed, "signature": _sign(guardian, typed)})
    assert relayed.status_code == 200, relayed.text
    assert api.as_scope("read").get(f"/v1/patients/{patient.address}/consents").json()[0]["status"] == "ACTIVE"

    # a stranger cannot claim to be the delegate
    stranger = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    assert_problem(api.as_scope("relay").post("/v1/consents/prepare", json=_grant_body(api.now(), patient.address, api.hospital.address, signer=stranger.address)), 422)
    # the delegate may not change delegates (only the patient may)
    delegate_msg = api.as_scope("relay").post("/v1/consents/prepare", json={"action": "delegate", "patient": patient.address, "delegate": None}).json()["typed_data"]
    assert_problem(as_guardian.post("/v1/consents/relay", json={"typed_data": delegate_msg, "signature": _sign(guardian, delegate_msg)}), 403)


def test_relay_checks_signature_before_spending_gas(api: ApiWorld) -> None:
    patient = api.new_patient()
    relay = api.as_scope("relay")
    typed = relay.post("/v1/consents/prepare", json=_grant_body(api.now(), patient.address, api.hospital.address)).json()["typed_data"]
    ledger = ConsentLedger(api.net.ledger())
    hospital_nonce = api.net.w3.eth.get_transaction_count(api.hospital.address)
    before = ledger.nonce(patient.address)

    forged = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    problem = assert_problem(relay.post("/v1/consents/relay", json={"typed_data": typed, "signature": _sign(forged, typed)}), 422)
    assert "neither the patient nor its delegate" in problem["detail"]
    tampered = {**typed, "message": {**typed["message"], "categories": 127}}
    assert_problem(relay.post("/v1/consents/relay", json={"typed_data": tampered, "signature": _sign(patient, typed)}), 422)
    other_domain = {**typed, "domain": {**typed["domain"], "chainId": 1}}
    assert "domain" in assert_problem(relay.post("/v1/consents/relay", json={"typed_data": other_domain, "signature": _sign(patient, other_domain)}), 422)["detail"]
    extra_type = {**typed, "types": {**typed["types"], "GrantConsent": typed["types"]["GrantConsent"][:-1]}}
    assert_problem(relay.post("/v1/consents/relay", json={"typed_data": extra_type, "signature": _sign(patient, typed)}), 422)
    assert_problem(relay.post("/v1/consents/relay", json={"typed_data": typed, "signature": "0x1234"}), 422)
    assert_problem(relay.post("/v1/consents/relay", json={"typed_data": {"primaryType": "Transfer"}, "signature": "0x00"}), 422)
    assert api.net.w3.eth.get_transaction_count(api.hospital.address) == hospital_nonce and ledger.nonce(patient.address) == before

    signature = _sign(patient, typed)
    assert relay.post("/v1/consents/relay", json={"typed_data": typed, "signature": signature}).status_code == 200
    replay = assert_problem(relay.post("/v1/consents/relay", json={"typed_data": typed, "signature": signature}), 409, "stale-nonce")
    assert "prepare and sign it again" in replay["detail"]


def test_expired_and_contract_refused_messages(api: ApiWorld) -> None:
    patient = api.new_patient()
    relay = api.as_scope("relay")
    typed = relay.post("/v1/consents/prepare", json=_grant_body(api.now(), patient.address, api.hospital.address)).json()["typed_data"]
    expired = {**typed, "message": {**typed["message"], "deadline": int(time.time()) - 10}}
    assert "deadline" in assert_problem(relay.post("/v1/consents/relay", json={"typed_data": expired, "signature": _sign(patient, expired)}), 422)["detail"]

    now = api.now()
    past = relay.post("/v1/consents/prepare", json={**_grant_body(api.now(), patient.address, api.hospital.address), "valid_from": now - 7200, "valid_until": now - 3600}).json()["typed_data"]
    refused = assert_problem(relay.post("/v1/consents/relay", json={"typed_data": past, "signature": _sign(patient, past)}), 422, "contract-refused")
    assert refused["error"] == "InvalidValidityPeriod"
    assert api.as_scope("read").get(f"/v1/patients/{patient.address}/consents").json() == []


def test_prepare_refusals(api: ApiWorld) -> None:
    patient, other = api.new_patient(register=False), api.new_patient(register=False)
    relay = api.as_scope("relay")
    assert_problem(relay.post("/v1/consents/prepare", json=_grant_body(api.now(), patient.address, other.address)), 422)  # grantee is not a member
    assert_problem(relay.post("/v1/consents/prepare", json={**_grant_body(api.now(), patient.address, api.hospital.address), "categories": ["XRAY"]}), 422)
    assert_problem(relay.post("/v1/consents/prepare", json={**_grant_body(api.now(), patient.address, api.hospital.address), "valid_until": 5}), 422)
    assert_problem(relay.post("/v1/consents/prepare", json={"action": "register", "patient": patient.address, "hpke_public_key": "0x0102"}), 422)
    assert_problem(relay.post("/v1/consents/prepare", json={"action": "launch", "patient": patient.address}), 422)
    assert_problem(relay.post("/v1/consents/prepare", json={"action": "delegate", "patient": patient.address, "delegate": None}), 409, "no-delegate")
    assert_problem(relay.post("/v1/consents/prepare", json={"action": "delegate", "patient": patient.address, "delegate": patient.address}), 422)
    # patient tokens act only for themselves
    assert_problem(api.as_patient(other).post("/v1/consents/prepare", json=_grant_body(api.now(), patient.address, api.hospital.address)), 403, "forbidden")
    assert_problem(api.as_patient(patient).get(f"/v1/patients/{patient.address}/consents/{api.hospital.address}/fhir"), 404, "not-found")
