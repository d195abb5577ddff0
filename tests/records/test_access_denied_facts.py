"""A consent refusal carries its facts (patient, grantee, category, purpose) as attributes, so the API explains it in
words in any language without parsing its (translated) message."""

from __future__ import annotations

from eth_account import Account

from ledger.errors import ContractRevert
from ledger.vocabulary import Category, Purpose
from records.errors import AccessDeniedError


def test_a_no_consent_revert_gives_its_facts() -> None:
    patient, grantee = Account.create().address, Account.create().address
    revert = ContractRevert("NoConsent", {"patient": patient.lower(), "grantee": grantee, "category": int(Category.ECG), "purpose": int(Purpose.EMERGENCY)})  # the decoder may give lower case
    error = AccessDeniedError(str(revert), **AccessDeniedError.consent_facts(revert))
    assert (error.patient, error.grantee, error.category, error.purpose) == (patient, grantee, Category.ECG, Purpose.EMERGENCY)
    assert error.is_consent_refusal and str(error) == str(revert)


def test_other_refusals_carry_no_facts() -> None:
    revert = ContractRevert("NotActiveMember", {"account": Account.create().address})
    assert AccessDeniedError.consent_facts(revert) == {}
    error = AccessDeniedError("no longer an active member", **AccessDeniedError.consent_facts(revert))
    assert not error.is_consent_refusal and error.patient is None and error.category is None


def test_codes_outside_the_vocabulary_are_unknown_not_guessed() -> None:
    patient, grantee = Account.create().address, Account.create().address
    revert = ContractRevert("NoConsent", {"patient": patient, "grantee": grantee, "category": 99, "purpose": int(Purpose.TREATMENT | Purpose.RESEARCH)})
    facts = AccessDeniedError.consent_facts(revert)
    assert facts == {"patient": patient, "grantee": grantee, "category": None, "purpose": None}
