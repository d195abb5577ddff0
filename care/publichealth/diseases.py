"""The notifiable disease list (shipped as data, `notifiable.json`) and matching FHIR codings against it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ICD10 = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm", "http://id.who.int/icd/release/10")
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"


@dataclass(frozen=True)
class Disease:
    id: str
    code: str  # the report's and the chain's disease code: the first ICD-10 category ("A00", "B50")
    name: str
    immediate: bool
    icd10: tuple[str, ...]
    snomed: frozenset[str]
    loinc: frozenset[str]


@cache
def notifiable() -> tuple[Disease, ...]:
    data = json.loads((Path(__file__).parent / "notifiable.json").read_text(encoding="utf-8"))
    return tuple(
        Disease(id=d["id"], code=d["icd10"][0], name=d["name"], immediate=bool(d["immediate"]), icd10=tuple(d["icd10"]),
                snomed=frozenset(d["snomed"]), loinc=frozenset(d["loinc"]))
        for d in data["diseases"]
    )


def by_code(code: str) -> Disease | None:
    """The disease whose report code (first ICD-10 category) is `code`."""
    return next((d for d in notifiable() if d.code == code), None)


def match_coding(system: str, code: str) -> Disease | None:
    """The notifiable disease an ICD-10 or SNOMED CT disorder coding names, or None."""
    if system in ICD10:
        return next((d for d in notifiable() if any(_icd10_in(code.upper(), c) for c in d.icd10)), None)
    if system == SNOMED:
        return next((d for d in notifiable() if code in d.snomed), None)
    return None


def match_lab(system: str, code: str) -> Disease | None:
    """The notifiable disease a LOINC laboratory test code is commonly used for, or None."""
    if system != LOINC:
        return None
    return next((d for d in notifiable() if code in d.loinc), None)


def _icd10_in(code: str, category: str) -> bool:
    """"A00.1" is in "A00"; "U07.1" is in "U07.1" (and its children "U07.1x"), not in "U07"."""
    return code == category or code.startswith(category + ".") or ("." in category and code.startswith(category))
