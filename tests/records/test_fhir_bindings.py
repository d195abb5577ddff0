"""FHIR R4 required code bindings (records/fhir_bindings.py): each supported type refuses a code its required
value set does not hold, names the field, the value and the allowed codes; valid resources pass unchanged.

Unit level: no network.  The upload path through the API (nothing stored on refusal) is tests/api/test_api_fhir_bindings.py.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pydantic
import pytest
from fhir.resources.R4B import get_fhir_model_class

from records.errors import InvalidResourceError
from records.fhir import json_path, parse_stored, validate
from records.fhir_bindings import bindings_of, value_set
from records.fhir_value_sets import BINDINGS, VALUE_SETS

LIMIT = 1 << 20
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
SUBJECT = {"reference": "Patient/example"}
LOINC = "http://loinc.org"

# Resource types the record service stores (records/categories.py) and the care flows add, plus Bundle.
SUPPORTED = (
    "Observation", "DiagnosticReport", "ImagingStudy", "MedicationRequest", "DocumentReference", "Composition", "Condition",
    "Consent", "ServiceRequest", "Task", "Communication", "MedicationDispense", "MeasureReport", "AllergyIntolerance",
    "Immunization", "Bundle",
)


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


# One valid resource per supported type, carrying every element with a required binding (so each can be spoiled).
VALID: dict[str, Callable[[], dict[str, Any]]] = {
    "Observation": lambda: {
        "resourceType": "Observation", "status": "final", "code": _concept(LOINC, "2345-7"), "subject": SUBJECT,
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">glucose</div>'},
        "identifier": [{"use": "official", "value": "lab-1"}],
        "component": [{"code": _concept(LOINC, "2345-7"), "valueQuantity": {"value": 5.4, "comparator": "<", "unit": "mmol/L"}}],
    },
    "DiagnosticReport": lambda: {"resourceType": "DiagnosticReport", "status": "final", "code": _concept(LOINC, "24323-8"), "subject": SUBJECT},
    "ImagingStudy": lambda: {"resourceType": "ImagingStudy", "status": "available", "subject": SUBJECT},
    "MedicationRequest": lambda: {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order", "priority": "routine", "subject": SUBJECT,
        "medicationCodeableConcept": _concept("http://www.nlm.nih.gov/research/umls/rxnorm", "197361"),
        "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "dayOfWeek": ["mon", "thu"], "when": ["MORN"]}}}],
    },
    "DocumentReference": lambda: {
        "resourceType": "DocumentReference", "status": "current", "docStatus": "final",
        "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/old"}}],
        "content": [{"attachment": {"contentType": "text/plain", "data": "aGVsbG8="}}],
    },
    "Composition": lambda: {
        "resourceType": "Composition", "status": "final", "type": _concept(LOINC, "18842-5"), "date": "2024-05-02", "title": "Discharge summary",
        "author": [{"reference": "Practitioner/example"}], "confidentiality": "N",
        "attester": [{"mode": "legal"}], "relatesTo": [{"code": "appends", "targetReference": {"reference": "Composition/x"}}],
        "section": [{"title": "Plan", "mode": "snapshot"}],
    },
    "Condition": lambda: {
        "resourceType": "Condition", "subject": SUBJECT,
        "clinicalStatus": _concept(TERMINOLOGY + "condition-clinical", "active"),
        "verificationStatus": _concept(TERMINOLOGY + "condition-ver-status", "confirmed"),
    },
    "Consent": lambda: {
        "resourceType": "Consent", "status": "active", "scope": _concept("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
        "category": [_concept(LOINC, "59284-0")], "patient": SUBJECT,
        "provision": {"type": "permit", "data": [{"meaning": "instance", "reference": {"reference": "Observation/x"}}], "provision": [{"type": "deny"}]},
    },
    "ServiceRequest": lambda: {"resourceType": "ServiceRequest", "status": "active", "intent": "order", "priority": "urgent", "subject": SUBJECT},
    "Task": lambda: {"resourceType": "Task", "status": "requested", "intent": "order", "priority": "asap"},
    "Communication": lambda: {"resourceType": "Communication", "status": "completed", "priority": "routine"},
    "MedicationDispense": lambda: {"resourceType": "MedicationDispense", "status": "completed", "medicationCodeableConcept": _concept(LOINC, "x")},
    "MeasureReport": lambda: {
        "resourceType": "MeasureReport", "status": "complete", "type": "summary", "measure": "http://example.org/Measure/m",
        "period": {"start": "2024-01-01", "end": "2024-12-31"}, "improvementNotation": _concept(TERMINOLOGY + "measure-improvement-notation", "increase"),
    },
    "AllergyIntolerance": lambda: {
        "resourceType": "AllergyIntolerance", "patient": SUBJECT, "type": "allergy", "category": ["food", "medication"], "criticality": "high",
        "clinicalStatus": _concept(TERMINOLOGY + "allergyintolerance-clinical", "active"),
        "verificationStatus": _concept(TERMINOLOGY + "allergyintolerance-verification", "confirmed"),
        "reaction": [{"manifestation": [_concept("http://snomed.info/sct", "39579001")], "severity": "severe"}],
    },
    "Immunization": lambda: {
        "resourceType": "Immunization", "status": "completed", "vaccineCode": _concept("http://hl7.org/fhir/sid/cvx", "140"),
        "patient": SUBJECT, "occurrenceDateTime": "2024-05-02",
    },
    "Bundle": lambda: {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": VALID["Observation"](), "request": {"method": "POST", "url": "Observation"}}],
    },
}

# (type, JSON path to spoil, bad value, field the refusal must name, value set of the allowed codes)
BAD: list[tuple[str, str, Any, str, str]] = [
    ("Observation", "status", "done", "status", "observation-status"),
    ("Observation", "component[0].valueQuantity.comparator", "~", "component[0].valueQuantity.comparator", "quantity-comparator"),
    ("Observation", "identifier[0].use", "primary", "identifier[0].use", "identifier-use"),
    ("Observation", "text.status", "written", "text.status", "narrative-status"),
    ("DiagnosticReport", "status", "done", "status", "diagnostic-report-status"),
    ("ImagingStudy", "status", "final", "status", "imagingstudy-status"),
    ("MedicationRequest", "status", "done", "status", "medicationrequest-status"),
    ("MedicationRequest", "intent", "directive", "intent", "medicationrequest-intent"),  # request-intent has it, MedicationRequest's does not
    ("MedicationRequest", "priority", "high", "priority", "request-priority"),
    ("MedicationRequest", "dosageInstruction[0].timing.repeat.periodUnit", "day", "dosageInstruction[0].timing.repeat.periodUnit", "units-of-time"),
    ("MedicationRequest", "dosageInstruction[0].timing.repeat.dayOfWeek[1]", "thursday", "dosageInstruction[0].timing.repeat.dayOfWeek[1]", "days-of-week"),
    ("MedicationRequest", "dosageInstruction[0].timing.repeat.when[0]", "BREAKFAST", "dosageInstruction[0].timing.repeat.when[0]", "event-timing"),
    ("DocumentReference", "status", "final", "status", "document-reference-status"),
    ("DocumentReference", "docStatus", "done", "docStatus", "composition-status"),
    ("DocumentReference", "relatesTo[0].code", "supersedes", "relatesTo[0].code", "document-relationship-type"),
    ("Composition", "status", "done", "status", "composition-status"),
    ("Composition", "confidentiality", "secret", "confidentiality", "v3-ConfidentialityClassification"),
    ("Composition", "attester[0].mode", "witness", "attester[0].mode", "composition-attestation-mode"),
    ("Composition", "relatesTo[0].code", "amends", "relatesTo[0].code", "document-relationship-type"),
    ("Composition", "section[0].mode", "full", "section[0].mode", "list-mode"),
    ("Condition", "clinicalStatus.coding[0].code", "cured", "clinicalStatus.coding[0].code", "condition-clinical"),
    ("Condition", "verificationStatus.coding[0].code", "likely", "verificationStatus.coding[0].code", "condition-ver-status"),
    ("Consent", "status", "granted", "status", "consent-state-codes"),
    ("Consent", "provision.type", "allow", "provision.type", "consent-provision-type"),
    ("Consent", "provision.provision[0].type", "forbid", "provision.provision[0].type", "consent-provision-type"),
    ("Consent", "provision.data[0].meaning", "all", "provision.data[0].meaning", "consent-data-meaning"),
    ("ServiceRequest", "status", "done", "status", "request-status"),
    ("ServiceRequest", "intent", "request", "intent", "request-intent"),
    ("ServiceRequest", "priority", "normal", "priority", "request-priority"),
    ("Task", "status", "done", "status", "task-status"),
    ("Task", "intent", "directive", "intent", "task-intent"),
    ("Task", "priority", "low", "priority", "request-priority"),
    ("Communication", "status", "sent", "status", "event-status"),
    ("Communication", "priority", "whenever", "priority", "request-priority"),
    ("MedicationDispense", "status", "dispensed", "status", "medicationdispense-status"),
    ("MeasureReport", "status", "done", "status", "measure-report-status"),
    ("MeasureReport", "type", "patient", "type", "measure-report-type"),
    ("MeasureReport", "improvementNotation.coding[0].code", "up", "improvementNotation.coding[0].code", "measure-improvement-notation"),
    ("AllergyIntolerance", "clinicalStatus.coding[0].code", "current", "clinicalStatus.coding[0].code", "allergyintolerance-clinical"),
    ("AllergyIntolerance", "verificationStatus.coding[0].code", "suspected", "verificationStatus.coding[0].code", "allergyintolerance-verification"),
    ("AllergyIntolerance", "type", "sensitivity", "type", "allergy-intolerance-type"),
    ("AllergyIntolerance", "category[1]", "drug", "category[1]", "allergy-intolerance-category"),
    ("AllergyIntolerance", "criticality", "severe", "criticality", "allergy-intolerance-criticality"),
    ("AllergyIntolerance", "reaction[0].severity", "fatal", "reaction[0].severity", "reaction-event-severity"),
    ("Immunization", "status", "given", "status", "immunization-status"),
    ("Bundle", "type", "bag", "type", "bundle-type"),
    ("Bundle", "entry[0].request.method", "FETCH", "entry[0].request.method", "http-verb"),
    ("Bundle", "entry[0].resource.status", "done", "entry[0].resource.status", "observation-status"),
]


def _set(resource: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `resource` with the element at a JSON path such as "component[0].valueQuantity.comparator" replaced."""
    out = copy.deepcopy(resource)
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        steps.append(name)
        if rest:
            steps.extend(int(index) for index in rest.rstrip("]").split("]["))
    target: Any = out
    for step in steps[:-1]:
        target = target[step]
    target[steps[-1]] = value
    return out


def _refusal(resource: dict[str, Any]) -> InvalidResourceError:
    with pytest.raises(InvalidResourceError) as refused:
        validate(resource, LIMIT)
    return refused.value


@pytest.mark.parametrize("kind", SUPPORTED)
def test_valid_resources_pass_unchanged(kind: str) -> None:
    resource = VALID[kind]()
    model, canonical, _ = validate(resource, LIMIT)
    assert model.get_resource_type() == kind and canonical["resourceType"] == kind
    for element in bindings_of(kind):  # the sample really exercises every binding of its type
        assert element in canonical, f"VALID[{kind!r}] should carry {element}"


@pytest.mark.parametrize(("kind", "path", "bad", "field", "vs"), BAD, ids=[f"{kind}.{path}={bad}" for kind, path, bad, _, _ in BAD])
def test_a_code_outside_the_required_value_set_is_refused(kind: str, path: str, bad: Any, field: str, vs: str) -> None:
    refused = _refusal(_set(VALID[kind](), path, bad))
    (issue,) = refused.issues
    allowed = value_set(vs).codes
    assert issue.field == field and issue.value == bad and issue.allowed == allowed
    assert repr(bad) in issue.message and value_set(vs).url in issue.message and ", ".join(allowed) in issue.message
    assert f"invalid FHIR R4B {kind}: {field}: " in str(refused)


@pytest.mark.parametrize("kind", SUPPORTED)
def test_every_supported_type_has_a_refused_code(kind: str) -> None:
    assert bindings_of(kind), f"{kind} has no required binding in fhir_value_sets.BINDINGS"
    assert any(row[0] == kind for row in BAD), f"no refusal test for {kind}"


def test_every_bound_element_of_every_supported_type_is_tested() -> None:
    for kind in SUPPORTED:
        tested = {path.split(".")[0].split("[")[0] for k, path, *_ in BAD if k == kind}
        assert set(bindings_of(kind)) <= tested, (kind, set(bindings_of(kind)) - tested)


def test_concept_bindings_need_a_coding_of_the_value_sets_system() -> None:
    text_only = _set(VALID["Condition"](), "clinicalStatus", {"text": "active"})
    (issue,) = _refusal(text_only).issues
    assert issue.field == "clinicalStatus" and issue.value == "active" and issue.allowed == value_set("condition-clinical").codes
    assert TERMINOLOGY + "condition-clinical" in issue.message

    other_system = _set(VALID["Condition"](), "clinicalStatus", _concept("http://snomed.info/sct", "55561003"))
    (issue,) = _refusal(other_system).issues
    assert issue.field == "clinicalStatus" and issue.value == ["http://snomed.info/sct|55561003"]

    # a translation from another system next to an allowed code is fine
    translated = _set(VALID["Condition"](), "clinicalStatus.coding", [{"system": "http://snomed.info/sct", "code": "55561003"}, {"system": TERMINOLOGY + "condition-clinical", "code": "active"}])
    validate(translated, LIMIT)


def test_every_offending_element_is_listed() -> None:
    resource = _set(_set(VALID["MedicationRequest"](), "status", "done"), "intent", "wish")
    refused = _refusal(resource)
    assert sorted((i.field, i.value) for i in refused.issues) == [("intent", "wish"), ("status", "done")]
    assert "status: 'done'" in str(refused) and "intent: 'wish'" in str(refused)


def test_bindings_are_checked_in_bundle_entries_and_contained_resources() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": VALID["Observation"]()}, {"resource": _set(VALID["Task"](), "status", "done")}]}
    (issue,) = _refusal(bundle).issues
    assert issue.field == "entry[1].resource.status" and issue.value == "done" and issue.allowed == value_set("task-status").codes

    contained = dict(VALID["DiagnosticReport"](), contained=[_set(VALID["Observation"](), "status", "done") | {"id": "o1"}])
    (issue,) = _refusal(contained).issues
    assert issue.field == "contained[0].status"


def test_structural_errors_name_the_field_instead_of_pydantic_text() -> None:
    resource = VALID["Observation"]()
    del resource["component"][0]["code"]
    resource["effectiveDateTime"] = "yesterday"
    resource["colour"] = "red"
    refused = _refusal(resource)
    by_field = {issue.field: issue for issue in refused.issues}
    assert set(by_field) == {"component[0].code", "effectiveDateTime", "colour"}
    assert by_field["component[0].code"].message == "required element is missing" and by_field["component[0].code"].value is None
    assert by_field["effectiveDateTime"].value == "yesterday" and by_field["colour"].value == "red"
    assert "errors.pydantic.dev" not in str(refused) and "validation error for" not in str(refused)
    assert all(issue.allowed is None for issue in refused.issues)

    assert [(i.field, i.value) for i in _refusal({"resourceType": "Obsrvation"}).issues] == [("resourceType", "Obsrvation")]
    assert [i.field for i in _refusal({"status": "final"}).issues] == ["resourceType"]


def test_issues_serialise_as_field_value_allowed_message() -> None:
    (issue,) = _refusal(_set(VALID["Observation"](), "status", "done")).issues
    assert issue.as_json() == {
        "field": "status", "value": "done", "allowed": list(value_set("observation-status").codes), "message": issue.message,
    }


def test_stored_payloads_are_read_without_the_binding_check() -> None:
    """A record anchored before this check existed stays readable: bindings are checked on the way in only."""
    stored = b'{"code":{"text":"x"},"resourceType":"Observation","status":"done"}'
    assert parse_stored(stored)[1]["status"] == "done"
    with pytest.raises(InvalidResourceError):
        validate(stored, LIMIT)


def test_json_path() -> None:
    assert json_path(("component", 0, "code")) == "component[0].code"
    assert json_path(("entry", 1, "resource", "status")) == "entry[1].resource.status"
    assert json_path(()) == ""


# --- the data table itself ------------------------------------------------------------------------------------------
def test_every_binding_names_a_real_element_and_value_set() -> None:
    for kind, elements in BINDINGS.items():
        model = get_fhir_model_class(kind)
        aliases = {info.alias or name: info for name, info in model.model_fields.items()}
        for element, key in elements.items():
            assert key in VALUE_SETS, (kind, element, key)
            assert element in aliases, f"{kind} has no element {element}"
            concept = "CodeableConcept" in str(aliases[element].annotation)
            assert concept == (value_set(key).system is not None), f"{kind}.{element}: a CodeableConcept binding needs the code system, a code binding none"
    for key, row in VALUE_SETS.items():
        assert row["codes"] and len(set(row["codes"])) == len(row["codes"]), key
    assert {key for elements in BINDINGS.values() for key in elements.values()} == set(VALUE_SETS), "unused value sets"


# Modules of fhir.resources whose code elements are checked against the table; fields with a complete
# `enum_values` list are the required bindings fhir.resources knows of (it lists them but does not enforce them).
MODULES = [kind.lower() for kind in SUPPORTED] + [
    "quantity", "age", "count", "distance", "duration", "identifier", "humanname", "contactpoint", "address", "timing",
    "narrative", "relatedartifact", "contributor", "datarequirement", "triggerdefinition", "parameterdefinition",
]
NOT_REQUIRED = {("Expression", "language")}  # extensible in R4: fhir.resources lists examples


def _enum_fields() -> list[tuple[str, str, list[str]]]:
    found = []
    for module_name in MODULES:
        module = importlib.import_module(f"fhir.resources.R4B.{module_name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, pydantic.BaseModel):
                continue
            for name, info in cls.model_fields.items():
                extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
                if extra.get("enum_values"):
                    found.append((cls.get_resource_type(), info.alias or name, list(extra["enum_values"])))
    return found


def test_table_agrees_with_the_codes_fhir_resources_lists() -> None:
    fields = _enum_fields()
    assert len(fields) > 40
    for kind, element, listed in fields:
        if (kind, element) in NOT_REQUIRED:
            continue
        assert element in bindings_of(kind), f"{kind}.{element} has a required binding missing from fhir_value_sets.BINDINGS"
        codes = set(bindings_of(kind)[element].codes)
        complete = [code for code in listed if code not in ("+", "etc.")]  # "+" marks a list fhir.resources cut short
        assert set(complete) <= codes, (kind, element, set(complete) - codes)
        if "+" not in listed:
            assert set(complete) == codes, (kind, element, codes ^ set(complete))

