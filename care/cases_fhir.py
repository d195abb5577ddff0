"""FHIR R4 resources of a referral case (IHE 360X closed-loop referral): the ServiceRequest that asks, the
Communication of the consultation room, the DiagnosticReport that answers. Synthetic clinical text only; clinical
text inside FHIR is never translated."""

from __future__ import annotations

from typing import Any

SUBJECT = {"display": "patient (identified by wallet address on the ledger)"}
SNOMED = "http://snomed.info/sct"


def service_request(asked: str, code: str = "11429006", display: str = "Consultation", priority: str = "routine", note: str = "") -> dict[str, Any]:
    """What the requester asks (interpretation of an ECG, a second opinion, a panel consultation)."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": priority,  # routine | urgent | stat (asap is not used by cases)
        "category": [{"coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}]}],
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": asked},
        "subject": SUBJECT,
    }
    if note:
        resource["note"] = [{"text": note}]
    return resource


def communication(text: str, sent: str = "2026-11-21T10:00:00+08:00") -> dict[str, Any]:
    """A message of the consultation room (a question back, an answer in words, the requester's reply)."""
    return {"resourceType": "Communication", "status": "completed", "subject": SUBJECT, "sent": sent, "payload": [{"contentString": text}]}


def ecg_report(conclusion: str, performer: str, issued: str = "2026-11-21T14:05:00+08:00") -> dict[str, Any]:
    """A consultant's reading of an ECG (DiagnosticReport, electrocardiac section: category ECG)."""
    return {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "EC", "display": "Electrocardiac"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "18844-1", "display": "EKG impression"}]},
        "subject": SUBJECT,
        "issued": issued,
        "performer": [{"display": performer}],
        "conclusion": conclusion,
    }
