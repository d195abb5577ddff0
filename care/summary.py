"""The emergency summary: an International Patient Summary (IPS) style FHIR Bundle of type `document`.

What an emergency doctor needs first: allergies and intolerances, current medications, problems, immunisations and
the last ECG. The Bundle holds what the caller could read, the newest version of each record; a section whose
records exist but could not be read (author offline, outside the caller's rights) says so with an `emptyReason`.
Clinical text is never translated; section titles are the IPS (LOINC) ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.records import Anchor
from ledger.vocabulary import Category

# IPS sections: category -> (LOINC code, title). ECG keeps only the newest record.
SECTIONS: dict[Category, tuple[str, str]] = {
    Category.ALLERGIES: ("48765-2", "Allergies and adverse reactions"),
    Category.MEDICATIONS: ("10160-0", "History of medication use"),
    Category.SUMMARY: ("11450-4", "Problem list"),
    Category.IMMUNIZATIONS: ("11369-6", "History of immunizations"),
    Category.ECG: ("8601-7", "EKG impression"),
}
IPS_CATEGORIES = tuple(SECTIONS)
SUMMARY_MASK = sum(c.bit for c in IPS_CATEGORIES)


def newest_versions(anchors: list[Anchor], erased: set[bytes]) -> list[Anchor]:
    """Anchors in the summary's categories, newest version of each record chain, erased ones dropped; ECG: the last."""
    superseded = {bytes(a.supersedes) for a in anchors if any(a.supersedes)}
    current = [a for a in anchors if a.record_id not in superseded and a.record_id not in erased and a.batch is None
               and a.category in {c.value for c in IPS_CATEGORIES}]
    current.sort(key=lambda a: a.block_number)
    ecgs = [a for a in current if a.category == Category.ECG.value]
    return [a for a in current if a.category != Category.ECG.value] + ecgs[-1:]


@dataclass
class SummaryInput:
    patient: str
    resources: dict[int, list[tuple[bytes, dict[str, Any]]]] = field(default_factory=dict)  # category -> (record id, resource)
    unreadable: dict[int, list[tuple[bytes, str]]] = field(default_factory=dict)  # category -> (record id, why)

    def add(self, category: int, record_id: bytes, resource: dict[str, Any]) -> None:
        self.resources.setdefault(category, []).append((record_id, resource))

    def missing(self, category: int, record_id: bytes, why: str) -> None:
        self.unreadable.setdefault(category, []).append((record_id, why))


def build_bundle(summary: SummaryInput, now: int, author: str) -> dict[str, Any]:
    """The IPS-style document Bundle (Composition first, then every resource), dated by chain time `now`."""
    stamp = datetime.fromtimestamp(now, tz=UTC).isoformat().replace("+00:00", "Z")
    entries: list[dict[str, Any]] = []
    sections: list[dict[str, Any]] = []
    for category, (code, title) in SECTIONS.items():
        found = summary.resources.get(category.value, [])
        section: dict[str, Any] = {"title": title, "code": {"coding": [{"system": "http://loinc.org", "code": code}]}}
        refs = []
        for record_id, resource in found:
            full_url = f"urn:healthsilk:record:0x{bytes(record_id).hex()}"
            entries.append({"fullUrl": full_url, "resource": resource})
            refs.append({"reference": full_url})
        if refs:
            section["entry"] = refs
        else:
            missing = summary.unreadable.get(category.value, [])
            reason = "unavailable" if missing else "nilknown"
            section["emptyReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason", "code": reason}]}
            if missing:
                lines = "; ".join(f"0x{bytes(rid).hex()}: {why}" for rid, why in missing)
                section["text"] = {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{_escape(lines)}</div>'}
        sections.append(section)
    composition = {
        "resourceType": "Composition",
        "id": str(uuid.uuid4()),
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "60591-5", "display": "Patient summary Document"}]},
        "subject": {"identifier": {"system": "urn:ethereum:address", "value": summary.patient}},
        "date": stamp,
        "author": [{"identifier": {"system": "urn:ethereum:address", "value": author}}],
        "title": "Patient Summary",
        "section": sections,
    }
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": stamp,
        "entry": [{"fullUrl": f"urn:uuid:{composition['id']}", "resource": composition}, *entries],
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
