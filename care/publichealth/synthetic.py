"""Synthetic notifiable-disease resources (FHIR R4B) for the demo, the tests and the bench: no real person."""

from __future__ import annotations

import datetime as dt
from typing import Any

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
SNOMED_SYSTEM = "http://snomed.info/sct"


def _day(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(int(timestamp), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _patient(gender: str, birth_year: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p", "gender": gender, "birthDate": f"{birth_year:04d}"}


def condition(icd10: str, display: str, when: int, gender: str, birth_year: int, snomed: str = "") -> dict[str, Any]:
    """A confirmed Condition with the patient's sex and birth year in a contained Patient (no name, no identifier)."""
    coding = [{"system": ICD10_SYSTEM, "code": icd10, "display": display}]
    if snomed:
        coding.append({"system": SNOMED_SYSTEM, "code": snomed, "display": display})
    return {
        "resourceType": "Condition",
        "contained": [_patient(gender, birth_year)],
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "code": {"coding": coding},
        "subject": {"reference": "#p"},
        "onsetDateTime": _day(when),
    }


def malaria_smear(when: int, gender: str, birth_year: int, positive: bool = True) -> dict[str, Any]:
    """A laboratory Observation: Plasmodium sp [Presence] in Blood by Light microscopy (LOINC 51587-4)."""
    value = ("10828004", "Positive") if positive else ("260385009", "Negative")
    return {
        "resourceType": "Observation",
        "status": "final",
        "contained": [_patient(gender, birth_year)],
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "51587-4", "display": "Plasmodium sp [Presence] in Blood by Light microscopy"}]},
        "subject": {"reference": "#p"},
        "effectiveDateTime": _day(when),
        "valueCodeableConcept": {"coding": [{"system": SNOMED_SYSTEM, "code": value[0], "display": value[1]}]},
    }


def cholera(when: int, gender: str, birth_year: int) -> dict[str, Any]:
    return condition("A00.9", "Cholera, unspecified", when, gender, birth_year, snomed="63650001")


def malaria(when: int, gender: str, birth_year: int) -> dict[str, Any]:
    return condition("B50.9", "Plasmodium falciparum malaria, unspecified", when, gender, birth_year, snomed="62676009")
