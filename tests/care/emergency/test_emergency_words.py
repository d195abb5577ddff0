"""What the patient (or her delegate) reads before signing a break-glass review or her emergency policy: category words,
not the chain's codes (ECG, SUMMARY), and times in her language."""

from __future__ import annotations

from care.emergency import PolicyMode, policy_words, review_words
from i18n import use_language
from i18n.formatting import datetime_text
from ledger.emergency import BreakGlassAccess, ReasonCode, Review
from ledger.vocabulary import Category

PATIENT, GUARDIAN, AMBULANCE = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
OPENED = 1_796_601_600  # 2026-12-07 00:00 UTC


def access() -> BreakGlassAccess:
    return BreakGlassAccess(id=b"\x07" * 32, patient=PATIENT, reader=AMBULANCE, categories=Category.ECG.bit | Category.SUMMARY.bit,
                            opened_at=OPENED, expires_at=OPENED + 4 * 3600, reason_code=next(iter(ReasonCode)), review=Review.PENDING,
                            reviewer=None, reviewed_at=None)


def test_review_words_name_categories_in_words() -> None:
    words = review_words(access(), True, PATIENT)
    assert "electrocardiograms" in words and "patient summaries" in words
    assert "ECG" not in words and "SUMMARY" not in words and "2026-12-07 00:00 UTC" in words


def test_review_and_policy_words_follow_the_language() -> None:
    message = {"mode": int(PolicyMode.CATEGORIES), "categories": Category.ECG.bit, "patient": PATIENT, "nonce": 0, "deadline": OPENED}
    with use_language("fr"):
        review, policy, opened = review_words(access(), False, PATIENT), policy_words(message, GUARDIAN), datetime_text(OPENED)
    assert opened in review and "2026-12-07" not in review and "ECG" not in review
    assert opened in policy and "ECG" not in policy
