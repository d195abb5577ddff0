"""Display names of the ledger's codes: record categories, consent purposes, consortium roles, break-glass reviews.

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


# A break-glass's review (ledger.emergency.Review, by name as the API gives it).
REVIEWS = {
    "PENDING": N_("not reviewed yet"),
    "JUSTIFIED": N_("reviewed: justified"),
    "UNJUSTIFIED": N_("reviewed: unjustified"),
}


# A consortium member's status (ledger.registry.MemberStatus, by name).
MEMBER_STATUSES = {"NONE": N_("not a member"), "ACTIVE": N_("active"), "SUSPENDED": N_("suspended")}

# An alert's level (care.alerts: info, warning, critical) and a public-health alert's rule (ledger.publichealth.RULE_NAMES).
ALERT_LEVELS = {"info": N_("information"), "warning": N_("warning"), "critical": N_("critical")}
ALERT_RULES = {"manual": N_("raised by hand"), "immediately-notifiable": N_("immediately notifiable disease"), "above-baseline": N_("above the baseline")}

# A referral case's state, priority and consultant status, and a consultant's decline reason (ledger.cases, by name).
CASE_STATES = {"OPEN": N_("waiting for the patient's approval"), "APPROVED": N_("approved"), "REFUSED": N_("refused by the patient"), "CLOSED": N_("closed")}
CASE_PRIORITIES = {"ROUTINE": N_("routine"), "URGENT": N_("urgent"), "STAT": N_("immediate")}
CONSULTANT_STATUSES = {"INVITED": N_("invited"), "ACCEPTED": N_("accepted"), "DECLINED": N_("declined"), "ANSWERED": N_("answered")}
DECLINE_REASONS = {"BUSY": N_("busy"), "OUT_OF_SPECIALTY": N_("outside the specialty"), "INSUFFICIENT_DATA": N_("not enough data"), "OTHER": N_("other reason")}


def _named(table: dict[str, str], codes: Iterable[str]) -> list[str]:
    return [_(table[code]) if code in table else code for code in codes]


def category_display(codes: Iterable[str]) -> list[str]:
    return _named(CATEGORIES, codes)


def purpose_display(codes: Iterable[str]) -> list[str]:
    return _named(PURPOSES, codes)


def role_display(codes: Iterable[str]) -> list[str]:
    return _named(ROLES, codes)


def status_display(code: str) -> str:
    return _named(MEMBER_STATUSES, [str(code).upper()])[0]


def level_display(code: str) -> str:
    return _named(ALERT_LEVELS, [str(code).lower()])[0]


def rule_display(code: str) -> str:
    return _named(ALERT_RULES, [str(code)])[0]


def review_display(code: str | None) -> str:
    """PENDING -> "not reviewed yet" ... in the current language; empty for no code."""
    return _named(REVIEWS, [str(code).upper()])[0] if code else ""


def case_state_display(code: str) -> str:
    return _named(CASE_STATES, [str(code).upper()])[0]


def priority_display(code: str) -> str:
    return _named(CASE_PRIORITIES, [str(code).upper()])[0]


def consultant_status_display(code: str) -> str:
    return _named(CONSULTANT_STATUSES, [str(code).upper()])[0]


def decline_reason_display(code: str) -> str:
    return _named(DECLINE_REASONS, [str(code).upper()])[0]


def joined(items: Iterable[str]) -> str:
    """A list in the current language's way: "a, b" / "a, b" / "a、b"."""
    from i18n import current_language

    return ("、" if current_language() == "zh_Hans" else ", ").join(items)
