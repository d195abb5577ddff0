"""Record categories and consent purposes: the codes the contracts use (contracts/libraries/ConsentPolicy.sol)."""

from __future__ import annotations

from enum import IntEnum, IntFlag


class Category(IntEnum):
    """A record's category code; consents cover categories as the bitmask 1 << code."""

    LAB = 0
    IMAGING = 1
    ECG = 2
    PRESCRIPTION = 3
    NOTES = 4
    DISCHARGE = 5
    SUMMARY = 6
    ALLERGIES = 7  # AllergyIntolerance
    MEDICATIONS = 8  # MedicationStatement
    IMMUNIZATIONS = 9  # Immunization
    REFERRAL = 10  # ServiceRequest, Communication: a teleconsultation case's request and conversation
    DISPENSE = 11  # MedicationDispense
    PROCEDURES = 12  # Procedure: operations, interventions, what was done to the patient
    DEMOGRAPHICS = 13  # Patient: name, birth date, gender, address, contacts (personal data of its own)

    @property
    def bit(self) -> int:
        return 1 << self.value


class Purpose(IntFlag):
    TREATMENT = 1
    PAYMENT = 2
    RESEARCH = 4
    PUBLIC_HEALTH = 8
    EMERGENCY = 16


def parse_categories(text: str | list[str]) -> int:
    """"ECG,LAB" -> category bitmask; ValueError naming the unknown category."""
    return _parse(text, {c.name: c.bit for c in Category}, "category")


def parse_purposes(text: str | list[str]) -> int:
    return _parse(text, {p.name: int(p) for p in Purpose}, "purpose")  # type: ignore[misc]


def category_names(mask: int) -> list[str]:
    return [c.name for c in Category if mask & c.bit]


def purpose_names(mask: int) -> list[str]:
    return [p.name for p in Purpose if mask & p]  # type: ignore[misc]


def _parse(text: str | list[str], table: dict[str, int], what: str) -> int:
    items = [item.strip().upper().replace("-", "_") for item in (text.split(",") if isinstance(text, str) else text) if item.strip()]
    if not items:
        raise ValueError(f"at least one {what} is required")
    mask = 0
    for item in items:
        if item not in table:
            raise ValueError(f"unknown {what} {item!r}; choose from {', '.join(table)}")
        mask |= table[item]
    return mask
