"""Patient-requested erasure through the API: prepare, sign in the 'wallet', relay, purge; and every refusal before gas."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from api_world import ApiWorld, assert_problem

from crypto import Identity
from ledger.records import RecordRegistry
from network.ipfs_client import IpfsClient, IpfsNotFound


def _prepare(client: httpx.Client, record_id: str) -> dict[str, Any]:
    prepared = client.post(f"/v1/records/{record_id}/erasure/prepare")
    assert prepared.status_code == 200, prepared.text
    return dict(prepared.json())


def _sign(patient: Identity, typed: dict[str, Any]) -> str:
    return patient.account.sign_typed_data(full_message=typed).signature.to_0x_hex()


def test_patient_erases_a_record(api: ApiWorld) -> None:
    patient, uploaded = api.patient_with_record()
    record_id, cid = uploaded["record_id"], uploaded["cid"]
    registry = RecordRegistry(api.net.ledger())
    rid = bytes.fromhex(record_id[2:])
    me = api.as_patient(patient)
    with IpfsClient(api.net.settings.ipfs_url) as ipfs:
        assert ipfs.is_pinned(cid)
        nonce_before = registry.nonce(patient.address)

        prepared = _prepare(me, record_id)
        typed, summary = prepared["typed_data"], prepared["summary"]
        assert typed["primaryType"] == "RequestErasure"
        assert typed["domain"]["verifyingContract"] == registry.domain.verifying_contract and typed["domain"]["chainId"] == registry.domain.chain_id
        assert typed["message"]["patient"] == patient.address and typed["message"]["recordId"] == record_id and typed["message"]["nonce"] == nonce_before
        assert "ECG" in summary and api.hospital.name in summary and record_id in summary and "cannot be undone" in summary

        erased = me.post(f"/v1/records/{record_id}/erasure", json={"typed_data": typed, "signature": _sign(patient, typed)})
        assert erased.status_code == 200, erased.text
        body = erased.json()
        assert body["purged"] is True and body["record_id"] == record_id and body["transaction_hash"].startswith("0x") and body["block_number"] > 0

        state = registry.state(rid)
        assert state is not None and state.erased and registry.nonce(patient.address) == nonce_before + 1
        assert not ipfs.is_pinned(cid)
        try:
            ipfs.cat(cid)
            served = True
        except IpfsNotFound:
            served = False
        assert not served, "the erased payload is still served after GC"

    # reads now refuse it: institution read, the patient's sealed copy; the listing shows it erased
    assert_problem(api.as_scope("read").get(f"/v1/records/{record_id}"), 410, "record-erased")
    assert_problem(me.get(f"/v1/records/{record_id}/sealed"), 410, "record-erased")
    (listed,) = me.get(f"/v1/patients/{patient.address}/records").json()
    assert listed["erased"] is True
    # erasing twice: the record is already erased (409), nothing is sent
    assert_problem(me.post(f"/v1/records/{record_id}/erasure/prepare"), 409, "record-already-erased")
    assert_problem(me.post(f"/v1/records/{record_id}/erasure", json={"typed_data": typed, "signature": _sign(patient, typed)}), 409)


def test_only_the_records_patient_may_erase(api: ApiWorld) -> None:
    patient, uploaded = api.patient_with_record()
    record_id = uploaded["record_id"]
    stranger = api.new_patient()
    typed = _prepare(api.as_patient(patient), record_id)["typed_data"]
    signature = _sign(patient, typed)

    for client in (api.as_patient(stranger), api.as_scope("relay"), api.as_scope("all")):
        assert_problem(client.post(f"/v1/records/{record_id}/erasure/prepare"), 403)
        assert_problem(client.post(f"/v1/records/{record_id}/erasure", json={"typed_data": typed, "signature": signature}), 403)
    assert_problem(httpx.post(f"{api.url}/v1/records/{record_id}/erasure/prepare", timeout=30), 401)
    assert_problem(api.as_patient(patient).post(f"/v1/records/0x{'ab' * 32}/erasure/prepare"), 404)
    state = RecordRegistry(api.net.ledger()).state(bytes.fromhex(record_id[2:]))
    assert state is not None and not state.erased


def test_tampered_typed_data_is_refused_before_gas(api: ApiWorld) -> None:
    patient, uploaded = api.patient_with_record()
    record_id = uploaded["record_id"]
    _, other_record = api.patient_with_record()
    me = api.as_patient(patient)
    typed = _prepare(me, record_id)["typed_data"]
    registry = RecordRegistry(api.net.ledger())
    sender = api.hospital.address
    nonce_before, tx_count = registry.nonce(patient.address), api.net.ledger().w3.eth.get_transaction_count(sender)

    def tampered(path: tuple[str, ...], value: Any) -> dict[str, Any]:
        changed = copy.deepcopy(typed)
        target = changed
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return changed

    consent_ledger = api.net.ledger().deployments.address_of("ConsentLedger")
    cases = [
        tampered(("domain", "verifyingContract"), consent_ledger),
        tampered(("domain", "chainId"), typed["domain"]["chainId"] + 1),
        tampered(("types", "RequestErasure"), list(reversed(typed["types"]["RequestErasure"]))),
        tampered(("message", "recordId"), other_record["record_id"]),
        tampered(("message", "deadline"), 1),
    ]
    for bad in cases:  # each signed by the patient: the checks are on what was signed, not on the signature alone
        assert_problem(me.post(f"/v1/records/{record_id}/erasure", json={"typed_data": bad, "signature": _sign(patient, bad)}), 422)
    # a primaryType eth-account cannot even sign: sent with the genuine signature
    wrong_kind = tampered(("primaryType",), "RevokeConsent")
    assert_problem(me.post(f"/v1/records/{record_id}/erasure", json={"typed_data": wrong_kind, "signature": _sign(patient, typed)}), 422)
    # signed by someone else, or a malformed signature
    impostor = api.new_patient(register=False)
    assert_problem(me.post(f"/v1/records/{record_id}/erasure", json={"typed_data": typed, "signature": _sign(impostor, typed)}), 422)
    assert_problem(me.post(f"/v1/records/{record_id}/erasure", json={"typed_data": typed, "signature": "0x" + "00" * 65}), 422)
    # a stale nonce is a conflict
    stale = tampered(("message", "nonce"), typed["message"]["nonce"] + 1)
    assert_problem(me.post(f"/v1/records/{record_id}/erasure", json={"typed_data": stale, "signature": _sign(patient, stale)}), 409, "stale-nonce")

    assert registry.nonce(patient.address) == nonce_before
    assert api.net.ledger().w3.eth.get_transaction_count(sender) == tx_count, "a refused erasure spent gas"
    state = registry.state(bytes.fromhex(record_id[2:]))
    assert state is not None and not state.erased
