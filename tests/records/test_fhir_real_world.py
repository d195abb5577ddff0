"""Real-world FHIR: HL7's published R4 examples (tests/fixtures/hl7/, sources in its README) are validated and
classified as a hospital would send them, and refusals name what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.vocabulary import Category
from records import fhir
from records.categories import SUPPORTED_TYPES, category_of
from records.errors import InvalidResourceError, UnsupportedResourceError
from records.loinc_lab import LAB_LOINC

HL7 = Path(__file__).parents[1] / "fixtures" / "hl7"
MAX = 1024 * 1024


def example(name: str) -> dict[str, Any]:
    return dict(json.loads((HL7 / f"{name}.json").read_text()))


def classify(resource: dict[str, Any]) -> Category:
    _model, canonical, _payload = fhir.validate(resource, MAX)
    return category_of(canonical)


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("observation-example-glucose", Category.LAB),  # no category: its LOINC code (15074-8) says lab
        ("allergyintolerance-example", Category.ALLERGIES),
        ("immunization-example", Category.IMMUNIZATIONS),
        ("medicationstatement-example001", Category.MEDICATIONS),
        ("procedure-example", Category.PROCEDURES),
        ("patient-example", Category.DEMOGRAPHICS),
    ],
)
def test_hl7_examples_are_accepted_and_classified(name: str, category: Category) -> None:
    resource = example(name)
    assert classify(resource) is category
    assert resource["resourceType"] in SUPPORTED_TYPES


def test_the_glucose_example_round_trips_identically() -> None:
    resource = example("observation-example-glucose")
    assert "category" not in resource  # as HL7 publishes it
    _model, canonical, payload = fhir.validate(resource, MAX)
    _again, reread = fhir.parse_stored(payload)
    assert reread == canonical
    assert canonical["valueQuantity"]["value"] == 6.3 and canonical["code"]["coding"][0]["code"] == "15074-8"


def test_observation_without_category_needs_a_lab_loinc_code() -> None:
    resource = example("observation-example-glucose")
    resource["code"]["coding"][0]["code"] = "8867-4"  # heart rate: a vital sign, not a lab test
    assert "8867-4" not in LAB_LOINC
    with pytest.raises(UnsupportedResourceError, match="laboratory LOINC code"):
        classify(resource)
    resource["category"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]
    resource["code"]["coding"][0]["code"] = "15074-8"  # a lab code under another explicit category: the category wins
    with pytest.raises(UnsupportedResourceError):
        classify(resource)


def test_new_resource_types() -> None:
    letter = {
        "resourceType": "DocumentReference", "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "34109-9", "display": "Note"}]},
        "subject": {"reference": "Patient/example"},
        "content": [{"attachment": {"contentType": "application/pdf", "data": "JVBERi0xLjQKJcfs", "title": "Referral letter (scan)"}}],
    }
    study = {
        "resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/example"},
        "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}], "numberOfSeries": 1,
        "series": [{"uid": "2.16.124.113543.6003.2588828330.45298.17418.2723805630", "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}}],
    }
    request = {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order", "subject": {"reference": "Patient/example"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "103696004", "display": "Patient referral to specialist"}]},
    }
    assert classify(letter) is Category.NOTES
    assert classify(study) is Category.IMAGING
    assert classify(request) is Category.REFERRAL


def test_bindings_of_the_new_types_are_checked() -> None:
    procedure = example("procedure-example")
    procedure["status"] = "done"
    with pytest.raises(InvalidResourceError) as refused:
        classify(procedure)
    assert [(issue.field, issue.value) for issue in refused.value.issues] == [("status", "done")]
    patient = example("patient-example")
    patient["contact"][0]["gender"] = "F"
    with pytest.raises(InvalidResourceError) as refused:
        classify(patient)
    assert refused.value.issues[0].field == "contact[0].gender" and "female" in refused.value.issues[0].allowed
