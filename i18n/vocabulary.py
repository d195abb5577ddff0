"""Display names of the ledger's codes: record categories, consent purposes, consortium roles.

The codes (ECG, TREATMENT, PROVIDER ...) stay what the contracts, the API's JSON and the CLI options use; only what a
person reads is translated. A code without an entry here is shown as itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from i18n import N_, _

CATEGORIES = {
    "LAB": N_("laboratory results"),
    "IMAGING": N_("imaging"),
    "ECG": N_("electrocardiograms"),
    "PRESCRIPTION": N_("prescriptions"),
    "NOTES": N_("clinical notes"),
    "DISCHARGE": N_("discharge summaries"),
    "SUMMARY": N_("patient summaries"),
    "ALLERGIES": N_("allergies and intolerances"),
    "MEDICATIONS": N_("medications taken"),
    "IMMUNIZATIONS": N_("immunisations"),
    "REFERRAL": N_("referrals and teleconsultations"),
    "DISPENSE": N_("medicines dispensed"),
}

PURPOSES = {
    "TREATMENT": N_("treatment"),
    "PAYMENT": N_("payment of care"),
    "RESEARCH": N_("research"),
    "PUBLIC_HEALTH": N_("public health"),
    "EMERGENCY": N_("emergency care"),
}

ROLES = {
    "GOVERNOR": N_("governor"),
    "PROVIDER": N_("care provider"),
    "PAYER": N_("payer"),
    "PHARMACY": N_("pharmacy"),
    "AUDITOR": N_("auditor"),
    "EMERGENCY": N_("emergency service"),
    "PRIVACY_OFFICER": N_("privacy officer"),
    "PUBLIC_HEALTH": N_("public-health authority"),
}


def _named(table: dict[str, str], codes: Iterable[str]) -> list[str]:
    return [_(table[code]) if code in table else code for code in codes]


def category_display(codes: Iterable[str]) -> list[str]:
    return _named(CATEGORIES, codes)


def purpose_display(codes: Iterable[str]) -> list[str]:
    return _named(PURPOSES, codes)


def role_display(codes: Iterable[str]) -> list[str]:
    return _named(ROLES, codes)


def joined(items: Iterable[str]) -> str:
    """A list in the current language's way: "a, b" / "a, b" / "a、b"."""
    from i18n import current_language

    return ("、" if current_language() == "zh_Hans" else ", ").join(items)
