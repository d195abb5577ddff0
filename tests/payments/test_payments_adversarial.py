"""Attacks on the e-card payment flow: wrong evidence, forged / replayed confirmations, stale cards, suspended
members, double submission and double payment. Each must be refused and change nothing."""

from __future__ import annotations

from eth_account import Account

from ledger.consent import ConsentLedger, ConsentTerms
from ledger.payments import NewProgramme
from ledger.records import RecordRegistry
from ledger.registry import ConsortiumRegistry
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork
from tests.payments.conftest import DAY, YEAR, Actors, chain_now, refused, warp


def _suspend(actors: Actors, address: str) -> ConsortiumRegistry:
    registry = ConsortiumRegistry(actors.world.ledger)
    proposal = registry.propose_suspension(actors.governor, address, "audit")
    assert registry.approve(actors.governor2, proposal)
    return registry


def test_claim_for_another_patients_record(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    # Patient B's card, patient A's record (anchored by the same provider): the evidence must be B's.
    error = refused("RecordPatientMismatch", pay.submit_claim, actors.provider, w.card_b, w.records_a[0], "ECG", 1_000)
    assert error.args_by_name["patient"].lower() == w.patient_b.address.lower()
    assert pay.claim_count() == 0 and pay.card(w.card_b).reserved == 0  # type: ignore[union-attr]


def test_forged_and_reused_confirmations(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    deadline = chain_now(w.ledger) + 3600
    first = pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "ECG", 1_000)
    second = pay.submit_claim(actors.provider, w.card_a, w.records_a[1], "ECG", 2_000)

    message = pay.confirmation_message(first, deadline)
    # Signed by someone who is neither the patient nor the delegate (the provider confirming its own claim).
    refused("UnauthorizedSigner", pay.relay_confirmation, actors.governor, message, message.sign(w.provider))
    refused("UnauthorizedSigner", pay.relay_confirmation, actors.governor, message, message.sign(Account.create()))
    # The patient signed different terms than the relayed call claims (amount changed after signing).
    tampered = pay.confirmation_message(first, deadline)
    tampered.message["amount"] = 999
    refused("UnauthorizedSigner", pay.relay_confirmation, actors.governor, message, tampered.sign(w.patient_a))
    # A patient's signature for one claim does not confirm another.
    signature = message.sign(w.patient_a)
    other = pay.confirmation_message(second, deadline)
    refused("UnauthorizedSigner", pay.relay_confirmation, actors.governor, other, signature)
    # Expired, future nonce, garbage signature, non-member relayer.
    late = pay.confirmation_message(first, deadline=chain_now(w.ledger) - 1)
    refused("ExpiredSignature", pay.relay_confirmation, actors.governor, late, late.sign(w.patient_a))
    ahead = pay.confirmation_message(first, deadline, nonce=5)
    refused("InvalidAccountNonce", pay.relay_confirmation, actors.governor, ahead, ahead.sign(w.patient_a))
    refused("ECDSAInvalidSignatureLength", pay.relay_confirmation, actors.governor, message, b"\x01" * 64)
    refused("NotActiveMember", pay.relay_confirmation, actors.outsider, message, signature)
    assert not pay.claim(first).confirmed and pay.nonce(w.patient_a.address) == 0  # type: ignore[union-attr]

    pay.relay_confirmation(actors.governor, message, signature)
    refused("ClaimAlreadyConfirmed", pay.relay_confirmation, actors.governor, message, signature)  # replay
    # Nonce 0 is spent: a second confirmation pre-signed with it cannot be used for the other claim.
    stale = pay.confirmation_message(second, deadline, nonce=0)
    refused("InvalidAccountNonce", pay.relay_confirmation, actors.governor, stale, stale.sign(w.patient_a))
    fresh = pay.confirmation_message(second, deadline)
    assert fresh.message["nonce"] == 1
    pay.relay_confirmation(actors.governor, fresh, fresh.sign(w.patient_a))


def test_former_delegate_cannot_confirm(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    consents = ConsentLedger(w.ledger)
    claim_id = pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "ECG", 1_000)
    presigned = pay.confirmation_message(claim_id, chain_now(w.ledger) + 3600, signer=w.delegate_a.address)
    signature = presigned.sign(w.delegate_a)
    revoke = consents.delegate_message(w.patient_a.address, None, deadline=chain_now(w.ledger) + 3600)
    consents.relay(actors.governor, revoke, revoke.sign(w.patient_a))
    refused("UnauthorizedSigner", pay.relay_confirmation, actors.governor, presigned, signature)


def test_expired_card(actors: Actors, chain: RunningNetwork) -> None:
    pay, w = actors.payments, actors.world
    pending = pay.request_pre_auth(actors.provider, w.card_a, "MRI", 400_000)
    submitted = pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "ECG", 1_000)
    warp(chain, YEAR)
    refused("CardExpired", pay.request_pre_auth, actors.provider, w.card_a, "ECG", 1_000)
    refused("CardExpired", pay.submit_claim, actors.provider, w.card_a, w.records_a[1], "ECG", 1_000)
    refused("CardExpired", pay.approve_pre_auth, actors.payer, pending.pre_auth_id, chain_now(w.ledger) + DAY)
    refused("CardExpired", pay.disburse_cash, actors.payer, w.card_a, "TRAVEL", 1)
    # Service delivered while eligible stays payable after expiry (the payer may reject instead).
    assert pay.approve_claim(actors.payer, submitted, True).amount == 1_000
    pay.renew_card(actors.payer, w.card_a, chain_now(w.ledger) + YEAR)
    assert pay.eligibility(w.card_a).eligible
    pay.submit_claim(actors.provider, w.card_a, w.records_a[1], "ECG", 1_000)


def test_suspended_provider_cannot_be_paid_or_ask(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    pre_auth = pay.request_pre_auth(actors.provider, w.card_a, "ECG", 5_000).pre_auth_id
    claim_id = pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "LAB", 1_000)
    registry = _suspend(actors, w.provider.address)
    refused("NotActiveProvider", pay.approve_claim, actors.payer, claim_id, True)
    refused("NotActiveProvider", pay.cancel_pre_auth, actors.provider, pre_auth)
    # The gateway stops a suspended member's transactions; the contract refuses them on its own too.
    refused("NotActiveProvider", pay.request_pre_auth, actors.provider, w.card_a, "ECG", 10)
    pay.set_empanelled(actors.payer, w.programme_id, w.provider.address, False)  # delisting needs no active provider
    refused("NotActiveProvider", pay.set_empanelled, actors.payer, w.programme_id, w.provider.address, True)
    pay.cancel_pre_auth(actors.payer, pre_auth)  # the payer can still free the reservation
    pay.reject_claim(actors.payer, claim_id, 9)
    assert pay.card(w.card_a).reserved == 0  # type: ignore[union-attr]
    proposal = registry.propose_reinstatement(actors.governor, w.provider.address)
    assert registry.approve(actors.governor2, proposal)
    pay.set_empanelled(actors.payer, w.programme_id, w.provider.address, True)
    pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "LAB", 1_000)


def test_suspended_payer_cannot_administer(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    claim_id = pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "LAB", 1_000)
    _suspend(actors, w.payer.address)
    for call, args in (
        (pay.fund_escrow, (w.programme_id, 5)),
        (pay.withdraw_escrow, (w.programme_id, 5)),
        (pay.approve_claim, (claim_id, True)),
        (pay.disburse_cash, (w.card_a, "TRAVEL", 5)),
        (pay.suspend_card, (w.card_a,)),
        (pay.create_programme, (NewProgramme(name="x", currency="KZT", default_annual_limit=1),)),
    ):
        refused("NotActivePayer", call, actors.payer, *args)


def test_double_submit_and_double_payment(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    claim_id = pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "ECG", 1_000)
    refused("EvidenceAlreadyClaimed", pay.submit_claim, actors.provider, w.card_a, w.records_a[0], "ECG", 1_000)
    # Another programme (another payer) cannot be billed for the same evidence and package either.
    other = pay.create_programme(actors.payer2, NewProgramme(name="Benin-China care", currency="XOF", default_annual_limit=50_000))
    pay.set_empanelled(actors.payer2, other, w.provider.address)
    other_card = pay.issue_card(actors.payer2, other, w.patient_a.address, chain_now(w.ledger) + YEAR)
    refused("EvidenceAlreadyClaimed", pay.submit_claim, actors.provider, other_card, w.records_a[0], "ECG", 1_000)
    # A different package on the same record is a different service.
    second = pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "LAB", 500)

    pay.approve_claim(actors.payer, claim_id, True)
    refused("InvalidClaimStatus", pay.approve_claim, actors.payer, claim_id, True)  # approve twice
    refused("InvalidClaimStatus", pay.reject_claim, actors.payer, claim_id, 1)  # paid is final
    refused("EvidenceAlreadyClaimed", pay.submit_claim, actors.provider, w.card_a, w.records_a[0], "ECG", 1_000)  # paid evidence stays used
    pay.reject_claim(actors.payer, second, 3)
    refused("InvalidClaimStatus", pay.approve_claim, actors.payer, second, True)  # approve after reject
    statement = pay.programme_statement(w.programme_id)
    assert statement.claims_paid == 1 and statement.paid == 1_000 and statement.balanced
    assert pay.token_balance(w.provider.address) == 1_000


def test_pre_auth_of_another_provider_cannot_be_used(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    pay.set_empanelled(actors.payer, w.programme_id, w.provider2.address)
    pre_auth = pay.request_pre_auth(actors.provider, w.card_a, "ECG", 10_000).pre_auth_id
    refused("PreAuthMismatch", pay.submit_claim, actors.provider2, w.card_a, w.record_a_by_provider2, "ECG", 10_000, pre_auth)


def test_lowered_limit_blocks_payment_beyond_it(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    claim_id = pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "ECG", 50_000)
    pay.renew_card(actors.payer, w.card_a, chain_now(w.ledger) + YEAR, annual_limit=40_000)
    assert pay.eligibility(w.card_a).remaining == 0  # reserved 50,000 > limit: saturates, no new promises
    refused("LimitExceeded", pay.approve_claim, actors.payer, claim_id, True)
    refused("LimitExceeded", pay.disburse_cash, actors.payer, w.card_a, "TRAVEL", 1)
    pay.reject_claim(actors.payer, claim_id, 5)
    assert pay.eligibility(w.card_a).remaining == 40_000


def _set_consent(actors: Actors, grantee: str, purposes: int, categories: int = Category.ECG.bit, data_from: int = 0) -> None:
    """Patient A grants (or replaces) its consent to `grantee`, signed in the wallet and relayed."""
    w = actors.world
    consents, now = ConsentLedger(w.ledger), chain_now(w.ledger)
    terms = ConsentTerms(grantee=grantee, categories=categories, purposes=purposes, valid_from=now - 60, valid_until=now + YEAR, data_from=data_from)
    grant = consents.grant_message(w.patient_a.address, terms, deadline=now + 3600)
    consents.relay(actors.governor, grant, grant.sign(w.patient_a))


def _revoke_consent(actors: Actors, grantee: str) -> None:
    w = actors.world
    consents = ConsentLedger(w.ledger)
    revoke = consents.revoke_message(w.patient_a.address, grantee, deadline=chain_now(w.ledger) + 3600)
    consents.relay(actors.governor, revoke, revoke.sign(w.patient_a))


def test_claim_on_evidence_anchored_by_another_provider(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    pay.set_empanelled(actors.payer, w.programme_id, w.provider2.address)
    _revoke_consent(actors, w.provider2.address)
    # Provider 2 claims for a service documented by provider 1 (and would squat its (record, package) slot), without
    # any consent of the patient: refused, and nothing changes.
    error = refused("EvidenceNotAccessible", pay.submit_claim, actors.provider2, w.card_a, w.records_a[0], "CARDIO-CONSULT", 100_000)
    assert bytes(error.args_by_name["recordId"]) == w.records_a[0]
    assert error.args_by_name["provider"].lower() == w.provider2.address.lower()
    assert pay.claim_count() == 0 and pay.card(w.card_a).reserved == 0  # type: ignore[union-attr]
    assert pay.claim_for_evidence(w.records_a[0], "CARDIO-CONSULT") is None
    # The rule is the patient's consent: provider 2's own record is out of reach too once the consent is revoked.
    refused("EvidenceNotAccessible", pay.submit_claim, actors.provider2, w.card_a, w.record_a_by_provider2, "ECG", 1_000)
    # The author's slot is still free.
    assert pay.submit_claim(actors.provider, w.card_a, w.records_a[0], "CARDIO-CONSULT", 100_000) == 1


def test_evidence_consent_must_cover_category_purpose_and_data_period(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    pay.set_empanelled(actors.payer, w.programme_id, w.provider2.address)
    record = w.record_a_by_provider2  # provider 2's own ECG record: authorship holds, only the consent is tested
    anchored_at = RecordRegistry(w.ledger).state(record).anchored_at  # type: ignore[union-attr]
    for purposes, categories, data_from in (
        (int(Purpose.TREATMENT), Category.LAB.bit, 0),  # another category
        (int(Purpose.RESEARCH) | int(Purpose.PUBLIC_HEALTH), Category.ECG.bit, 0),  # neither TREATMENT nor PAYMENT
        (int(Purpose.TREATMENT), Category.ECG.bit, anchored_at + 1),  # the record predates the data period
    ):
        _set_consent(actors, w.provider2.address, purposes, categories, data_from)
        refused("EvidenceNotAccessible", pay.submit_claim, actors.provider2, w.card_a, record, "ECG", 1_000)
    assert pay.claim_count() == 0
    _set_consent(actors, w.provider2.address, int(Purpose.PAYMENT), data_from=anchored_at)  # PAYMENT alone suffices
    assert pay.submit_claim(actors.provider2, w.card_a, record, "ECG", 1_000) == 1


def test_override_needs_claimants_consent_at_approval(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    pay.set_empanelled(actors.payer, w.programme_id, w.provider2.address)
    overridden = pay.submit_claim(actors.provider2, w.card_a, w.record_a_by_provider2, "ECG", 4_000)
    confirmed = pay.submit_claim(actors.provider2, w.card_a, w.record_a_by_provider2, "LAB", 3_000)
    _revoke_consent(actors, w.provider2.address)
    escrow, reserved = pay.escrow_balance(w.programme_id), pay.card(w.card_a).reserved  # type: ignore[union-attr]

    # Without the patient's word, the payer cannot pay a provider the patient no longer lets see the record.
    error = refused("EvidenceNotAccessible", pay.approve_claim, actors.payer, overridden, True)
    assert error.args_by_name["provider"].lower() == w.provider2.address.lower()
    assert pay.claim(overridden).status == "SUBMITTED"  # type: ignore[union-attr]
    assert pay.escrow_balance(w.programme_id) == escrow and pay.card(w.card_a).reserved == reserved  # type: ignore[union-attr]
    assert pay.token_balance(w.provider2.address) == 0

    # The patient's own confirmation names the provider: it is paid without a standing consent.
    message = pay.confirmation_message(confirmed, chain_now(w.ledger) + 3600)
    pay.relay_confirmation(actors.governor, message, message.sign(w.patient_a))
    assert not pay.approve_claim(actors.payer, confirmed).confirmation_overridden

    # A consent in force again (PAYMENT is enough) makes the override possible; auditors see it in ClaimPaid.
    _set_consent(actors, w.provider2.address, int(Purpose.PAYMENT))
    payment = pay.approve_claim(actors.payer, overridden, True)
    assert payment.confirmation_overridden and payment.provider.lower() == w.provider2.address.lower()
    assert pay.token_balance(w.provider2.address) == 7_000
