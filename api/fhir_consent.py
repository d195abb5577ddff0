"""A ledger consent as a FHIR R4 Consent resource (validated with fhir.resources' R4B models).

Identities are addresses, never names alone: patient and actor are References by identifier
(system `urn:healthsilk:address`), with the registry name as display for the grantee.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.consent import Consent as FhirConsent
from pydantic import BaseModel, ConfigDict, Field

from ledger.consent import Consent

ADDRESS_SYSTEM = "urn:healthsilk:address"
CONSENT_ID_SYSTEM = "urn:healthsilk:consent-id"
CATEGORY_SYSTEM = "https://healthsilk.dev/fhir/CodeSystem/record-category"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PURPOSE_CODES = {
    "TREATMENT": ("TREAT", "treatment"),
    "PAYMENT": ("HPAYMT", "healthcare payment"),
    "RESEARCH": ("HRESCH", "healthcare research"),
    "PUBLIC_HEALTH": ("PUBHLTH", "public health"),
    "EMERGENCY": ("ETREAT", "emergency treatment"),
}


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _by_address(address: str, display: str | None = None) -> dict[str, Any]:
    reference: dict[str, Any] = {"identifier": {"system": ADDRESS_SYSTEM, "value": address}}
    if display:
        reference["display"] = display
    return reference


def consent_resource(consent: Consent, consent_id: bytes | None, grantee_name: str | None, granted_at: int | None) -> dict[str, Any]:
    """The FHIR Consent JSON for one (patient, grantee) consent; raises ValueError if FHIR validation fails."""
    provision: dict[str, Any] = {
        "type": "permit",
        "period": {"start": _when(consent.valid_from), "end": _when(consent.valid_until)},
        "actor": [
            {
                "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}]},
                "reference": _by_address(consent.grantee, grantee_name),
            }
        ],
        "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access", "display": "Access"}]}],
        "purpose": [{"system": ACT_REASON, "code": PURPOSE_CODES[p][0], "display": PURPOSE_CODES[p][1]} for p in consent.purposes],
        "class": [{"system": CATEGORY_SYSTEM, "code": c} for c in consent.categories],
    }
    if consent.data_from or consent.data_until:
        data_period: dict[str, str] = {"start": _when(consent.data_from)}
        if consent.data_until:
            data_period["end"] = _when(consent.data_until)
        provision["dataPeriod"] = data_period
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active" if consent.status == "ACTIVE" else "inactive",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy", "display": "Privacy Consent"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": _by_address(consent.patient),
        "performer": [_by_address(consent.patient)],
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN", "display": "opt-in"}]},
        "provision": provision,
    }
    if consent_id is not None and any(consent_id):
        resource["id"] = consent_id.hex()[:64]
        resource["identifier"] = [{"system": CONSENT_ID_SYSTEM, "value": "0x" + consent_id.hex()}]
    if granted_at is not None:
        resource["dateTime"] = _when(granted_at)
    FhirConsent.model_validate(resource)  # raises on anything FHIR R4 would refuse
    return resource


# --- the response schema in the OpenAPI document (the subset of FHIR Consent this API emits) ---------
class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Coding(_Model):
    system: str
    code: str
    display: str | None = None


class CodeableConcept(_Model):
    coding: list[Coding]


class Identifier(_Model):
    system: str
    value: str


class Reference(_Model):
    identifier: Identifier
    display: str | None = None


class Period(_Model):
    start: str | None = None
    end: str | None = None


class ProvisionActor(_Model):
    role: CodeableConcept
    reference: Reference


class Provision(_Model):
    type: str
    period: Period
    dataPeriod: Period | None = None
    actor: list[ProvisionActor]
    action: list[CodeableConcept]
    purpose: list[Coding]
    class_: list[Coding] = Field(alias="class")


class FhirConsentOut(_Model):
    """A FHIR R4 Consent resource (media type application/fhir+json)."""

    resourceType: str = Field(pattern="^Consent$")
    id: str | None = None
    identifier: list[Identifier] | None = None
    status: str
    scope: CodeableConcept
    category: list[CodeableConcept]
    patient: Reference
    performer: list[Reference]
    dateTime: str | None = None
    policyRule: CodeableConcept
    provision: Provision
