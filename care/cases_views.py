"""What a referral case looks like to its parties: the case view built from its state and its events, and the plain
words a patient reads before signing an approval or a refusal."""

from __future__ import annotations

from collections.abc import Callable

from eth_utils import to_checksum_address
from pydantic import BaseModel, Field

from i18n import _
from i18n.formatting import datetime_text
from i18n.vocabulary import category_display, joined, priority_display
from ledger.cases import CaseInfo, DeclineReason, ReferralCases
from ledger.events import DecodedEvent
from ledger.registry import Member
from ledger.vocabulary import Category


def hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class ConsultantView(BaseModel):
    address: str
    name: str | None
    country: str | None
    status: str = Field(description="INVITED, ACCEPTED, DECLINED or ANSWERED")
    accepted_at: int | None = None
    answered_at: int | None = None
    answers: int = 0
    decline_reason: str | None = None


class CaseRecordView(BaseModel):
    record_id: str
    category: str | None = None
    author: str | None = Field(default=None, description="the answering consultant (answers) or the requester (notes)")
    block_number: int | None = None
    shared_with: list[str] = Field(default_factory=list, description="consultants the requester shared it with")


class CaseView(BaseModel):
    case_id: str
    patient: str
    requester: str
    requester_name: str | None
    state: str = Field(description="OPEN (waiting for the patient), APPROVED, REFUSED or CLOSED")
    priority: str
    opened_at: int
    deadline: int
    overdue: bool = Field(description="past the deadline and neither closed nor refused")
    consent_until: int | None = Field(description="end of the case consent (set by the approval)")
    closed_at: int | None
    request_id: str
    attached_ids: list[str]
    consultants: list[ConsultantView]
    answers: list[CaseRecordView]
    notes: list[CaseRecordView] = Field(description="the requester's own records linked to the case: messages, panel conclusion")


def case_view(cases: ReferralCases, info: CaseInfo, member: Callable[[str], Member | None], now: int) -> CaseView:
    """The case from its two storage words and its events (the detail lives in the events)."""
    history = cases.history(info.case_id)
    opened = next(e for e in history if e.name == "CaseOpened")
    reasons = {to_checksum_address(e.args["consultant"]): DeclineReason(e.args["reason"]).name for e in history if e.name == "CaseDeclined"}
    consultants: list[ConsultantView] = []
    invited = cases.consultants_in(history)
    for address in invited:
        state = cases.consultant(info.case_id, address)
        m = member(address)
        consultants.append(
            ConsultantView(
                address=address, name=m.name if m else None, country=m.country if m else None, status=state.status.name,
                accepted_at=state.accepted_at or None, answered_at=state.answered_at or None, answers=state.answers, decline_reason=reasons.get(address),
            )
        )
    answers, notes = _linked_records(history, invited)
    requester = member(info.requester)
    return CaseView(
        case_id=hex32(info.case_id), patient=info.patient, requester=info.requester, requester_name=requester.name if requester else None,
        state=info.state.name, priority=info.priority.name, opened_at=info.opened_at, deadline=info.deadline, overdue=info.overdue(now),
        consent_until=info.consent_until or None, closed_at=info.closed_at or None, request_id=hex32(opened.args["requestId"]),
        attached_ids=[hex32(r) for r in opened.args["attachedIds"]], consultants=consultants, answers=answers, notes=notes,
    )


def _linked_records(history: list[DecodedEvent], invited: list[str]) -> tuple[list[CaseRecordView], list[CaseRecordView]]:
    answers: dict[bytes, CaseRecordView] = {}
    notes: dict[bytes, CaseRecordView] = {}
    for event in history:
        if event.name == "CaseAnswered":
            rid = bytes(event.args["recordId"])
            answers[rid] = CaseRecordView(record_id=hex32(rid), category=Category(event.args["category"]).name, author=to_checksum_address(event.args["consultant"]), block_number=event.block_number)
        elif event.name == "CaseShared":
            rid = bytes(event.args["recordId"])
            view = answers.get(rid) or notes.setdefault(rid, CaseRecordView(record_id=hex32(rid), block_number=event.block_number))
            mask = int(event.args["sharedWith"])
            view.shared_with = [address for index, address in enumerate(invited) if mask >> index & 1]
    return list(answers.values()), list(notes.values())


def when(timestamp: int) -> str:
    """A chain time as the reader's language writes it (the patient reads what she signs in her language)."""
    return datetime_text(timestamp)


def approval_summary(view: CaseView, until: int, categories: dict[str, str]) -> str:
    """What the patient agrees to, in plain words: which records, to whom, until when (shown before signing).

    `categories`: record id -> category name of the request and the attached records."""
    who = joined(_("{name} ({country})").format(name=c.name or c.address, country=c.country or "?") for c in view.consultants)
    # Category words, not codes; the short id lets her match a record with her wallet's record list.
    records = joined(
        _("{category} ({record})").format(category=category_display([categories.get(rid, "?")])[0], record=rid[:10] + "…")
        for rid in [view.request_id, *view.attached_ids]
    )
    return _(
        "Approve referral case {case}: {requester} asks {consultants} for a consultation (priority: {priority}). They may read these {count} "
        "records of yours: {records}, until {until} or until the case is closed, whichever comes first. Their answers are "
        "written to your record and shared with {requester}."
    ).format(
        case=view.case_id[:10] + "…", requester=view.requester_name or view.requester, consultants=who, priority=priority_display(view.priority),
        count=1 + len(view.attached_ids), records=records, until=when(until),
    )


def refusal_summary(view: CaseView) -> str:
    return _("Refuse referral case {case} from {requester}: no consultant will read your records under it.").format(
        case=view.case_id[:10] + "…", requester=view.requester_name or view.requester
    )

