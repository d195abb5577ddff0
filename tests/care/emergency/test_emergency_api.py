"""The break-glass flow end to end through two real institution APIs (issue 13).

The patient's records are authored by the hospital; the ambulance breaks the glass and reads them with keys the
hospital's API releases by itself (it checks `mayRead` on chain). The patient sets her policy, sees the alert
(who, why, when, until when, what was read), opens the sealed reason with her own key, and reviews it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from emergency_world import ALLERGY, ECG, LAB, MEDICATION, REASON, EmergencyWorld
from eth_account import Account

from care.emergency_reason import open_reason
from crypto import HpkePrivateKey, Identity
from ledger.emergency import BreakGlassLedger, Review
from ledger.errors import ContractRevert


def _patient(world: EmergencyWorld) -> tuple[Identity, dict[str, str]]:
    """A registered patient who consented to the hospital, with an allergy, a medication, an ECG and a lab result."""
    patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    world.relay_consent(patient, {"action": "register", "patient": patient.address, "hpke_public_key": patient.hpke_public_key.to_hex()})
    now = world.now()
    world.relay_consent(patient, {"action": "grant", "patient": patient.address, "grantee": world.hospital.address,
                                  "categories": ["ALLERGIES", "MEDICATIONS", "ECG", "LAB"], "purposes": ["TREATMENT"], "valid_from": now - 60, "valid_until": now + 3600})
    ids = {}
    with world.hospital.client() as client:
        for name, resource in (("allergy", ALLERGY), ("medication", MEDICATION), ("ecg", ECG), ("lab", LAB)):
            answer = client.post(f"/v1/patients/{patient.address}/records", json=resource)
            assert answer.status_code == 201, answer.text
            ids[name] = answer.json()[0]["record_id"]
    return patient, ids


def _sign_and_relay(world: EmergencyWorld, client: Any, prepare: str, relay: str, body: dict[str, Any], signer: Identity) -> Any:
    prepared = client.post(prepare, json=body)
    assert prepared.status_code == 200, prepared.text
    assert prepared.json()["summary"]
    typed = prepared.json()["typed_data"]
    signature = signer.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
    return typed, signature, client.post(relay, json={"typed_data": typed, "signature": signature})


def test_break_glass_read_alert_and_review_end_to_end(emergency_world: EmergencyWorld) -> None:
    world = emergency_world
    patient, ids = _patient(world)
    bg = BreakGlassLedger(world.net.ledger())
    hospital, ambulance = world.hospital.client(), world.ambulance.client()

    # No break-glass yet: the flow refuses.
    answer = ambulance.get(f"/v1/records/{ids['allergy']}", params={"flow": "emergency", "ref": "0x" + "ab" * 32})
    assert answer.status_code == 403, answer.text

    # Her policy: the summary categories only (no LAB), signed by her, relayed by the hospital; a replay is refused.
    own = world.sign_in(world.hospital, patient)
    assert own.get(f"/v1/patients/{patient.address}/emergency-policy").json()["mode"] == "DEFAULT"
    path = f"/v1/patients/{patient.address}/emergency-policy"
    typed, signature, relayed = _sign_and_relay(world, own, path + "/prepare", path, {"mode": "CATEGORIES", "categories": ["ALLERGIES", "MEDICATIONS", "ECG", "SUMMARY"]}, patient)
    assert relayed.status_code == 200, relayed.text
    policy = own.get(path).json()
    assert policy["mode"] == "CATEGORIES" and set(policy["categories"]) == {"ALLERGIES", "MEDICATIONS", "ECG", "SUMMARY"}
    assert hospital.post(path, json={"typed_data": typed, "signature": signature}).status_code == 422
    forger = Account.create()
    forged = forger.sign_typed_data(full_message=typed).signature.to_0x_hex()
    assert hospital.post(path, json={"typed_data": typed, "signature": forged}).status_code == 422

    # Refused break-glasses change nothing.
    count = bg.contract.functions.breakGlassCount().call()
    body = {"patient": patient.address, "reason_code": "ETREAT", "reason": REASON}
    assert ambulance.post("/v1/emergency/break-glass", json={**body, "categories": ["LAB"]}).status_code in (409, 422)
    assert hospital.post("/v1/emergency/break-glass", json=body).status_code == 403, "the hospital holds no EMERGENCY role"
    assert ambulance.post("/v1/emergency/break-glass", json={**body, "duration_seconds": 24 * 3600 + 1}).status_code == 422
    assert bg.contract.functions.breakGlassCount().call() == count

    # The ambulance breaks the glass (default: every summary category her policy allows, 4 h).
    opened = ambulance.post("/v1/emergency/break-glass", json=body)
    assert opened.status_code == 201, opened.text
    view = opened.json()
    ref = view["id"]
    assert view["reader"] == world.ambulance.address and view["open"] and view["expires_at"] - view["opened_at"] == 4 * 3600
    assert set(view["categories"]) == {"ALLERGIES", "MEDICATIONS", "ECG", "SUMMARY"} and view["review"] == "PENDING"

    # Reads: keys released by the hospital's API, which no one had to touch; LAB stays closed.
    for name, kind in (("allergy", "AllergyIntolerance"), ("medication", "MedicationStatement"), ("ecg", "Observation")):
        read = ambulance.get(f"/v1/records/{ids[name]}", params={"flow": "emergency", "ref": ref})
        assert read.status_code == 200, read.text
        assert read.json()["resourceType"] == kind
    assert ambulance.get(f"/v1/records/{ids['lab']}", params={"flow": "emergency", "ref": ref}).status_code == 403

    # The emergency summary: an IPS-style document Bundle of what the ambulance may read, newest version of each.
    summary = ambulance.get(f"/v1/patients/{patient.address}/summary", params={"ref": ref})
    assert summary.status_code == 200, summary.text
    bundle = summary.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "document"
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds[0] == "Composition" and {"AllergyIntolerance", "MedicationStatement", "Observation"} <= set(kinds) and len(kinds) == 4
    sections = {s["code"]["coding"][0]["code"]: s for s in bundle["entry"][0]["resource"]["section"]}
    assert "entry" in sections["48765-2"] and "entry" in sections["10160-0"] and "emptyReason" in sections["11369-6"]

    # Her inbox at the hospital: who, why, when, until when, which records were read.
    alerts = own.get("/v1/alerts").json()
    mine = [a for a in alerts if a["id"] == f"emergency:{ref}"]
    assert len(mine) == 1 and all(a["subject"] == patient.address for a in alerts)
    details = mine[0]["details"]
    assert mine[0]["raised_by"] == world.ambulance.address and mine[0]["raised_by_name"] == world.ambulance.member.name
    assert details["reason_code"] == "ETREAT" and details["expires_at"] == view["expires_at"]
    assert {ids["allergy"], ids["medication"], ids["ecg"]} <= set(details["records_read"]) and ids["lab"] not in details["records_read"]
    # The free text opens with her key only, and matches the hash on chain.
    sealed = own.get(f"/v1/emergency/break-glass/{ref}/reason").json()["sealed"]
    opened_event = next(o for o in bg.opened(patient=patient.address) if "0x" + o.id.hex() == ref)
    assert open_reason(base64.b64decode(sealed), opened_event.reason_hash, patient.address, patient.hpke_key) == REASON
    assert ambulance.post(f"/v1/alerts/{mine[0]['id']}/ack").status_code == 422, "a break-glass alert is settled by its review"

    # She reviews it as justified (signed in her wallet, relayed by the hospital); a second review is refused.
    review = f"/v1/emergency/break-glass/{ref}/review"
    _typed, _sig, relayed = _sign_and_relay(world, own, review + "/prepare", review + "/relay", {"justified": True, "note": "I was unconscious"}, patient)
    assert relayed.status_code == 200, relayed.text
    access = bg.get(bytes.fromhex(ref[2:]))
    assert access is not None and access.review == Review.JUSTIFIED and access.reviewer == patient.address
    officer = bg.sender(world.officer.account)
    with pytest.raises(ContractRevert) as refused:
        bg.review(officer, bytes.fromhex(ref[2:]), False, os.urandom(32))
    assert refused.value.name == "AlreadyReviewed"
    assert ambulance.post(review, json={"justified": False}).status_code in (403, 422), "the ambulance may not review"
    assert own.get(f"/v1/emergency/break-glass/{ref}").json()["review"] == "JUSTIFIED"
    hospital.close()
    ambulance.close()


def test_a_record_whose_author_is_offline_stays_unreadable_and_says_so(emergency_world: EmergencyWorld, tmp_path: Path) -> None:
    from records import RecordClients
    from records.service import RecordService
    from tests.conftest import free_port
    from tests.support.members import admit_member

    world = emergency_world
    # A clinic whose registry endpoint points at a port where nothing listens.
    clinic = admit_member(world.net, "bg-offline-clinic", "Offline Clinic", "KZ", ["PROVIDER"], endpoint=f"http://127.0.0.1:{free_port()}")
    patient, _ids = _patient(world)
    now = world.now()
    world.relay_consent(patient, {"action": "grant", "patient": patient.address, "grantee": clinic.address,
                                  "categories": ["ALLERGIES"], "purposes": ["TREATMENT"], "valid_from": now - 60, "valid_until": now + 3600})
    ledger = world.net.ledger()
    service = RecordService(clinic, RecordClients.open(ledger, world.net.settings.ipfs_url), tmp_path / "clinic")
    try:
        record_id = "0x" + service.put(ALLERGY, patient.address).record_id.hex()
    finally:
        service.close()
    with world.ambulance.client() as ambulance:
        opened = ambulance.post("/v1/emergency/break-glass", json={"patient": patient.address, "reason_code": "BTG", "reason": REASON, "categories": ["ALLERGIES"]})
        assert opened.status_code == 201, opened.text
        answer = ambulance.get(f"/v1/records/{record_id}", params={"flow": "emergency", "ref": opened.json()["id"]})
    assert answer.status_code == 503, answer.text
    assert "offline" in answer.json()["detail"]


def test_the_home_institution_forwards_alerts_to_its_webhook_even_after_it_was_down(emergency_world: EmergencyWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hospital configures a webhook whose receiver is down: the inbox answers at once, the alert waits in the
    outbox, and reaches the receiver (HMAC verified) once it is up."""
    from emergency_world import SECRET, Receiver, wait_until

    from tests.conftest import free_port

    world = emergency_world
    port = free_port()
    monkeypatch.setenv("HEALTHSILK_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{port}/hook")
    monkeypatch.setenv("HEALTHSILK_ALERT_WEBHOOK_SECRET", SECRET.decode())
    patient, _ids = _patient(world)
    with world.ambulance.client() as ambulance:
        opened = ambulance.post("/v1/emergency/break-glass", json={"patient": patient.address, "reason_code": "ERTREAT", "reason": REASON})
    assert opened.status_code == 201, opened.text
    alert_id = f"emergency:{opened.json()['id']}"
    with world.hospital.client() as hospital:
        inbox = hospital.get("/v1/alerts", params={"patient": patient.address})  # starts the forwarder; never waits for the receiver
    assert inbox.status_code == 200 and [a["id"] for a in inbox.json()] == [alert_id]
    services = world.hospital.app.state.services
    outbox = services._singletons["alert_forwarder"].outbox
    wait_until(lambda: any(p["alert"]["id"] == alert_id and p["attempts"] >= 1 for p in outbox.pending()), "a failed first delivery")
    with Receiver(port) as receiver:
        wait_until(lambda: any(r["alert"]["id"] == alert_id for r in receiver.received), "the alert at the receiver")
    assert receiver.bad_signatures == 0
    assert any(s["alert"]["id"] == alert_id for s in outbox.sent())
