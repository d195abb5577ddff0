"""Records through the API: upload, list, read (consent + access log), verification, sealed bytes, key shares."""

from __future__ import annotations

import hashlib

from api_world import ApiWorld, assert_problem, ecg_observation, lab_observation, prescription

from records import RecordService, RecordSettings
from records import fhir as record_fhir
from crypto import rewrap
from crypto.record_object import RecordObject


def _canonical(resource: dict) -> dict:
    return record_fhir.validate(resource, 1 << 24)[1]


def test_upload_list_read_verify_and_access_log(api: ApiWorld) -> None:
    patient, uploaded = api.patient_with_record()
    assert uploaded["category"] == "ECG" and uploaded["created"] is True and uploaded["version"] == 1
    assert uploaded["record_id"].startswith("0x") and len(uploaded["record_id"]) == 66 and uploaded["cid"].startswith("b")
    record_id = uploaded["record_id"]

    # the same upload again is a safe retry: same record, nothing new anchored
    again = api.as_scope("write").post(f"/v1/patients/{patient.address}/records", json=ecg_observation())
    assert again.status_code == 201 and again.json()[0]["record_id"] == record_id and again.json()[0]["created"] is False

    me = api.as_patient(patient)
    (listed,) = me.get(f"/v1/patients/{patient.address}/records").json()
    assert listed["record_id"] == record_id and listed["author"] == api.hospital.address and listed["author_name"] == api.hospital.name
    assert listed["anchored_at"] == uploaded["block_number"] and listed["erased"] is False and listed["supersedes"] is None
    assert listed["cid"] == uploaded["cid"] and listed["content_hash"] == uploaded["content_hash"] and listed["anchored_time"] > 0
    assert api.as_scope("read").get(f"/v1/patients/{patient.address}/records").json() == [listed]

    read = api.as_scope("read").get(f"/v1/records/{record_id}")
    assert read.status_code == 200, read.text
    assert read.headers["content-type"].startswith("application/fhir+json") and read.headers["x-healthsilk-access-logged"] == "true"
    assert read.json() == _canonical(ecg_observation())

    (entry,) = me.get(f"/v1/patients/{patient.address}/access-log").json()
    assert entry["reader"] == api.hospital.address and entry["reader_name"] == api.hospital.name and entry["purpose"] == "TREATMENT"
    assert entry["record_ids"] == [record_id] and entry["consent_id"].startswith("0x")
    assert entry["timestamp"] > 0 and entry["transaction_hash"].startswith("0x")
    assert api.as_scope("audit").get(f"/v1/patients/{patient.address}/access-log").json() == [entry]

    check = api.as_scope("audit").get(f"/v1/records/{record_id}/verification").json()
    assert check["anchored"] and check["sha256_ok"] and check["cid_ok"] and check["payload_available"] and check["author_active"]
    assert check["category"] == "ECG" and not check["erased"] and check["consent_in_force"] is True and check["merkle"] is None
    assert me.get(f"/v1/records/{record_id}/verification").json()["consent_in_force"] is None

    sealed = me.get(f"/v1/records/{record_id}/sealed")
    assert sealed.status_code == 200 and sealed.headers["content-type"] == "application/octet-stream"
    assert "0x" + hashlib.sha256(sealed.content).hexdigest() == uploaded["content_hash"]
    obj = RecordObject.decode(sealed.content)
    assert obj.patient == patient.address
    plaintext = obj.open(patient.hpke_key, obj.wrap_for(patient.address))  # type: ignore[arg-type]
    assert record_fhir.parse_stored(plaintext)[1] == _canonical(ecg_observation())


def test_bundle_upload_is_all_or_nothing(api: ApiWorld) -> None:
    patient = api.new_patient()
    api.grant(patient, api.hospital.address, ["ECG", "LAB"])
    writer = api.as_scope("write")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ecg_observation(seed=3)}, {"resource": lab_observation()}]}
    uploaded = writer.post(f"/v1/patients/{patient.address}/records", json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert uploaded.status_code == 201, uploaded.text
    assert [r["category"] for r in uploaded.json()] == ["ECG", "LAB"]

    other = api.new_patient()
    api.grant(other, api.hospital.address, ["ECG", "LAB"])
    broken = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ecg_observation(seed=4)}, {"resource": {"resourceType": "Observation", "status": "bogus"}}]}
    assert_problem(writer.post(f"/v1/patients/{other.address}/records", json=broken), 422, "invalid-fhir")
    unsupported = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ecg_observation(seed=5)}, {"resource": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}}]}
    assert_problem(writer.post(f"/v1/patients/{other.address}/records", json=unsupported), 422, "unsupported-resource")
    assert_problem(writer.post(f"/v1/patients/{other.address}/records", json={"resourceType": "Bundle", "type": "collection"}), 422)
    assert api.as_scope("read").get(f"/v1/patients/{other.address}/records").json() == []


def test_upload_and_read_refusals(api: ApiWorld) -> None:
    writer, reader = api.as_scope("write"), api.as_scope("read")
    unregistered = api.new_patient(register=False)
    assert_problem(writer.post(f"/v1/patients/{unregistered.address}/records", json=ecg_observation()), 403, "no-consent")
    no_consent = api.new_patient()
    assert_problem(writer.post(f"/v1/patients/{no_consent.address}/records", json=ecg_observation()), 403, "no-consent")
    api.grant(no_consent, api.hospital.address, ["LAB"])
    assert_problem(writer.post(f"/v1/patients/{no_consent.address}/records", json=prescription()), 403, "no-consent")  # PRESCRIPTION not granted
    assert_problem(writer.post(f"/v1/patients/{no_consent.address}/records", json={"resourceType": "Observation"}), 422, "invalid-fhir")
    assert_problem(writer.post(f"/v1/patients/{no_consent.address}/records", content=b"{not json", headers={"Content-Type": "application/json"}), 422)

    assert_problem(reader.get("/v1/records/0x" + "ab" * 32), 404, "record-not-found")
    assert_problem(reader.get("/v1/records/0x1234"), 422)
    assert_problem(reader.get("/v1/records/0x" + "ab" * 32 + "/verification"), 404)
    _, uploaded = api.patient_with_record(lab_observation(7.1))
    assert_problem(reader.get(f"/v1/records/{uploaded['record_id']}?purpose=BOGUS"), 422)


def test_record_by_another_member_needs_consent_and_a_key_share(api: ApiWorld) -> None:
    """Hospital B authors a record; our hospital A reads it only after the patient grants A and shares the key."""
    patient = api.new_patient()
    api.grant(patient, api.other.address, ["LAB"])
    b = RecordService.from_settings(api.other.identity, api.net.ledger(), RecordSettings(records_dir=api.data_dir.parent / "hospital-b", ipfs_api=api.net.settings.ipfs_url))
    record = b.put(lab_observation(6.2), patient.address)
    record_id = "0x" + record.record_id.hex()
    reader = api.as_scope("read")
    assert_problem(reader.get(f"/v1/records/{record_id}"), 403, "no-consent")
    assert reader.get(f"/v1/patients/{patient.address}/records").json() == []  # not visible without consent

    api.grant(patient, api.hospital.address, ["LAB"])
    assert [r["record_id"] for r in reader.get(f"/v1/patients/{patient.address}/records").json()] == [record_id]
    assert_problem(reader.get(f"/v1/records/{record_id}"), 409, "no-key")

    me = api.as_patient(patient)
    obj = RecordObject.decode(me.get(f"/v1/records/{record_id}/sealed").content)
    wrap = rewrap(obj.wrap_for(patient.address), obj.context, patient.hpke_key, api.hospital.identity.hpke_public_key)  # type: ignore[arg-type]
    assert_problem(me.post("/v1/keys/shares", json={"grantee": api.other.address, "wraps": {record_id: "0x" + wrap.hex()}}), 422)
    wrong = rewrap(obj.wrap_for(patient.address), obj.context, patient.hpke_key, api.other.identity.hpke_public_key)  # type: ignore[arg-type]
    assert_problem(me.post("/v1/keys/shares", json={"grantee": api.hospital.address, "wraps": {record_id: "0x" + wrong.hex()}}), 422, "share-refused")
    stranger = api.new_patient(register=False)
    assert_problem(api.as_patient(stranger).post("/v1/keys/shares", json={"grantee": api.hospital.address, "wraps": {record_id: "0x" + wrap.hex()}}), 403)
    stored = me.post("/v1/keys/shares", json={"grantee": api.hospital.address, "wraps": {record_id: "0x" + wrap.hex()}})
    assert stored.status_code == 200 and stored.json() == {"stored": 1}

    read = reader.get(f"/v1/records/{record_id}")
    assert read.status_code == 200 and read.json() == _canonical(lab_observation(6.2))
    (entry,) = me.get(f"/v1/patients/{patient.address}/access-log").json()
    assert entry["consent_id"] is not None and entry["reader_name"] == api.hospital.name
    assert_problem(reader.get(f"/v1/records/{record_id}?purpose=RESEARCH"), 403, "no-consent")


def test_sealed_bytes_only_for_the_records_patient(api: ApiWorld) -> None:
    patient, uploaded = api.patient_with_record(lab_observation(4.4))
    other = api.new_patient(register=False)
    url = f"/v1/records/{uploaded['record_id']}/sealed"
    assert api.as_patient(patient).get(url).status_code == 200
    assert_problem(api.as_patient(other).get(url), 403, "forbidden")
    assert_problem(api.as_scope("all").get(url), 403, "forbidden")
    assert_problem(api.as_patient(other).get(f"/v1/records/{uploaded['record_id']}/verification"), 403)
