"""The IPS resources the record service accepts, each in its own category, with their required codes checked (issue 13, 6)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from care.summary import SummaryInput, build_bundle, newest_versions
from ledger.records import Anchor
from ledger.vocabulary import Category
from records.categories import category_of
from records.errors import InvalidResourceError
from records.fhir import validate

ALLERGY = {
    "resourceType": "AllergyIntolerance",
    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
    "type": "allergy", "category": ["medication"], "criticality": "high",
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005"}]}, "patient": {"reference": "Patient/example"},
}
MEDICATION = {"resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": {"text": "Amlodipine 5 mg"}, "subject": {"reference": "Patient/example"}}
IMMUNIZATION = {"resourceType": "Immunization", "status": "completed", "vaccineCode": {"text": "Hepatitis B"}, "patient": {"reference": "Patient/example"}, "occurrenceDateTime": "2020-01-01"}


@pytest.mark.parametrize(("resource", "category"), [(ALLERGY, Category.ALLERGIES), (MEDICATION, Category.MEDICATIONS), (IMMUNIZATION, Category.IMMUNIZATIONS)])
def test_accepted_in_their_own_category(resource: dict[str, Any], category: Category) -> None:
    _model, canonical, _raw = validate(resource, 1 << 20)
    assert category_of(canonical) == category


@pytest.mark.parametrize(("resource", "field", "value"), [
    (MEDICATION, "status", "taking"), (ALLERGY, "criticality", "extreme"), (ALLERGY, "type", "dislike"), (IMMUNIZATION, "status", "done"),
])
def test_required_codes_are_checked(resource: dict[str, Any], field: str, value: str) -> None:
    bad = copy.deepcopy(resource)
    bad[field] = value
    with pytest.raises(InvalidResourceError) as refused:
        validate(bad, 1 << 20)
    assert field in str(refused.value)


def _anchor(n: int, category: Category, supersedes: int = 0) -> Anchor:
    return Anchor(record_id=bytes([n]) * 32, patient="0x" + "22" * 20, author="0x" + "11" * 20, category=category.value, content_hash=b"\x01" * 32,
                  cid=b"\x01", supersedes=bytes([supersedes]) * 32 if supersedes else b"\x00" * 32, consent_id=b"\x00" * 32, block_number=n, transaction_hash="0x")


def test_summary_takes_the_newest_version_and_the_last_ecg() -> None:
    anchors = [_anchor(1, Category.ALLERGIES), _anchor(2, Category.ALLERGIES, supersedes=1), _anchor(3, Category.ECG), _anchor(4, Category.ECG),
               _anchor(5, Category.LAB), _anchor(6, Category.MEDICATIONS)]
    chosen = [a.record_id[0] for a in newest_versions(anchors, erased={bytes([6]) * 32})]
    assert chosen == [2, 4]
    summary = SummaryInput(patient="0x" + "22" * 20)
    summary.add(Category.ALLERGIES.value, bytes([2]) * 32, ALLERGY)
    summary.missing(Category.ECG.value, bytes([4]) * 32, "the author institution is offline")
    bundle = build_bundle(summary, 1_700_000_000, "0x" + "33" * 20)
    _model, canonical, _raw = validate(bundle, 1 << 20)  # a valid FHIR document Bundle
    sections = {s["title"]: s for s in canonical["entry"][0]["resource"]["section"]}
    assert sections["EKG impression"]["emptyReason"]["coding"][0]["code"] == "unavailable"
    assert sections["History of immunizations"]["emptyReason"]["coding"][0]["code"] == "nilknown"
    assert sections["Allergies and adverse reactions"]["entry"][0]["reference"] == canonical["entry"][1]["fullUrl"]
