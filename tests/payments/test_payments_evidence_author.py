"""A claim's evidence must be the claimant's own record (issue 9, item 3).

Provider 2 holds patient A's consent (TREATMENT, or PAYMENT alone, as in the report), is empanelled, and claims
with a record provider 1 wrote. Before RecordRegistry stored authors, the claim was accepted and paid, and provider
1's own claim on the same (record, package) was then refused with EvidenceAlreadyClaimed. Now the chain refuses
provider 2 with EvidenceNotAuthoredByClaimant, nothing changes, and the author's claim goes through.
"""

from __future__ import annotations

from ledger.consent import ConsentLedger, ConsentTerms
from ledger.records import RecordRegistry
from ledger.vocabulary import Category, Purpose
from tests.payments.conftest import YEAR, Actors, chain_now, refused

PACKAGE = "CARDIO-CONSULT"


def _grant_payment_only(actors: Actors, grantee: str) -> None:
    """Patient A replaces its consent to `grantee` by one for PAYMENT only (wallet-signed, relayed)."""
    w = actors.world
    consents, now = ConsentLedger(w.ledger), chain_now(w.ledger)
    terms = ConsentTerms(grantee=grantee, categories=Category.ECG.bit, purposes=int(Purpose.PAYMENT), valid_from=now - 60, valid_until=now + YEAR)
    grant = consents.grant_message(w.patient_a.address, terms, deadline=now + 3600)
    consents.relay(actors.governor, grant, grant.sign(w.patient_a))


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _assert_untouched(actors: Actors, record: bytes) -> None:
    pay, w = actors.payments, actors.world
    assert pay.claim_count() == 0 and pay.claim_for_evidence(record, PACKAGE) is None
    assert pay.card(w.card_a).reserved == 0  # type: ignore[union-attr]


def test_claim_on_a_colleagues_record_is_refused_and_the_author_is_paid(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    record = w.records_a[0]  # anchored by provider 1
    pay.set_empanelled(actors.payer, w.programme_id, w.provider2.address)
    escrow = pay.escrow_balance(w.programme_id)

    # Provider 2 holds patient A's ECG consent for TREATMENT (the world's), then for PAYMENT alone: refused both ways.
    for _ in ("treatment consent", "payment-only consent"):
        error = refused("EvidenceNotAuthoredByClaimant", pay.submit_claim, actors.provider2, w.card_a, record, PACKAGE, 100_000)
        assert bytes(error.args_by_name["recordId"]) == record
        assert _same(error.args_by_name["claimant"], w.provider2.address) and _same(error.args_by_name["author"], w.provider.address)
        _assert_untouched(actors, record)
        _grant_payment_only(actors, w.provider2.address)

    state = RecordRegistry(w.ledger).state(record)  # the chain's word for who wrote it
    assert state is not None and _same(state.author, w.provider.address)

    # No front-running: the author's claim on the same record and package is accepted, and paid to the author.
    claim_id = pay.submit_claim(actors.provider, w.card_a, record, PACKAGE, 100_000)
    assert pay.claim_for_evidence(record, PACKAGE) == claim_id
    payment = pay.approve_claim(actors.payer, claim_id, override_confirmation=True)
    assert _same(payment.provider, w.provider.address) and pay.token_balance(w.provider.address) == 100_000
    assert pay.token_balance(w.provider2.address) == 0 and pay.escrow_balance(w.programme_id) == escrow - 100_000


def test_each_provider_claims_on_its_own_records_only(actors: Actors) -> None:
    pay, w = actors.payments, actors.world
    pay.set_empanelled(actors.payer, w.programme_id, w.provider2.address)
    own = w.record_a_by_provider2
    # The rule is authorship, not a second class of provider: provider 2's own record is accepted ...
    assert pay.submit_claim(actors.provider2, w.card_a, own, "ECG", 1_000) == 1
    # ... and provider 1, who holds patient A's consent too, cannot claim on it.
    error = refused("EvidenceNotAuthoredByClaimant", pay.submit_claim, actors.provider, w.card_a, own, "LAB", 1_000)
    assert _same(error.args_by_name["claimant"], w.provider.address) and _same(error.args_by_name["author"], w.provider2.address)
    assert pay.claim_count() == 1 and pay.claim_for_evidence(own, "LAB") is None


def test_consent_is_checked_before_authorship(actors: Actors) -> None:
    """A provider the patient has not let see the record is not told who wrote it."""
    pay, w = actors.payments, actors.world
    pay.set_empanelled(actors.payer, w.programme_id, w.provider2.address)
    consents = ConsentLedger(w.ledger)
    revoke = consents.revoke_message(w.patient_a.address, w.provider2.address, deadline=chain_now(w.ledger) + 3600)
    consents.relay(actors.governor, revoke, revoke.sign(w.patient_a))
    error = refused("EvidenceNotAccessible", pay.submit_claim, actors.provider2, w.card_a, w.records_a[0], PACKAGE, 100_000)
    assert set(error.args_by_name) == {"recordId", "provider"}
    _assert_untouched(actors, w.records_a[0])
