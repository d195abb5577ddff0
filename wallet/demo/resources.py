"""Synthetic FHIR R4 resources the demo uploads (no real patient's data, ever)."""

from __future__ import annotations

import math
from typing import Any

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
SAMPLES_PER_SECOND = 250
SECONDS = 10
MDC_ECG_LEAD_CODES = {lead: f"1311{index:02d}" for index, lead in enumerate(LEADS)}


def _beat(t: float, lead_gain: float) -> int:
    """A crude sinus rhythm at 72 bpm: P wave, QRS spike and T wave, in microvolts / factor 5."""
    phase = (t * 1.2) % 1.0
    p = 0.15 * math.exp(-((phase - 0.15) / 0.025) ** 2)
    qrs = 1.2 * math.exp(-((phase - 0.30) / 0.008) ** 2) - 0.25 * math.exp(-((phase - 0.32) / 0.01) ** 2)
    wave_t = 0.3 * math.exp(-((phase - 0.55) / 0.05) ** 2)
    return round((p + qrs + wave_t) * lead_gain * 200)


def twelve_lead_ecg(effective: str = "2026-11-20T09:30:00+01:00") -> dict[str, Any]:
    """A 10-second resting 12-lead ECG as one Observation with a SampledData component per lead."""
    components = []
    for index, lead in enumerate(LEADS):
        gain = 1.0 - 0.12 * index if lead != "aVR" else -0.8
        samples = " ".join(str(_beat(i / SAMPLES_PER_SECOND, gain)) for i in range(SAMPLES_PER_SECOND * SECONDS))
        components.append(
            {
                "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.24", "code": MDC_ECG_LEAD_CODES[lead], "display": f"Lead {lead}"}]},
                "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 1000 / SAMPLES_PER_SECOND, "factor": 5, "dimensions": 1, "data": samples},
            }
        )
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "procedure"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
        "subject": {"display": "patient (identified by wallet address on the ledger)"},
        "effectiveDateTime": effective,
        "performer": [{"display": "Lokossa Departmental Hospital, cardiology unit"}],
        "component": components,
    }


def ecg_interpretation(ecg_record_id: str) -> dict[str, Any]:
    """The remote cardiologists' report on the ECG (a DiagnosticReport in the ECG section)."""
    return {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "EC", "display": "Electrocardiac"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "18844-1", "display": "EKG impression"}]},
        "subject": {"display": "patient (identified by wallet address on the ledger)"},
        "issued": "2026-11-20T14:05:00+08:00",
        "performer": [{"display": "Yinchuan First People's Hospital, department of cardiology"}],
        "conclusion": f"Sinus rhythm, 72 bpm. Normal axis. No acute ST-T changes. (ECG record {ecg_record_id})",
        "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "426783006", "display": "Normal sinus rhythm"}]}],
    }
