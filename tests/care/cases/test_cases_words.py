"""What the patient reads before signing a case approval: category words, priority words and a date in her language,
not the chain's codes (ECG, STAT) or an ISO date; and the case vocabulary falls back to the code it does not know."""

from __future__ import annotations

from care.cases_views import CaseView, ConsultantView, approval_summary
from i18n import use_language
from i18n.formatting import datetime_text
from i18n.vocabulary import (
    case_state_display,
    consultant_status_display,
    decline_reason_display,
    priority_display,
)

REQUEST, ATTACHED = "0x" + "11" * 32, "0x" + "22" * 32
UNTIL = 1_796_601_600  # 2026-12-07 00:00 UTC


def view(priority: str = "STAT") -> CaseView:
    consultant = ConsultantView(address="0x" + "cc" * 20, name="Yinchuan Case Hospital", country="CN", status="INVITED")
    return CaseView(case_id="0x" + "ab" * 32, patient="0x" + "aa" * 20, requester="0x" + "bb" * 20, requester_name="Lokossa Hospital",
                    state="OPEN", priority=priority, opened_at=UNTIL - 86400, deadline=UNTIL - 80000, overdue=False, consent_until=None,
                    closed_at=None, request_id=REQUEST, attached_ids=[ATTACHED], consultants=[consultant], answers=[], notes=[])


def test_approval_summary_in_words() -> None:
    words = approval_summary(view(), UNTIL, {REQUEST: "REFERRAL", ATTACHED: "ECG"})
    assert "electrocardiograms (0x22222222…)" in words and "referrals and teleconsultations (0x11111111…)" in words
    assert "ECG" not in words and "REFERRAL" not in words and "STAT" not in words and "stat" not in words
    assert "priority: immediate" in words and "2026-12-07 00:00 UTC" in words


def test_approval_summary_dates_follow_the_language() -> None:
    with use_language("fr"):
        words = approval_summary(view("ROUTINE"), UNTIL, {REQUEST: "REFERRAL", ATTACHED: "ECG"})
        expected = datetime_text(UNTIL)
    assert expected != "2026-12-07 00:00 UTC" and expected in words and "2026-12-07" not in words


def test_case_vocabulary() -> None:
    assert case_state_display("OPEN") == "waiting for the patient's approval" and case_state_display("closed") == "closed"
    assert priority_display("URGENT") == "urgent" and priority_display("STAT") == "immediate"
    assert consultant_status_display("ANSWERED") == "answered" and decline_reason_display("OUT_OF_SPECIALTY") == "outside the specialty"
    assert case_state_display("SOMETHING_NEW") == "SOMETHING_NEW", "a code without words is shown as itself"
