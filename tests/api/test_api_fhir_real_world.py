"""Real-world FHIR through the API (HL7's published R4 examples, tests/fixtures/hl7/), Bundles refused entry by
entry, and consent refusals said in words (issue 17, sections 4 and 6)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from api_world import ApiWorld, assert_problem, ecg_observation

from i18n import _, use_language
from records import fhir

HL7 = Path(__file__).parents[1] / "fixtures" / "hl7"


def example(name: str) -> dict[str, Any]:
    return dict(json.loads((HL7 / f"{name}.json").read_text()))


def test_hl7_examples_go_in_and_come_back_identical(api: ApiWorld) -> None:
    patient = api.new_patient()
    api.grant(patient, api.hospital.address, ["LAB", "ALLERGIES", "IMMUNIZATIONS", "MEDICATIONS", "PROCEDURES", "DEMOGRAPHICS"])
    writer, reader = api.as_scope("write"), api.as_scope("read")
    expected = {
        "observation-example-glucose": "LAB", "allergyintolerance-example": "ALLERGIES", "immunization-example": "IMMUNIZATIONS",
        "medicationstatement-example001": "MEDICATIONS", "procedure-example": "PROCEDURES", "patient-example": "DEMOGRAPHICS",
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": example(name)} for name in expected]}
    uploaded = writer.post(f"/v1/patients/{patient.address}/records", json=bundle)
    assert uploaded.status_code == 201, uploaded.text
    assert [record["category"] for record in uploaded.json()] == list(expected.values())
    for name, record in zip(expected, uploaded.json(), strict=True):
        read = reader.get(f"/v1/records/{record['record_id']}")
        assert read.status_code == 200, read.text
        # as sent, in FHIR's canonical JSON (only the form of values changes, e.g. an instant's ".000" milliseconds)
        assert read.json() == fhir.validate(example(name), 1024 * 1024)[1], name


def test_a_refused_bundle_names_the_entry_and_the_reason(api: ApiWorld) -> None:
    patient = api.new_patient()
    api.grant(patient, api.hospital.address, ["LAB", "PROCEDURES"])
    writer = api.as_scope("write")
    encounter = {"resourceType": "Encounter", "id": "enc-7", "status": "finished", "class": {"code": "AMB"}}
    unsupported = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": example("observation-example-glucose")}, {"resource": encounter}]}
    problem = assert_problem(writer.post(f"/v1/patients/{patient.address}/records", json=unsupported), 422, "unsupported-resource")
    assert "Bundle entry 1 (Encounter/enc-7)" in problem["detail"] and "no record category for FHIR Encounter" in problem["detail"], problem

    procedure = example("procedure-example")
    procedure["status"] = "done"
    invalid = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": example("observation-example-glucose")}, {"resource": procedure}]}
    problem = assert_problem(writer.post(f"/v1/patients/{patient.address}/records", json=invalid), 422, "invalid-fhir")
    assert "Bundle entry 1 (Procedure/example)" in problem["detail"], problem
    assert [(issue["location"], issue["value"]) for issue in problem["errors"]] == [("body.entry[1].resource.status", "done")]
    assert api.as_scope("read").get(f"/v1/patients/{patient.address}/records").json() == []  # nothing was stored


def _mine_until_after(api: ApiWorld, moment: int) -> None:
    """Let chain time pass `moment`: each registration mines a block at the current time."""
    while api.now() <= moment:
        api.new_patient()
        time.sleep(0.5)


def test_a_missing_or_expired_consent_is_refused_in_words(api: ApiWorld) -> None:
    writer = api.as_scope("write")
    stranger = api.new_patient()
    problem = assert_problem(writer.post(f"/v1/patients/{stranger.address}/records", json=example("observation-example-glucose")), 403, "no-consent")
    assert api.hospital.name in problem["detail"] and "laboratory results" in problem["detail"], problem
    assert "never granted" in problem["detail"], problem
    # The explanation comes from the refusal's facts, not from parsing its sentence: it holds in any language.
    french = writer.post(f"/v1/patients/{stranger.address}/records", json=example("observation-example-glucose"), headers={"Accept-Language": "fr"})
    problem = assert_problem(french, 403, "no-consent")
    assert _in("fr", "the patient never granted this institution a consent") in problem["detail"], problem
    assert api.hospital.name in problem["detail"] and stranger.address in problem["detail"] and "never granted" not in problem["detail"], problem

    patient = api.new_patient()
    now = api.now()
    api.relay_signed(patient, {
        "action": "grant", "patient": patient.address, "grantee": api.hospital.address, "categories": ["ECG"],
        "purposes": ["TREATMENT"], "valid_from": now - 60, "valid_until": now + 3,
    })
    until = api.as_scope("read").get(f"/v1/patients/{patient.address}/consents").json()[0]["valid_until"]
    _mine_until_after(api, until)
    problem = assert_problem(writer.post(f"/v1/patients/{patient.address}/records", json=ecg_observation(seed=17)), 403, "no-consent")
    assert api.hospital.name in problem["detail"] and "electrocardiograms" in problem["detail"] and "treatment" in problem["detail"], problem
    assert "expired on" in problem["detail"], problem
    from i18n.formatting import datetime_text

    assert datetime_text(until) in problem["detail"], problem

    french = writer.post(f"/v1/patients/{patient.address}/records", json=ecg_observation(seed=17), headers={"Accept-Language": "fr"})
    problem = assert_problem(french, 403, "no-consent")
    with use_language("fr"):
        expired = _("the consent expired on {when}").format(when=datetime_text(until))
    assert expired != f"the consent expired on {datetime_text(until)}"  # the catalogue translates it
    assert expired in problem["detail"] and api.hospital.name in problem["detail"], problem


def _in(language: str, message: str) -> str:
    with use_language(language):
        translated = _(message)
    assert translated != message, f"no {language} translation of {message!r}: the check would prove nothing"
    return translated
