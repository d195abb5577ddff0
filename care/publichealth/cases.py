"""From one decrypted FHIR resource to the notifiable case it documents (disease, ISO week, age band, sex).

Sources: Conditions (ICD-10 / SNOMED CT code), laboratory Observations with a positive result for a notifiable LOINC
test, DiagnosticReports whose conclusion codes name a notifiable disease. Age and sex come from the resource's
contained Patient (gender, birthDate) or the Condition's onsetAge; unknown otherwise. Nothing else is kept: the
case holds no identifier, date finer than the week, or text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from care.publichealth.diseases import SNOMED, Disease, match_coding, match_lab
from ledger.publichealth import iso_week

AGE_BANDS = ("0-4", "5-14", "15-24", "25-44", "45-64", "65+", "unknown")
SEXES = ("female", "male", "other", "unknown")
# Laboratory interpretations (HL7 v3 ObservationInterpretation) and SNOMED CT qualifiers that mean "found".
_POSITIVE_INTERPRETATIONS = {"POS", "DET", "A", "AA"}
_POSITIVE_VALUES = {"10828004", "260373001", "52101004"}  # Positive, Detected, Present


@dataclass(frozen=True)
class Case:
    disease: str  # report code (ICD-10 category)
    week: int
    age_band: str
    sex: str


def case_of(resource: dict[str, Any], fallback_time: int | Callable[[], int]) -> tuple[Disease, int, str, str] | None:
    """(disease, week, age band, sex) when the resource documents a notifiable case; None otherwise.
    `fallback_time` (or a function giving it): when the resource carries no date, e.g. the anchor's block time."""
    kind = resource.get("resourceType")
    disease: Disease | None = None
    when: str | None = None
    if kind == "Condition":
        if _refuted(resource):
            return None
        disease = _first(match_coding(c.get("system", ""), str(c.get("code", ""))) for c in _codings(resource.get("code")))
        when = resource.get("onsetDateTime") or resource.get("recordedDate")
    elif kind == "Observation":
        disease = _first(match_lab(c.get("system", ""), str(c.get("code", ""))) for c in _codings(resource.get("code")))
        if disease is None or not _positive(resource) or resource.get("status") in ("cancelled", "entered-in-error"):
            return None
        when = resource.get("effectiveDateTime") or resource.get("issued")
    elif kind == "DiagnosticReport":
        if resource.get("status") in ("cancelled", "entered-in-error"):
            return None
        conclusions = [c for concept in resource.get("conclusionCode", []) for c in _codings(concept)]
        disease = _first(match_coding(c.get("system", ""), str(c.get("code", ""))) for c in conclusions)
        when = resource.get("effectiveDateTime") or resource.get("issued")
    if disease is None:
        return None
    moment = _timestamp(when) or (fallback_time() if callable(fallback_time) else fallback_time)
    return disease, iso_week(moment), _age_band(resource, moment), _sex(resource)


def _refuted(condition: dict[str, Any]) -> bool:
    status = {c.get("code") for c in _codings(condition.get("verificationStatus"))}
    return bool(status & {"refuted", "entered-in-error"})


def _positive(observation: dict[str, Any]) -> bool:
    interpretations = {c.get("code") for concept in observation.get("interpretation", []) for c in _codings(concept)}
    values = {c.get("code") for c in _codings(observation.get("valueCodeableConcept")) if c.get("system") == SNOMED}
    return bool(interpretations & _POSITIVE_INTERPRETATIONS or values & _POSITIVE_VALUES)


def _contained_patient(resource: dict[str, Any]) -> dict[str, Any]:
    for item in resource.get("contained", []):
        if isinstance(item, dict) and item.get("resourceType") == "Patient":
            return item
    return {}


def _sex(resource: dict[str, Any]) -> str:
    gender = _contained_patient(resource).get("gender")
    return gender if gender in ("female", "male", "other") else "unknown"


def _age_band(resource: dict[str, Any], moment: int) -> str:
    years: float | None = None
    onset_age = resource.get("onsetAge")
    if isinstance(onset_age, dict) and isinstance(onset_age.get("value"), (int, float)) and onset_age.get("code", "a") == "a":
        years = float(onset_age["value"])
    birth = _contained_patient(resource).get("birthDate")
    if years is None and isinstance(birth, str) and len(birth) >= 4 and birth[:4].isdigit():
        event = dt.datetime.fromtimestamp(moment, dt.UTC).date()
        month_day = (int(birth[5:7]), int(birth[8:10])) if len(birth) >= 10 else (7, 1)  # a year alone: mid-year
        years = event.year - int(birth[:4]) - ((event.month, event.day) < month_day)
    if years is None or years < 0:
        return "unknown"
    for band, upper in (("0-4", 5), ("5-14", 15), ("15-24", 25), ("25-44", 45), ("45-64", 65)):
        if years < upper:
            return band
    return "65+"


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding", []) if isinstance(c, dict)]


def _first(items: Any) -> Any:
    return next((item for item in items if item is not None), None)


def _timestamp(value: Any) -> int | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else dt.datetime.fromisoformat(value[:10])
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())
