"""A missing or expired consent, said in words: which institution, which category, which purpose, and since when.

The contract's refusal is `NoConsent(patient, grantee, category, purpose)`; the record service's is an
`AccessDeniedError` carrying the same four facts as attributes (its message is in the request's language, so it is
never parsed). Either way the caller reads why, asked of the ConsentLedger at the chain's head: the consent was
never granted, was revoked, expired on a date, starts later, or does not cover that category or purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api.problems import ProblemError
from i18n import _
from i18n.formatting import datetime_text
from i18n.vocabulary import category_display, purpose_display
from ledger.vocabulary import Category, Purpose
from records.errors import AccessDeniedError

if TYPE_CHECKING:
    from api.services import Services


@dataclass(frozen=True)
class ConsentRefusal:
    patient: str
    grantee: str
    category: Category | None
    purpose: Purpose | None

    @classmethod
    def from_error(cls, error: BaseException | None) -> ConsentRefusal | None:
        """The facts an AccessDeniedError carries; None when it is not a consent refusal (or not that error)."""
        if not isinstance(error, AccessDeniedError) or not error.is_consent_refusal or error.patient is None or error.grantee is None:
            return None
        return cls(error.patient, error.grantee, error.category, error.purpose)


def _category(code: Any) -> Category | None:
    try:
        return Category(int(code))
    except (TypeError, ValueError):
        return None


def _purpose(code: Any) -> Purpose | None:
    try:
        value = int(code)
        return Purpose(value) if value in {int(p) for p in Purpose} else None
    except (TypeError, ValueError):
        return None


def in_words(svc: Services, problem: ProblemError, cause: BaseException | None = None) -> ProblemError:
    """`problem` with its detail in words when it is a consent refusal (the contract's or the record service's);
    the technical refusal follows in brackets, for support staff and logs.

    `cause` is the record service's error the problem was made of: its facts travel as attributes, not as text."""
    refusal = None
    if problem.extra.get("error") == "NoConsent":
        args = problem.extra.get("arguments") or {}
        refusal = ConsentRefusal(str(args.get("patient", "")), str(args.get("grantee", "")), _category(args.get("category")), _purpose(args.get("purpose")))
    elif problem.slug == "no-consent" and cause is not None:
        refusal = ConsentRefusal.from_error(cause)
    if refusal is None or not refusal.patient or not refusal.grantee:
        return problem
    problem.detail = f"{explain(svc, refusal)} ({problem.detail})"
    return problem


def explain(svc: Services, refusal: ConsentRefusal) -> str:
    """One sentence: who lacks consent for what, and why, as the ConsentLedger stands now."""
    try:
        institution = svc.member_name(refusal.grantee) or refusal.grantee
    except Exception:  # noqa: BLE001 - the address still names it
        institution = refusal.grantee
    category = category_display([refusal.category.name])[0] if refusal.category is not None else _("these records")
    purpose = purpose_display([refusal.purpose.name])[0] if refusal.purpose is not None else _("this purpose")
    who = _("{institution} ({grantee}) has no consent of patient {patient} to use {category} for {purpose}").format(
        institution=institution, grantee=refusal.grantee, patient=refusal.patient, category=category, purpose=purpose
    )
    return f"{who}: {_why(svc, refusal)}"


def _why(svc: Services, refusal: ConsentRefusal) -> str:
    try:
        consent = svc.consents.consent(refusal.patient, refusal.grantee)
        now = svc.chain_time()
    except Exception:  # noqa: BLE001 - the refusal stands; only its explanation is unavailable
        return _("the consent could not be read from the ledger just now")
    if consent.status == "NONE":
        return _("the patient never granted this institution a consent")
    if consent.status == "REVOKED":
        return _("the patient revoked the consent")
    if consent.valid_until <= now:
        return _("the consent expired on {when}").format(when=datetime_text(consent.valid_until))
    if consent.valid_from > now:
        return _("the consent only starts on {when}").format(when=datetime_text(consent.valid_from))
    if refusal.category is not None and refusal.category.name not in consent.categories:
        return _("the consent covers only {categories}").format(categories=", ".join(category_display(consent.categories)))
    if refusal.purpose is not None and refusal.purpose.name not in consent.purposes:
        return _("the consent is only for {purposes}").format(purposes=", ".join(purpose_display(consent.purposes)))
    return _("the record's date lies outside the period of data the consent covers")
