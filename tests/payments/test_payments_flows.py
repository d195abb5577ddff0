"""HealthCardPayments through the typed wrapper: every payer / provider / patient action and its refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ledger.consent import ConsentLedger
from ledger.payments import NewProgramme, code32, code_text, format_amount
from tests.conftest import RunningNetwork
from tests.payments.conftest import CARD_B_LIMIT, DAY, FUNDING, PROGRAMME, YEAR, Actors, chain_now, refused, warp

ZERO_ADDRESS = "0x" + "00" * 20


def test_codes_and_amounts_render_for_people() -> None:
    assert code_text(code32("CARDIO-CONSULT")) == "CARDIO-CONSULT"
    assert code_text(b"\xff" * 32).startswith("0x")
    for bad in ("", "TWO WORDS", "X" * 33, "ÉCG"):
        with pytest.raises(ValueError):
            code32(bad)
    assert format_amount(120_000, "KZT") == "1,200.00 KZT"
    assert format_amount(15_000, "XOF") == "15,000 XOF"
    assert format_amount(1_234, "KWD") == "1.234 KWD"


def test_new_programme_is_validated_before_sending() -> None:
    for bad in ({"currency": "kzt"}, {"currency": "KZ"}, {"name": ""}, {"name": "x" * 65}, {"pre_auth_validity": 0}, {"pre_auth_validity": 366 * DAY}, {"default_annual_limit": -1}):
        with pytest.raises(ValidationError):
            NewProgramme(**{**PROGRAMME.model_dump(), **bad})


def test_programme_administration_is_payer_only(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    refused("NotActivePayer", pay.create_programme, actors.provider, PROGRAMME)
    raw = pay.contract.functions
    refused("InvalidCurrency", pay.send, actors.payer, raw.createProgramme("X", b"kzt", 1, 0, DAY))
    refused("InvalidName", pay.send, actors.payer, raw.createProgramme("", b"KZT", 1, 0, DAY))
    refused("InvalidPreAuthValidity", pay.send, actors.payer, raw.createProgramme("X", b"KZT", 1, 0, 0))

    second = pay.create_programme(actors.payer2, NewProgramme(name="Benin-China care", currency="XOF", default_annual_limit=50_000))
    assert pay.programme_count() == second and second == w.programme_id + 1
    programme = pay.programme(second)
    assert programme is not None and programme.payer == w.payer2.address and programme.currency == "XOF" and programme.escrow == 0
    assert pay.programme(99) is None

    refused("NotProgrammePayer", pay.update_programme, actors.payer, second, 1, 1, DAY)
    refused("UnknownProgramme", pay.update_programme, actors.payer, 99, 1, 1, DAY)
    refused("InvalidPreAuthValidity", pay.update_programme, actors.payer2, second, 1, 1, 366 * DAY)
    pay.update_programme(actors.payer2, second, 70_000, 5_000, 2 * DAY)
    programme = pay.programme(second)
    assert programme is not None and (programme.default_annual_limit, programme.auto_approval_threshold, programme.pre_auth_validity) == (70_000, 5_000, 2 * DAY)

    # Escrow: funded by minting into the contract, withdrawn as tokens to the payer.
    refused("NotProgrammePayer", pay.fund_escrow, actors.payer2, w.programme_id, 5)
    refused("InvalidAmount", pay.fund_escrow, actors.payer, w.programme_id, 0)
    refused("UnauthorizedMinter", pay.send, actors.payer, pay.token.functions.mint(w.payer.address, 5))
    assert pay.fund_escrow(actors.payer, w.programme_id, 500) == FUNDING + 500
    refused("InsufficientEscrow", pay.withdraw_escrow, actors.payer, w.programme_id, FUNDING + 501)
    refused("NotProgrammePayer", pay.withdraw_escrow, actors.payer2, w.programme_id, 1)
    assert pay.withdraw_escrow(actors.payer, w.programme_id, 700) == FUNDING - 200
    assert pay.token_balance(w.payer.address) == 700
    assert pay.escrow_balance(w.programme_id) == pay.token_balance(pay.contract.address) == FUNDING - 200
    assert pay.token.functions.minter().call() == pay.contract.address and pay.token.functions.decimals().call() == 0


def test_empanelment(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    refused("NotActiveProvider", pay.set_empanelled, actors.payer, w.programme_id, w.patient_a.address)
    refused("EmpanelmentUnchanged", pay.set_empanelled, actors.payer, w.programme_id, w.provider.address, True)
    refused("NotProgrammePayer", pay.set_empanelled, actors.payer2, w.programme_id, w.provider2.address)
    refused("NotEmpanelled", pay.request_pre_auth, actors.provider2, w.card_a, "ECG", 1_000)
    refused("NotEmpanelled", pay.submit_claim, actors.provider2, w.card_a, w.record_a_by_provider2, "ECG", 1_000)

    pay.set_empanelled(actors.payer, w.programme_id, w.provider2.address)
    assert pay.is_empanelled(w.programme_id, w.provider2.address)
    claim_id = pay.submit_claim(actors.provider2, w.card_a, w.record_a_by_provider2, "ECG", 1_000)
    pay.set_empanelled(actors.payer, w.programme_id, w.provider2.address, False)
    assert not pay.is_empanelled(w.programme_id, w.provider2.address)
    refused("NotEmpanelled", pay.request_pre_auth, actors.provider2, w.card_a, "ECG", 1_000)
    # Delisting stops new business; a claim already submitted stays payable.
    assert pay.approve_claim(actors.payer, claim_id, override_confirmation=True).amount == 1_000


def test_card_issue_renew_suspend_reactivate(actors: Actors, chain: RunningNetwork) -> None:
    pay, w = actors.payments, actors.world
    now = chain_now(w.ledger)
    card = pay.card(w.card_a)
    assert card is not None and card.patient == w.patient_a.address and card.status == "ACTIVE" and card.annual_limit == PROGRAMME.default_annual_limit
    card_b = pay.card(w.card_b)
    assert card_b is not None and card_b.annual_limit == CARD_B_LIMIT
    assert pay.card_of(w.programme_id, w.patient_a.address) == w.card_a and pay.card_of(w.programme_id, w.outsider.address) is None
    assert pay.card(99) is None

    refused("CardAlreadyIssued", pay.issue_card, actors.payer, w.programme_id, w.patient_a.address, now + YEAR)
    refused("InvalidExpiry", pay.issue_card, actors.payer, w.programme_id, w.outsider.address, now - 1)
    refused("InvalidAddress", pay.issue_card, actors.payer, w.programme_id, ZERO_ADDRESS, now + YEAR)
    refused("NotProgrammePayer", pay.issue_card, actors.payer2, w.programme_id, w.outsider.address, now + YEAR)
    with pytest.raises(ValueError):
        pay.issue_card(actors.payer, w.programme_id, w.outsider.address, valid_until=2**40)
    new_card = pay.issue_card(actors.payer, w.programme_id, w.outsider.address, now + YEAR, annual_limit=5_000)
    assert pay.card_count() == new_card

    refused("UnknownCard", pay.suspend_card, actors.payer, 99)
    refused("NotProgrammePayer", pay.suspend_card, actors.payer2, w.card_b)
    refused("InvalidCardStatus", pay.reactivate_card, actors.payer, w.card_b)
    pay.suspend_card(actors.payer, w.card_b)
    assert pay.card(w.card_b).status == "SUSPENDED"  # type: ignore[union-attr]
    assert not pay.eligibility(w.card_b).eligible
    refused("InvalidCardStatus", pay.suspend_card, actors.payer, w.card_b)
    refused("InvalidCardStatus", pay.request_pre_auth, actors.provider, w.card_b, "ECG", 1_000)
    refused("InvalidCardStatus", pay.submit_claim, actors.provider, w.card_b, w.records_b[0], "ECG", 1_000)
    refused("InvalidCardStatus", pay.disburse_cash, actors.payer, w.card_b, "TRAVEL", 1)
    pay.reactivate_card(actors.payer, w.card_b)
    assert pay.eligibility(w.card_b).eligible

    # Renewal: usage resets, reservations carry over, the closing period's usage is reported.
    pay.disburse_cash(actors.payer, w.card_b, "TRAVEL", 10_000)
    pay.request_pre_auth(actors.provider, w.card_b, "ECG", 20_000)  # auto-approved: reserves
    refused("InvalidExpiry", pay.renew_card, actors.payer, w.card_b, now - 1)
    refused("NotProgrammePayer", pay.renew_card, actors.payer2, w.card_b, now + YEAR)
    pay.renew_card(actors.payer, w.card_b, valid_until=now + 2 * YEAR)  # limit 0 = the programme default
    renewed = pay.card(w.card_b)
    assert renewed is not None and (renewed.used, renewed.reserved, renewed.annual_limit, renewed.valid_until) == (0, 20_000, PROGRAMME.default_annual_limit, now + 2 * YEAR)
    (event,) = [e for e in pay.card_history(w.card_b) if e.name == "CardRenewed"]
    assert event.args["previousUsed"] == 10_000 and event.args["reserved"] == 20_000


def test_eligibility_tracks_limit_status_and_validity(actors: Actors, chain: RunningNetwork) -> None:
    pay, w = actors.payments, actors.world
    e = pay.eligibility(w.card_b)
    assert e.eligible and e.remaining == CARD_B_LIMIT and e.valid_until == pay.card(w.card_b).valid_until  # type: ignore[union-attr]
    pay.disburse_cash(actors.payer, w.card_b, "TRAVEL", CARD_B_LIMIT)
    e = pay.eligibility(w.card_b)
    assert not e.eligible and e.remaining == 0
    refused("LimitExceeded", pay.request_pre_auth, actors.provider, w.card_b, "ECG", 1)
    assert pay.eligibility(99).model_dump() == {"card_id": 99, "eligible": False, "remaining": 0, "valid_until": 0}
    warp(chain, YEAR + DAY)
    assert not pay.eligibility(w.card_a).eligible and pay.eligibility(w.card_a).remaining == PROGRAMME.default_annual_limit


def test_pre_auth_auto_manual_and_reject(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    now = chain_now(w.ledger)
    auto = pay.request_pre_auth(actors.provider, w.card_a, "ECG", PROGRAMME.auto_approval_threshold - 1)
    assert auto.auto_approved and auto.reserved_after == PROGRAMME.auto_approval_threshold - 1
    assert auto.expires_at > now and auto.expires_at <= chain_now(w.ledger) + PROGRAMME.pre_auth_validity
    assert pay.pre_auth(auto.pre_auth_id).status == "APPROVED"  # type: ignore[union-attr]

    pending = pay.request_pre_auth(actors.provider, w.card_a, "CARDIO-CONSULT", PROGRAMME.auto_approval_threshold)  # not strictly below
    assert not pending.auto_approved and pending.expires_at == 0
    stored = pay.pre_auth(pending.pre_auth_id)
    assert stored is not None and stored.status == "REQUESTED" and stored.package_code == "CARDIO-CONSULT" and stored.provider == w.provider.address
    assert pay.card(w.card_a).reserved == PROGRAMME.auto_approval_threshold - 1  # type: ignore[union-attr]  # pending reserves nothing

    refused("InvalidExpiry", pay.approve_pre_auth, actors.payer, pending.pre_auth_id, now - 5)
    refused("NotProgrammePayer", pay.approve_pre_auth, actors.payer2, pending.pre_auth_id, now + DAY)
    refused("UnknownPreAuth", pay.approve_pre_auth, actors.payer, 99, now + DAY)
    assert pay.approve_pre_auth(actors.payer, pending.pre_auth_id, now + 3 * DAY) == 2 * PROGRAMME.auto_approval_threshold - 1
    refused("InvalidPreAuthStatus", pay.approve_pre_auth, actors.payer, pending.pre_auth_id, now + 3 * DAY)
    refused("InvalidPreAuthStatus", pay.reject_pre_auth, actors.payer, pending.pre_auth_id, 7)

    third = pay.request_pre_auth(actors.provider, w.card_a, "LAB", 300_000)
    refused("NotProgrammePayer", pay.reject_pre_auth, actors.payer2, third.pre_auth_id, 7)
    pay.reject_pre_auth(actors.payer, third.pre_auth_id, 7)
    assert pay.pre_auth(third.pre_auth_id).status == "REJECTED"  # type: ignore[union-attr]
    (rejected,) = [e for e in pay.card_history(w.card_a) if e.name == "PreAuthRejected"]
    assert rejected.args["reasonCode"] == 7

    remaining = pay.eligibility(w.card_a).remaining
    refused("LimitExceeded", pay.request_pre_auth, actors.provider, w.card_a, "LAB", remaining + 1)
    refused("InvalidAmount", pay.request_pre_auth, actors.provider, w.card_a, "LAB", 0)
    refused("InvalidCode", pay.send, actors.provider, pay.contract.functions.requestPreAuth(w.card_a, b"\x00" * 32, 10))
    refused("UnknownCard", pay.request_pre_auth, actors.provider, 99, "LAB", 10)
    # A pending request may be approved only while the card still has the amount left.
    big = pay.request_pre_auth(actors.provider, w.card_a, "SURGERY", remaining)
    pay.disburse_cash(actors.payer, w.card_a, "TRAVEL", 1)
    refused("LimitExceeded", pay.approve_pre_auth, actors.payer, big.pre_auth_id, now + DAY)
    assert pay.pre_auth_count() == big.pre_auth_id


def test_pre_auth_cancel_expiry_and_release(actors: Actors, chain: RunningNetwork) -> None:
    pay, w = actors.payments, actors.world
    first = pay.request_pre_auth(actors.provider, w.card_a, "ECG", 10_000)
    second = pay.request_pre_auth(actors.provider, w.card_a, "LAB", 15_000)
    pending = pay.request_pre_auth(actors.provider, w.card_a, "MRI", 250_000)
    assert pay.card(w.card_a).reserved == 25_000  # type: ignore[union-attr]

    refused("NotPreAuthParty", pay.cancel_pre_auth, actors.provider2, first.pre_auth_id)
    refused("NotPreAuthParty", pay.cancel_pre_auth, actors.payer2, first.pre_auth_id)
    assert pay.cancel_pre_auth(actors.provider, first.pre_auth_id) == 10_000
    assert pay.cancel_pre_auth(actors.payer, pending.pre_auth_id) == 0  # never approved: nothing reserved
    refused("InvalidPreAuthStatus", pay.cancel_pre_auth, actors.provider, first.pre_auth_id)
    assert pay.pre_auth(first.pre_auth_id).status == "CANCELLED"  # type: ignore[union-attr]
    assert pay.card(w.card_a).reserved == 15_000  # type: ignore[union-attr]

    refused("PreAuthNotExpired", pay.release_expired_pre_auth, actors.provider2, second.pre_auth_id)
    warp(chain, PROGRAMME.pre_auth_validity)
    refused("PreAuthExpired", pay.submit_claim, actors.provider, w.card_a, w.records_a[0], "LAB", 15_000, second.pre_auth_id)
    assert pay.card(w.card_a).reserved == 15_000  # type: ignore[union-attr]  # a stale promise keeps its reservation
    refused("NotActiveMember", pay.release_expired_pre_auth, actors.outsider, second.pre_auth_id)
    assert pay.release_expired_pre_auth(actors.governor, second.pre_auth_id) == 15_000  # any member may tidy up
    assert pay.pre_auth(second.pre_auth_id).status == "EXPIRED"  # type: ignore[union-attr]
    assert pay.card(w.card_a).reserved == 0  # type: ignore[union-attr]
    refused("InvalidPreAuthStatus", pay.release_expired_pre_auth, actors.governor, second.pre_auth_id)
    released = [e for e in pay.card_history(w.card_a) if e.name == "PreAuthReleased"]
    assert [(e.args["status"], e.args["by"]) for e in released] == [(4, w.provider.address), (4, w.payer.address), (5, w.governors[0].address)]


def test_claim_with_pre_auth_confirmed_by_patient_and_paid(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    now = chain_now(w.ledger)
    pre_auth = pay.request_pre_auth(actors.provider, w.card_a, "CARDIO-CONSULT", 150_000)
    claim_id = pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "CARDIO-CONSULT", 120_000, pre_auth.pre_auth_id)
    assert pay.pre_auth(pre_auth.pre_auth_id).status == "USED"  # type: ignore[union-attr]
    assert pay.card(w.card_a).reserved == 120_000  # type: ignore[union-attr]  # the unclaimed 30,000 went back
    assert pay.claim_for_evidence(w.records_a[0], "CARDIO-CONSULT") == claim_id
    claim = pay.claim(claim_id)
    assert claim is not None and claim.status == "SUBMITTED" and not claim.confirmed and claim.pre_auth_id == pre_auth.pre_auth_id
    summary = pay.claim_summary(claim)
    assert summary == (
        f"Yinchuan First People's Hospital claims 1,200.00 KZT for package CARDIO-CONSULT, evidence record 0x{w.records_a[0].hex()}, "
        f"under pre-authorisation #{pre_auth.pre_auth_id}; it is waiting for your confirmation."
    )

    refused("ClaimNotConfirmed", pay.approve_claim, actors.payer, claim_id)
    message = pay.confirmation_message(claim_id, deadline=now + 3600)
    assert message.message["patient"] == w.patient_a.address and message.message["amount"] == 120_000
    assert message.recover(message.sign(w.patient_a)) == w.patient_a.address
    confirmation = pay.relay_confirmation(actors.provider, message, message.sign(w.patient_a))  # the provider may relay
    assert (confirmation.signer, confirmation.relayer, confirmation.nonce) == (w.patient_a.address, w.provider.address, 0)
    assert pay.nonce(w.patient_a.address) == 1 and pay.claim(claim_id).confirmed  # type: ignore[union-attr]
    assert pay.claim_summary(claim_id).endswith("waiting for the payer's decision.")

    refused("NotProgrammePayer", pay.approve_claim, actors.payer2, claim_id)
    payment = pay.approve_claim(actors.payer, claim_id)
    assert (payment.amount, payment.confirmation_overridden, payment.used_after, payment.reserved_after, payment.escrow_after) == (120_000, False, 120_000, 0, FUNDING - 120_000)
    assert pay.token_balance(w.provider.address) == 120_000
    assert pay.claim_summary(claim_id).endswith("it has been paid.")

    history = [e.name for e in pay.card_history(w.card_a)]
    assert history == ["CardIssued", "PreAuthRequested", "PreAuthApproved", "ClaimSubmitted", "ClaimConfirmed", "ClaimPaid"]
    statement = pay.programme_statement(w.programme_id)
    assert statement.balanced and (statement.funded, statement.paid, statement.claims_paid, statement.overridden_payments) == (FUNDING, 120_000, 1, 0)
    assert [e.name for e in statement.events][:3] == ["ProgrammeCreated", "ProviderEmpanelled", "EscrowFunded"]


def test_claim_without_pre_auth_confirmed_by_delegate(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    claim_id = pay.submit_claim(actors.provider, w.card_a, w.records_a[1], "LAB", 5_000)
    assert pay.card(w.card_a).reserved == 5_000  # type: ignore[union-attr]
    assert pay.claim_summary(claim_id) == (
        f"Yinchuan First People's Hospital claims 50.00 KZT for package LAB, evidence record 0x{w.records_a[1].hex()}; it is waiting for your confirmation."
    )
    message = pay.confirmation_message(claim_id, deadline=chain_now(w.ledger) + 600, signer=w.delegate_a.address)
    confirmation = pay.relay_confirmation(actors.governor, message, message.sign(w.delegate_a))
    assert confirmation.signer == w.delegate_a.address and pay.nonce(w.delegate_a.address) == 1 and pay.nonce(w.patient_a.address) == 0
    assert pay.approve_claim(actors.payer, claim_id).used_after == 5_000
    not_a_confirmation = ConsentLedger(w.ledger).revoke_message(w.patient_a.address, w.provider.address, deadline=0)
    with pytest.raises(ValueError):
        pay.relay_confirmation(actors.governor, not_a_confirmation, b"")


def test_claim_evidence_and_pre_auth_refusals(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    pre_auth = pay.request_pre_auth(actors.provider, w.card_a, "ECG", 15_000).pre_auth_id
    unknown = b"\x42" * 32
    refused("UnknownRecord", pay.submit_claim, actors.provider, w.card_a, unknown, "ECG", 100)
    refused("RecordPatientMismatch", pay.submit_claim, actors.provider, w.card_a, w.records_b[0], "ECG", 100)
    refused("RecordIsErased", pay.submit_claim, actors.provider, w.card_a, w.erased_record_a, "ECG", 100)
    refused("ClaimExceedsPreAuth", pay.submit_claim, actors.provider, w.card_a, w.records_a[0], "ECG", 15_001, pre_auth)
    refused("PreAuthMismatch", pay.submit_claim, actors.provider, w.card_a, w.records_a[0], "OTHER", 100, pre_auth)
    refused("PreAuthMismatch", pay.submit_claim, actors.provider, w.card_b, w.records_b[0], "ECG", 100, pre_auth)
    refused("UnknownPreAuth", pay.submit_claim, actors.provider, w.card_a, w.records_a[0], "ECG", 100, 99)
    refused("InvalidAmount", pay.submit_claim, actors.provider, w.card_a, w.records_a[0], "ECG", 0)
    refused("LimitExceeded", pay.submit_claim, actors.provider, w.card_b, w.records_b[0], "ECG", CARD_B_LIMIT + 1)
    with pytest.raises(ValueError):
        pay.submit_claim(actors.provider, w.card_a, b"short", "ECG", 100)
    pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "ECG", 14_000, pre_auth)
    refused("InvalidPreAuthStatus", pay.submit_claim, actors.provider, w.card_a, w.records_a[1], "ECG", 100, pre_auth)  # used
    assert pay.claim(99) is None and pay.claim_for_evidence(w.records_a[1], "ECG") is None
    refused("UnknownClaim", pay.approve_claim, actors.payer, 99)


def test_payer_override_is_reported(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    claim_id = pay.submit_claim(actors.provider, w.card_a, w.records_a[2], "LAB", 5_000)
    refused("ClaimNotConfirmed", pay.approve_claim, actors.payer, claim_id, False)
    payment = pay.approve_claim(actors.payer, claim_id, override_confirmation=True)
    assert payment.confirmation_overridden
    statement = pay.programme_statement(w.programme_id)
    assert statement.overridden_payments == 1 and statement.balanced


def test_reject_then_resubmit(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    first = pay.submit_claim(actors.provider, w.card_a, w.records_a[3], "LAB", 7_000)
    refused("NotProgrammePayer", pay.reject_claim, actors.payer2, first, 42)
    pay.reject_claim(actors.payer, first, 42)
    assert pay.claim(first).status == "REJECTED" and pay.card(w.card_a).reserved == 0  # type: ignore[union-attr]
    assert pay.claim_summary(first).endswith("the payer rejected it.")
    refused("InvalidClaimStatus", pay.reject_claim, actors.payer, first, 42)
    message = pay.confirmation_message(first, deadline=chain_now(w.ledger) + 600)
    refused("InvalidClaimStatus", pay.relay_confirmation, actors.governor, message, message.sign(w.patient_a))
    refused("InvalidClaimStatus", pay.approve_claim, actors.payer, first, True)

    corrected = pay.submit_claim(actors.provider, w.card_a, w.records_a[3], "LAB", 6_000)  # the evidence is free again
    assert corrected == first + 1 and pay.claim_for_evidence(w.records_a[3], "LAB") == corrected
    message = pay.confirmation_message(corrected, deadline=chain_now(w.ledger) + 600)
    pay.relay_confirmation(actors.governor, message, message.sign(w.patient_a))
    assert pay.approve_claim(actors.payer, corrected).amount == 6_000
    (rejected,) = [e for e in pay.card_history(w.card_a) if e.name == "ClaimRejected"]
    assert rejected.args["reasonCode"] == 42 and rejected.args["claimId"] == first


def test_cash_disbursement(actors: Actors, chain: RunningNetwork) -> None:
    pay, w = actors.payments, actors.world
    remaining = pay.eligibility(w.card_b).remaining
    refused("LimitExceeded", pay.disburse_cash, actors.payer, w.card_b, "TRAVEL", remaining + 1)
    refused("InvalidCode", pay.send, actors.payer, pay.contract.functions.disburseCash(w.card_b, b"\x00" * 32, 1))
    refused("InvalidAmount", pay.disburse_cash, actors.payer, w.card_b, "TRAVEL", 0)
    refused("NotProgrammePayer", pay.disburse_cash, actors.payer2, w.card_b, "TRAVEL", 1)
    refused("UnknownCard", pay.disburse_cash, actors.payer, 99, "TRAVEL", 1)
    paid = pay.disburse_cash(actors.payer, w.card_b, "TRAVEL", 8_000)
    assert (paid.patient, paid.purpose_code, paid.used_after, paid.escrow_after) == (w.patient_b.address, "TRAVEL", 8_000, FUNDING - 8_000)
    assert pay.token_balance(w.patient_b.address) == 8_000 and pay.eligibility(w.card_b).remaining == remaining - 8_000
    assert pay.programme_statement(w.programme_id).disbursed == 8_000
    warp(chain, YEAR)
    refused("CardExpired", pay.disburse_cash, actors.payer, w.card_b, "TRAVEL", 1)


def test_payment_needs_escrow(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    claim_id = pay.submit_claim(actors.provider, w.card_a, w.records_a[4], "LAB", 9_000)
    pay.withdraw_escrow(actors.payer, w.programme_id, FUNDING - 1_000)
    refused("InsufficientEscrow", pay.approve_claim, actors.payer, claim_id, True)
    refused("InsufficientEscrow", pay.disburse_cash, actors.payer, w.card_a, "TRAVEL", 1_001)
    pay.fund_escrow(actors.payer, w.programme_id, 10_000)
    assert pay.approve_claim(actors.payer, claim_id, True).escrow_after == 2_000
    statement = pay.programme_statement(w.programme_id)
    assert statement.balanced and (statement.funded, statement.withdrawn, statement.paid, statement.escrow) == (FUNDING + 10_000, FUNDING - 1_000, 9_000, 2_000)
