"""Which record category (consent class) a FHIR resource belongs to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from records.errors import UnsupportedResourceError
from records.loinc_lab import LAB_LOINC
from ledger.vocabulary import Category
from i18n import _

LOINC = "http://loinc.org"
# LOINC codes naming ECG studies / panels / waveforms.
ECG_LOINC = {"11524-6", "34534-8", "8601-7", "18844-1", "93924-9", "11525-3", "28010-7"}
DISCHARGE_LOINC = {"18842-5"}
SUMMARY_LOINC = {"60591-5", "34133-9", "11503-0"}
# HL7 v2 table 0074 diagnostic service sections (DiagnosticReport.category).
LAB_SECTIONS = {"LAB", "HM", "CH", "MB", "SP", "BLB", "CG", "CP", "HLA", "IMM", "MCB", "MYC", "PAR", "PAT", "SR", "TX", "VR", "SE"}
IMAGING_SECTIONS = {"RAD", "CT", "MR", "US", "NMR", "RX", "CUS", "NMS", "OUS", "VUS", "XRC"}
ECG_SECTIONS = {"EC"}

Json = dict[str, Any]
# Resource types whose category does not depend on their content.
_BY_KIND = {
    "Condition": Category.SUMMARY,  # the problem list
    "AllergyIntolerance": Category.ALLERGIES,
    "MedicationStatement": Category.MEDICATIONS,
    "Immunization": Category.IMMUNIZATIONS,
    "ServiceRequest": Category.REFERRAL,
    "Communication": Category.REFERRAL,
    "MedicationDispense": Category.DISPENSE,
    "Procedure": Category.PROCEDURES,
    "Patient": Category.DEMOGRAPHICS,  # demographics: a category of their own, so a consent can leave them out
}
# Every resource type some category takes (Bundle carries them): what the API's document lists as accepted.
SUPPORTED_TYPES = ("Observation", "DiagnosticReport", "ImagingStudy", "MedicationRequest", "DocumentReference", "Composition", *_BY_KIND)


def category_of(resource: Json) -> Category:
    """The category of a validated resource (canonical JSON dict); UnsupportedResourceError otherwise."""
    kind = resource.get("resourceType")
    if kind == "Observation":
        return _observation(resource)
    if kind == "DiagnosticReport":
        return _diagnostic_report(resource)
    if kind == "ImagingStudy":
        return Category.IMAGING
    if kind == "MedicationRequest":
        return Category.PRESCRIPTION
    if kind == "DocumentReference":
        return Category.DISCHARGE if _codes(resource.get("type"), LOINC) & DISCHARGE_LOINC else Category.NOTES
    if kind == "Composition":
        types = _codes(resource.get("type"), LOINC)
        if types & DISCHARGE_LOINC:
            return Category.DISCHARGE
        return Category.SUMMARY if types & SUMMARY_LOINC else Category.NOTES
    if kind in _BY_KIND:
        return _BY_KIND[kind]
    raise UnsupportedResourceError(
        _("no record category for FHIR {kind}; supported: Observation (ECG, laboratory, imaging), DiagnosticReport, "
          "ImagingStudy, MedicationRequest, DocumentReference (letters, scanned documents, PDFs), Composition, {others}").format(
            kind=kind, others=", ".join(_BY_KIND))
    )


def _observation(resource: Json) -> Category:
    if _codes(resource.get("code"), LOINC) & ECG_LOINC:
        return Category.ECG
    categories = _codes_in(resource.get("category", []), None)
    if "laboratory" in categories:
        return Category.LAB
    if "imaging" in categories:
        return Category.IMAGING
    if "valueSampledData" in resource or any("valueSampledData" in c for c in resource.get("component", [])):
        return Category.ECG  # waveform observations we accept are ECGs
    if not categories and _codes(resource.get("code"), LOINC) & LAB_LOINC.keys():
        return Category.LAB  # lab systems often send results without a category: the LOINC code says it is a lab test
    raise UnsupportedResourceError(
        _("Observation is neither an ECG (LOINC ECG code or SampledData), nor in the laboratory / imaging category, "
          "nor (without a category) coded with a laboratory LOINC code")
    )


def _diagnostic_report(resource: Json) -> Category:
    if _codes(resource.get("code"), LOINC) & ECG_LOINC:
        return Category.ECG
    sections = {code.upper() for code in _codes_in(resource.get("category", []), None)}
    if sections & ECG_SECTIONS:
        return Category.ECG
    if sections & IMAGING_SECTIONS or "IMAGING" in sections:
        return Category.IMAGING
    if sections & LAB_SECTIONS or "LABORATORY" in sections:
        return Category.LAB
    raise UnsupportedResourceError(_("DiagnosticReport category is not a laboratory, imaging or ECG section (HL7 v2-0074)"))


def _codes(concept: object, system: str | None) -> set[str]:
    """Codes of one CodeableConcept, optionally only those of `system`."""
    if not isinstance(concept, dict):
        return set()
    return {
        str(coding["code"])
        for coding in concept.get("coding", [])
        if "code" in coding and (system is None or coding.get("system") == system)
    }


def _codes_in(concepts: Iterable[object], system: str | None) -> set[str]:
    found: set[str] = set()
    for concept in concepts:
        found |= _codes(concept, system)
    return found
