"""Referral cases through three real institution APIs (issue 12): Lokossa opens, the patient approves through
Lokossa after reading the plain words, Yinchuan accepts and reads the ECG (its key released by Lokossa's API on
its own), answers, Lokossa reads the answer (released by Yinchuan's API) and closes. Bad input is refused with a
problem document and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx

from care.cases_fhir import communication, ecg_report, service_request
from tests.care.cases.cases_api_world import Institution, ReferralApis
from tests.support.chain_clock import chain_now

ECG = {
    "resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
    "subject": {"display": "patient"}, "effectiveDateTime": "2026-11-20T09:30:00+01:00",
    "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 4, "dimensions": 1, "data": "1 2 3 4 5 4 3 2 1"},
}


def problem(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, f"{reply.status_code} {reply.text[:400]}"
    assert reply.headers["content-type"].startswith("application/problem+json")
    return dict(reply.json())


def upload(world: ReferralApis, who: Institution, patient: str, resource: dict[str, Any]) -> str:
    reply = world.http(who).post(f"/v1/patients/{patient}/records", json=resource)
    assert reply.status_code == 201, reply.text
    return str(reply.json()[0]["record_id"])


def read_under(world: ReferralApis, who: Institution, case_id: str, record_id: str) -> httpx.Response:
    return world.http(who).get(f"/v1/records/{record_id}", params={"flow": "case", "ref": case_id})


def test_one_to_one_case_through_the_apis(referral_apis: ReferralApis) -> None:
    world = referral_apis
    lok, yin, alm = world.lokossa, world.yinchuan, world.almaty
    patient = world.new_patient()
    ecg = upload(world, lok, patient.address, ECG)
    unrelated = upload(world, lok, patient.address, ECG | {"effectiveDateTime": "2026-11-19T09:30:00+01:00"})

    body = {"patient": patient.address, "request": service_request("Please interpret this 12-lead ECG"), "priority": "URGENT", "attached_ids": [ecg], "consultants": [yin.address]}
    opened = world.http(lok).post("/v1/cases", json=body)
    assert opened.status_code == 201, opened.text
    case = opened.json()["case"]
    case_id = case["case_id"]
    assert case["state"] == "OPEN" and case["attached_ids"] == [ecg] and case["consultants"][0]["status"] == "INVITED"
    assert case["deadline"] - case["opened_at"] == 86400 and not case["overdue"]
    inbox = world.http(yin).get("/v1/cases", params={"role": "in"}).json()
    assert case_id in {c["case_id"] for c in inbox}
    assert case_id not in {c["case_id"] for c in world.http(yin).get("/v1/cases", params={"role": "out"}).json()}
    problem(world.http(alm).get(f"/v1/cases/{case_id}"), 403)

    # Not before the patient approves and Yinchuan accepts.
    problem(read_under(world, yin, case_id, ecg), 403)
    assert world.http(yin).post(f"/v1/cases/{case_id}/accept").status_code == 200
    problem(world.http(yin).post(f"/v1/cases/{case_id}/accept"), 409)
    problem(read_under(world, yin, case_id, ecg), 403)
    approved = world.approve(patient, case_id)
    assert "Yinchuan Case Hospital" in approved["summary"] and "electrocardiograms" in approved["summary"] and "ECG" not in approved["summary"] and "UTC" in approved["summary"]

    # Yinchuan reads: Lokossa's API released the key by itself.
    reply = read_under(world, yin, case_id, ecg)
    assert reply.status_code == 200, reply.text
    assert reply.json()["valueSampledData"]["data"] == ECG["valueSampledData"]["data"]
    problem(read_under(world, yin, case_id, unrelated), 403)
    problem(read_under(world, alm, case_id, ecg), 403)

    # The answer, then Lokossa reads it (released by Yinchuan's API).
    world.answer_consent(patient, yin)
    answered = world.http(yin).post(f"/v1/cases/{case_id}/answers", json={"resource": ecg_report("Sinus rhythm, 72 bpm, no acute changes.", "Yinchuan cardiology")})
    assert answered.status_code == 201, answered.text
    report = answered.json()["record_id"]
    reply = read_under(world, lok, case_id, report)
    assert reply.status_code == 200, reply.text
    assert reply.json()["conclusion"].startswith("Sinus rhythm")
    shown = world.http(lok).get(f"/v1/cases/{case_id}").json()
    assert [a["record_id"] for a in shown["answers"]] == [report] and shown["consultants"][0]["status"] == "ANSWERED"
    mine = world.sign_in(patient, lok).get("/v1/cases").json()
    assert [c["case_id"] for c in mine] == [case_id]

    # The requester writes into the case (the conversation) and shares it with the consultant, who reads it.
    written = world.http(lok).post(f"/v1/cases/{case_id}/messages", json={"resource": communication("Thank you. Holter booked for next week."), "share_with": [yin.address]})
    assert written.status_code == 201, written.text
    note = written.json()["record_id"]
    reply = read_under(world, yin, case_id, note)
    assert reply.status_code == 200 and reply.json()["payload"][0]["contentString"].startswith("Thank you"), reply.text
    problem(world.http(yin).post(f"/v1/cases/{case_id}/messages", json={"resource": communication("not mine to write")}), 403)
    problem(world.http(lok).post(f"/v1/cases/{case_id}/share", json={"record_id": ecg, "consultants": [yin.address]}), 422)

    # Closing ends the case consent; twice is refused; so is a late answer.
    assert world.http(lok).post(f"/v1/cases/{case_id}/close").status_code == 200
    problem(world.http(lok).post(f"/v1/cases/{case_id}/close"), 409)
    problem(read_under(world, yin, case_id, ecg), 403)
    problem(world.http(yin).post(f"/v1/cases/{case_id}/answers", json={"resource": communication("One more thing")}), 409)


def test_bad_case_input_is_refused_with_a_problem(referral_apis: ReferralApis) -> None:
    world = referral_apis
    lok, yin = world.lokossa, world.yinchuan
    patient, other = world.new_patient(), world.new_patient()
    ecg = upload(world, lok, patient.address, ECG)
    foreign = upload(world, lok, other.address, ECG)
    request = service_request("Second opinion")
    before = len(world.http(lok).get("/v1/cases", params={"role": "out"}).json())

    def refused(status: int, **changes: Any) -> dict[str, Any]:
        body = {"patient": patient.address, "request": request, "attached_ids": [ecg], "consultants": [yin.address], **changes}
        return problem(world.http(lok).post("/v1/cases", json=body), status)

    assert "not a record of patient" in refused(422, attached_ids=[foreign])["detail"]
    assert "unknown" in refused(422, attached_ids=["0x" + "ab" * 32])["detail"]
    assert "not an active member" in refused(422, consultants=["0x" + "12" * 20])["detail"]
    refused(422, consultants=[lok.address])
    refused(422, consultants=[])
    refused(422, request=communication("not a request"))
    problem(world.http(yin).post("/v1/cases", json={"patient": patient.address, "request": request, "consultants": [lok.address]}, headers={"Authorization": "Bearer nope"}), 401)
    assert len(world.http(lok).get("/v1/cases", params={"role": "out"}).json()) == before, "nothing was opened"

    opened = world.http(lok).post("/v1/cases", json={"patient": patient.address, "request": request, "attached_ids": [ecg], "consultants": [yin.address]}).json()
    case_id = opened["case_id"]
    # A consultant that declined cannot answer; the patient of another case cannot approve this one.
    assert world.http(yin).post(f"/v1/cases/{case_id}/decline", json={"reason": "BUSY"}).status_code == 200
    world.approve(patient, case_id)
    problem(world.http(yin).post(f"/v1/cases/{case_id}/answers", json={"resource": communication("hello")}), 409)
    stranger = world.sign_in(other, lok)
    problem(stranger.get(f"/v1/cases/{case_id}/approval", params={"until": chain_now(world.net.w3) + 3600}), 403)
    shown = world.http(lok).get(f"/v1/cases/{case_id}").json()
    assert shown["consultants"][0]["decline_reason"] == "BUSY" and shown["answers"] == []
