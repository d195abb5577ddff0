"""A delegate (guardian or carer) acts for the patient through its own session: it reads the patient's records
(keys re-wrapped to its own registered key, the read logged on chain, DelegateAccessLog, before the key is returned),
access log, consents and cards, grants and revokes consent; a stranger is refused, a removed delegate is refused at
once (by the API and by the contract itself), and what stays the patient's alone (erasure, key shares) stays so."""

from __future__ import annotations

import json
from typing import Any

from api_world import ApiWorld, assert_problem, ecg_observation

from crypto import Identity
from crypto.record_object import RecordObject
from ledger.delegate_reads import DelegateAccessLog
from tests.support.reverts import refused


def _appoint(api: ApiWorld, patient: Identity, delegate: Identity | None) -> None:
    body = {"action": "delegate", "patient": patient.address, "delegate": delegate.address if delegate else None}
    api.relay_signed(patient, body, client=api.as_patient(patient))


def _sign(signer: Identity, typed: dict[str, Any]) -> str:
    return signer.account.sign_typed_data(full_message=typed).signature.to_0x_hex()


def _read_as_delegate(session: Any, delegate: Identity, record_id: str) -> dict[str, Any]:
    """What the delegate's wallet does: the sealed object, and a key wrap for its own key; decrypted here."""
    sealed = session.get(f"/v1/records/{record_id}/sealed")
    assert sealed.status_code == 200, sealed.text
    obj = RecordObject.decode(sealed.content)
    assert obj.wrap_for(delegate.address) is None  # the record itself was never encrypted to the delegate
    released = session.post("/v1/keys/delegate", json={"record_ids": [record_id]})
    assert released.status_code == 200, released.text
    assert len(released.json()["transaction_hashes"]) == 1  # one patient: one log transaction, mined before the answer
    wraps = released.json()["wraps"]
    assert [w["record_id"] for w in wraps] == [record_id] and wraps[0]["version"] == obj.version
    return dict(json.loads(obj.open(delegate.hpke_key, bytes.fromhex(wraps[0]["wrap"][2:]))))


def test_delegate_reads_and_acts_for_the_patient_until_removed(api: ApiWorld) -> None:
    patient, uploaded = api.patient_with_record(ecg_observation(seed=17))
    record_id = uploaded["record_id"]
    guardian, stranger = api.new_patient(), api.new_patient()
    _appoint(api, patient, guardian)
    as_guardian, as_stranger = api.as_patient(guardian), api.as_patient(stranger)

    # The guardian's session reaches the patient's data, the chain says whose delegate it is.
    assert as_guardian.get(f"/v1/patients/{patient.address}/delegate").json()["delegate"] == guardian.address
    listed = as_guardian.get(f"/v1/patients/{patient.address}/records")
    assert listed.status_code == 200, listed.text
    assert [row["record_id"] for row in listed.json()] == [record_id]
    for path in ("consents", "access-log", "cards", "claims"):
        answer = as_guardian.get(f"/v1/patients/{patient.address}/{path}")
        assert answer.status_code == 200, (path, answer.text)
    assert as_guardian.get(f"/v1/records/{record_id}/verification").json()["sha256_ok"] is True

    # It reads the record with its own key; the read shows in the patient's access log as the guardian's.
    resource = _read_as_delegate(as_guardian, guardian, record_id)
    assert resource["valueSampledData"]["data"] == ecg_observation(seed=17)["valueSampledData"]["data"]
    log = api.as_patient(patient).get(f"/v1/patients/{patient.address}/access-log").json()
    delegate_reads = [entry for entry in log if entry["reader"] == guardian.address]
    assert len(delegate_reads) == 1 and delegate_reads[0]["record_ids"] == [record_id]
    entry = delegate_reads[0]
    assert entry["flow"] == "delegate" and entry["on_chain"] is True and entry["institution"] == api.hospital.address
    # The chain holds the read: the transaction's receipt carries the DelegateRecordsAccessed event.
    ledger = api.net.ledger()
    on_chain = DelegateAccessLog(ledger).reads_of(patient.address)
    assert [(r.delegate, r.institution, ["0x" + i.hex() for i in r.record_ids], r.transaction_hash, r.block_number) for r in on_chain] == [
        (guardian.address, api.hospital.address, [record_id], entry["transaction_hash"], entry["block_number"])]
    receipt = api.net.w3.eth.get_transaction_receipt(entry["transaction_hash"])
    assert receipt["status"] == 1 and receipt["to"] == ledger.deployments.address_of("DelegateAccessLog")
    assert entry["timestamp"] == api.net.w3.eth.get_block(entry["block_number"])["timestamp"]

    # It grants and revokes consent for the patient, signing with its own key.
    now = api.now()
    grant = {"action": "grant", "patient": patient.address, "grantee": api.other.address, "categories": ["LAB"], "purposes": ["TREATMENT"],
             "valid_from": now - 60, "valid_until": now + 3600, "signer": guardian.address}
    prepared = as_guardian.post("/v1/consents/prepare", json=grant).json()
    assert "As delegate of patient" in prepared["summary"]
    relayed = as_guardian.post("/v1/consents/relay", json={"typed_data": prepared["typed_data"], "signature": _sign(guardian, prepared["typed_data"])})
    assert relayed.status_code == 200, relayed.text
    consents = {c["grantee"]: c["status"] for c in as_guardian.get(f"/v1/patients/{patient.address}/consents").json()}
    assert consents[api.other.address] == "ACTIVE"
    revoke = {"action": "revoke", "patient": patient.address, "grantee": api.other.address, "signer": guardian.address}
    typed = as_guardian.post("/v1/consents/prepare", json=revoke).json()["typed_data"]
    assert as_guardian.post("/v1/consents/relay", json={"typed_data": typed, "signature": _sign(guardian, typed)}).status_code == 200
    consents = {c["grantee"]: c["status"] for c in as_guardian.get(f"/v1/patients/{patient.address}/consents").json()}
    assert consents[api.other.address] == "REVOKED"

    # What stays the patient's own: erasure (the contract checks the patient's signature) and key shares (made
    # with the patient's key).
    assert_problem(as_guardian.post(f"/v1/records/{record_id}/erasure/prepare"), 403)
    assert_problem(as_guardian.post("/v1/keys/shares", json={"grantee": api.hospital.address, "wraps": {record_id: "0x00"}}), 403)

    # A stranger gets nothing, and no key.
    for path in ("records", "consents", "access-log", "cards", "claims", "delegate"):
        assert_problem(as_stranger.get(f"/v1/patients/{patient.address}/{path}"), 403)
    assert_problem(as_stranger.get(f"/v1/records/{record_id}/sealed"), 403)
    assert_problem(as_stranger.post("/v1/keys/delegate", json={"record_ids": [record_id]}), 403)
    # ... nor does the patient get a "delegate" key release for itself (its own wrap is in the record).
    assert_problem(api.as_patient(patient).post("/v1/keys/delegate", json={"record_ids": [record_id]}), 403)

    # Removed: the guardian's same session is refused from the next block on.
    _appoint(api, patient, None)
    for path in ("records", "consents", "access-log", "delegate"):
        assert_problem(as_guardian.get(f"/v1/patients/{patient.address}/{path}"), 403)
    assert_problem(as_guardian.get(f"/v1/records/{record_id}/sealed"), 403)
    assert_problem(as_guardian.post("/v1/keys/delegate", json={"record_ids": [record_id]}), 403)
    log = api.as_patient(patient).get(f"/v1/patients/{patient.address}/access-log").json()
    assert len([entry for entry in log if entry["reader"] == guardian.address]) == 1  # refused releases are not reads
    # Even an API that skipped its own check could not log (so, by the rule, not release) the removed guardian's read:
    # the contract refuses it. (Sent as the other member: a refused call is never mined, so no API nonce is touched.)
    contract_log = DelegateAccessLog(ledger)
    refused("NotCurrentDelegate", contract_log.log_reads, ledger.sender(api.other.identity.account), guardian.address, [bytes.fromhex(record_id[2:])])
    assert len(contract_log.reads_of(patient.address)) == 1


def test_delegate_without_a_registered_key_gets_no_key(api: ApiWorld) -> None:
    patient, uploaded = api.patient_with_record()
    carer = api.new_patient(register=False)
    _appoint(api, patient, carer)
    as_carer = api.as_patient(carer)
    assert as_carer.get(f"/v1/patients/{patient.address}/records").status_code == 200
    assert_problem(as_carer.post("/v1/keys/delegate", json={"record_ids": [uploaded["record_id"]]}), 409, "patient-not-registered")
    log = api.as_patient(patient).get(f"/v1/patients/{patient.address}/access-log").json()
    assert all(entry["reader"] != carer.address for entry in log)


def test_delegate_release_is_all_or_nothing(api: ApiWorld) -> None:
    """One unknown record among those asked for: no key is released and nothing is journalled."""
    patient, uploaded = api.patient_with_record()
    guardian = api.new_patient()
    _appoint(api, patient, guardian)
    unknown = "0x" + "ee" * 32
    assert_problem(api.as_patient(guardian).post("/v1/keys/delegate", json={"record_ids": [uploaded["record_id"], unknown]}), 404)
    log = api.as_patient(patient).get(f"/v1/patients/{patient.address}/access-log").json()
    assert all(entry["reader"] != guardian.address for entry in log)  # all or nothing: nothing journalled
