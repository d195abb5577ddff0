"""Prescriptions on chain (issue 14): prescribe, present (signature or printed token), dispense exactly as often as
allowed, read under the prescription, and be paid from the e-card with the dispense as evidence.

Every refusal is checked by its custom error and by the unchanged state.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from eth_account import Account

from ledger.payments import HealthCardPayments, NewProgramme
from ledger.prescriptions import DispenseStatus, Scope, new_token_secret, token_hash
from ledger.registry import MemberApplication
from ledger.vocabulary import Category
from tests.care.prescriptions.rx_world import (
    CLINIC, DAY, PHARMACY_BJ, PHARMACY_BJ2, PHARMACY_KZ, PRESCRIBER, RxWorld, build_world, refused,
)
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.chain_clock import warp

DISPENSE_GAS_BUDGET = 60_000


@pytest.fixture
def world(chain: RunningNetwork) -> Iterator[RxWorld]:
    yield build_world(chain)


def test_prescribe_present_and_dispense_as_often_as_allowed(world: RxWorld) -> None:
    patient = world.patient()
    p = world.issue(patient, dispenses_allowed=2, min_interval=7 * DAY)
    state = world.rx.state(p.prescription_id)
    assert state is not None and state.prescriber == PRESCRIBER.address and state.remaining == 2 and not state.cancelled
    assert world.rx.dispense_status(p.prescription_id, PHARMACY_BJ.address) == DispenseStatus.NOT_PRESENTED

    presented = world.present(patient, p.prescription_id, PHARMACY_BJ)
    assert presented.signer == patient.address and world.rx.is_presented(p.prescription_id, PHARMACY_BJ.address)
    assert not world.rx.is_presented(p.prescription_id, PHARMACY_BJ2.address)

    first = world.dispense(PHARMACY_BJ, patient, p.prescription_id)
    assert (first.dispensed, first.dispenses_allowed) == (1, 2)
    assert first.gas_used <= DISPENSE_GAS_BUDGET, f"a dispense costs {first.gas_used} gas"
    refused("DispenseTooEarly", world.dispense, PHARMACY_BJ, patient, p.prescription_id)
    assert world.rx.state(p.prescription_id).dispensed == 1  # type: ignore[union-attr]

    warp(world.network, 7 * DAY)
    world.dispense(PHARMACY_BJ, patient, p.prescription_id)
    state = world.rx.state(p.prescription_id)
    assert state is not None and state.dispensed == 2 and state.remaining == 0
    assert world.rx.dispense_status(p.prescription_id, PHARMACY_BJ.address) == DispenseStatus.USED_UP
    warp(world.network, 7 * DAY)
    refused("PrescriptionUsedUp", world.dispense, PHARMACY_BJ, patient, p.prescription_id)
    assert [d.dispensed for d in world.rx.dispenses(p.prescription_id)] == [1, 2]


def test_bad_prescriptions_are_refused(world: RxWorld) -> None:
    patient = world.patient()
    stranger = Account.create()  # no consent to the prescriber
    record = world.anchor(PRESCRIBER, patient, Category.PRESCRIPTION)
    no_consent = world.prescription(patient, record_id=record).model_copy(update={"patient": stranger.address})
    refused("NotPrescriptionRecord", world.rx.issue, world.sender(PRESCRIBER), no_consent)

    # The stranger's own prescription record needs a consent to anchor; with PRESCRIPTION consent revoked to
    # LAB-only, the prescriber may not prescribe.
    world.grant(stranger, PRESCRIBER, Category.PRESCRIPTION.bit)
    record = world.anchor(PRESCRIBER, stranger, Category.PRESCRIPTION)
    world.grant(stranger, PRESCRIBER, Category.LAB.bit)
    p = world.prescription(stranger, record_id=record)
    refused("NoPrescribingConsent", world.rx.issue, world.sender(PRESCRIBER), p)
    assert world.rx.state(p.prescription_id) is None

    lab = world.anchor(PHARMACY_BJ, patient, Category.DISPENSE)
    refused("NotPrescriptionRecord", world.rx.issue, world.sender(PRESCRIBER), world.prescription(patient, record_id=lab))
    # Another provider (here a pharmacy) cannot issue on the prescriber's MedicationRequest.
    refused("NotPrescriptionRecord", world.rx.issue, world.sender(PHARMACY_BJ), world.prescription(patient))
    refused("InvalidDispenseCount", world.rx.issue, world.sender(PRESCRIBER), world.prescription(patient, dispenses_allowed=2).model_copy(update={"single_dispense": True}))
    refused("InvalidScope", world.rx.issue, world.sender(PRESCRIBER), world.prescription(patient, scope=Scope.NAMED_PHARMACY, pharmacy=CLINIC.address))
    now = world.now()
    refused("InvalidValidity", world.rx.issue, world.sender(PRESCRIBER), world.prescription(patient, valid_from=now - 2 * DAY, valid_until=now - DAY))
    issued = world.issue(patient)
    refused("PrescriptionExists", world.rx.issue, world.sender(PRESCRIBER), world.prescription(patient, prescription_id=issued.prescription_id))


def test_dispensing_outside_the_rules_is_refused(world: RxWorld) -> None:
    patient = world.patient()
    # A non-pharmacy can neither be presented to nor dispense.
    p = world.issue(patient)
    refused("MissingRole", world.present, patient, p.prescription_id, CLINIC)
    refused("MissingRole", world.dispense, CLINIC, patient, p.prescription_id)
    # Not presented.
    refused("NotPresented", world.dispense, PHARMACY_BJ, patient, p.prescription_id)

    # Scope: one country, one named pharmacy.
    benin = world.issue(patient, scope=Scope.COUNTRY, country="BJ")
    refused("PharmacyOutOfScope", world.present, patient, benin.prescription_id, PHARMACY_KZ)
    world.present(patient, benin.prescription_id, PHARMACY_BJ2)
    named = world.issue(patient, scope=Scope.NAMED_PHARMACY, pharmacy=PHARMACY_BJ.address)
    refused("PharmacyOutOfScope", world.present, patient, named.prescription_id, PHARMACY_BJ2)
    world.present(patient, named.prescription_id, PHARMACY_BJ)
    world.dispense(PHARMACY_BJ, patient, named.prescription_id)

    # A dispense record must be the pharmacy's own DISPENSE record of the patient.
    world.present(patient, p.prescription_id, PHARMACY_BJ)
    other = world.anchor(PHARMACY_BJ2, patient, Category.DISPENSE)
    refused("NotDispenseRecord", world.rx.dispense, world.sender(PHARMACY_BJ), p.prescription_id, other)
    prescription_record = world.anchor(PRESCRIBER, patient, Category.PRESCRIPTION)
    refused("NotDispenseRecord", world.rx.dispense, world.sender(PHARMACY_BJ), p.prescription_id, prescription_record)
    assert world.rx.state(p.prescription_id).dispensed == 0  # type: ignore[union-attr]

    # Single dispense: the second is refused.
    single = world.issue(patient, dispenses_allowed=1, single_dispense=True, min_interval=0)
    world.present(patient, single.prescription_id, PHARMACY_BJ)
    world.present(patient, single.prescription_id, PHARMACY_BJ2)
    world.dispense(PHARMACY_BJ, patient, single.prescription_id)
    refused("PrescriptionUsedUp", world.dispense, PHARMACY_BJ2, patient, single.prescription_id)
    refused("PrescriptionUsedUp", world.present, patient, single.prescription_id, PHARMACY_KZ)

    # Cancellation: by the prescriber only, then no dispense.
    refused("NotPrescriber", world.rx.cancel, world.sender(PHARMACY_BJ), p.prescription_id)
    world.rx.cancel(world.sender(PRESCRIBER), p.prescription_id)
    assert world.rx.state(p.prescription_id).cancelled  # type: ignore[union-attr]
    refused("PrescriptionIsCancelled", world.dispense, PHARMACY_BJ, patient, p.prescription_id)
    refused("PrescriptionIsCancelled", world.rx.cancel, world.sender(PRESCRIBER), p.prescription_id)

    # Expiry.
    short = world.issue(patient, valid_until=world.now() + DAY)
    world.present(patient, short.prescription_id, PHARMACY_BJ)
    warp(world.network, DAY + 1)
    refused("PrescriptionExpired", world.dispense, PHARMACY_BJ, patient, short.prescription_id)
    assert world.rx.state(short.prescription_id).dispensed == 0  # type: ignore[union-attr]


def test_a_suspended_pharmacy_cannot_dispense(world: RxWorld) -> None:
    patient = world.patient()
    p = world.issue(patient)
    world.present(patient, p.prescription_id, PHARMACY_BJ2)
    record = world.anchor(PHARMACY_BJ2, patient, Category.DISPENSE)
    governors = world.network.governors
    proposal = world.registry.propose_suspension(world.ledger.sender(governors[0]), PHARMACY_BJ2.address, "licence withdrawn")
    world.registry.approve(world.ledger.sender(governors[1]), proposal)
    refused("MissingRole", world.rx.dispense, world.sender(PHARMACY_BJ2), p.prescription_id, record)
    assert world.rx.dispense_status(p.prescription_id, PHARMACY_BJ2.address) == DispenseStatus.NOT_PHARMACY
    assert world.rx.state(p.prescription_id).dispensed == 0  # type: ignore[union-attr]


def test_presentations_need_the_patient_or_delegate_and_are_not_replayable(world: RxWorld) -> None:
    patient, someone = world.patient(), Account.create()
    p = world.issue(patient)
    refused("UnauthorizedSigner", world.present, patient, p.prescription_id, PHARMACY_BJ, signer=someone)
    assert not world.rx.is_presented(p.prescription_id, PHARMACY_BJ.address)

    message = world.rx.present_message(p.prescription_id, PHARMACY_BJ.address, deadline=world.now() + 600, signer=patient.address)
    signature = message.sign(patient)
    world.rx.relay_presentation(world.sender(PRESCRIBER), message, signature)  # any member relays
    refused("InvalidAccountNonce", world.rx.relay_presentation, world.sender(PHARMACY_BJ), message, signature)
    # The signature names its pharmacy: it cannot be redirected to another one.
    redirected = world.rx.present_message(p.prescription_id, PHARMACY_BJ2.address, deadline=world.now() + 600, signer=patient.address)
    refused("UnauthorizedSigner", world.rx.relay_presentation, world.sender(PHARMACY_BJ2), redirected, signature)

    # The patient's delegate may present.
    delegate = Account.create()
    set_delegate = world.consents.delegate_message(patient.address, delegate.address, deadline=world.now() + 600)
    world.consents.relay(world.sender(PHARMACY_BJ), set_delegate, set_delegate.sign(patient))
    assert world.present(patient, p.prescription_id, PHARMACY_BJ2, signer=delegate).signer == delegate.address


def test_the_printed_token_works_once_and_cannot_be_forged(world: RxWorld) -> None:
    patient = world.patient()
    secret = new_token_secret()
    prescription = world.prescription(patient)
    p = world.issue(patient, prescription_id=prescription.prescription_id, record_id=prescription.record_id, token_hash=token_hash(prescription.prescription_id, secret))
    assert world.rx.state(p.prescription_id).token_unused  # type: ignore[union-attr]
    refused("InvalidToken", world.rx.present_token, world.sender(PHARMACY_BJ), p.prescription_id, os.urandom(32))
    refused("MissingRole", world.rx.present_token, world.sender(CLINIC), p.prescription_id, secret)
    presented = world.rx.present_token(world.sender(PHARMACY_BJ), p.prescription_id, secret)
    assert presented.signer == "0x" + "00" * 20 and world.rx.is_presented(p.prescription_id, PHARMACY_BJ.address)
    refused("TokenAlreadyUsed", world.rx.present_token, world.sender(PHARMACY_BJ2), p.prescription_id, secret)
    assert not world.rx.is_presented(p.prescription_id, PHARMACY_BJ2.address)
    world.dispense(PHARMACY_BJ, patient, p.prescription_id)
    # A prescription without a token refuses every secret.
    plain = world.issue(patient)
    refused("InvalidToken", world.rx.present_token, world.sender(PHARMACY_BJ), plain.prescription_id, bytes(32))


def test_reads_under_a_prescription(world: RxWorld) -> None:
    patient = world.patient()
    p = world.issue(patient)
    other_record = world.anchor(PRESCRIBER, patient, Category.PRESCRIPTION)
    rx, ref = world.rx, p.prescription_id
    assert rx.may_read(PRESCRIBER.address, ref, p.record_id)
    assert not rx.may_read(PHARMACY_BJ.address, ref, p.record_id), "not presented yet"
    world.present(patient, ref, PHARMACY_BJ)
    assert rx.may_read(PHARMACY_BJ.address, ref, p.record_id)
    assert not rx.may_read(PHARMACY_BJ.address, ref, other_record), "the prescription and nothing else"
    assert not rx.may_read(PHARMACY_BJ2.address, ref, p.record_id)
    dispense = world.dispense(PHARMACY_BJ, patient, ref)
    assert rx.may_read(PRESCRIBER.address, ref, dispense.dispense_record_id), "the prescriber sees the dispense"
    assert not rx.may_read(PHARMACY_BJ2.address, ref, dispense.dispense_record_id)

    receipt = world.sender(PHARMACY_BJ).transact(rx.contract.functions.recordsAccessed(ref, [p.record_id]))
    (logged,) = rx.contract.events.CareRecordsAccessed().process_receipt(receipt)
    assert (logged.args.patient, logged.args.reader, logged.args.purpose) == (patient.address, PHARMACY_BJ.address, 1)
    refused("ReadNotAuthorised", world.rx.send, world.sender(PHARMACY_BJ2), rx.contract.functions.recordsAccessed(ref, [p.record_id]))


def test_only_the_dispensing_pharmacy_is_paid_for_the_dispense(world: RxWorld) -> None:
    payer = throwaway_account("rx/fund")
    governors = world.network.governors
    if not world.registry.is_active(payer.address):
        application = MemberApplication(address=payer.address, name="Rx Fund", country="BJ", roles=["PAYER"], hpke_public_key=b"\x02" + os.urandom(32))
        world.registry.approve(world.ledger.sender(governors[1]), world.registry.propose_admission(world.ledger.sender(governors[0]), application))
    payments = HealthCardPayments(world.ledger)
    fund = world.sender(payer)
    programme = payments.create_programme(fund, NewProgramme(name="Benin pharmacy cover", currency="XOF", default_annual_limit=100_000))
    payments.fund_escrow(fund, programme, 100_000)
    for pharmacy in (PHARMACY_BJ, PHARMACY_BJ2):
        payments.set_empanelled(fund, programme, pharmacy.address)
    patient = world.patient()
    card = payments.issue_card(fund, programme, patient.address, valid_until=world.now() + 365 * DAY)

    p = world.issue(patient)
    world.present(patient, p.prescription_id, PHARMACY_BJ)
    dispense = world.dispense(PHARMACY_BJ, patient, p.prescription_id)
    refused("EvidenceNotAuthoredByClaimant", payments.submit_claim, world.sender(PHARMACY_BJ2), card, dispense.dispense_record_id, "PHARMACY", 4_500)
    claim = payments.submit_claim(world.sender(PHARMACY_BJ), card, dispense.dispense_record_id, "PHARMACY", 4_500)
    paid = payments.approve_claim(fund, claim, override_confirmation=True)
    assert paid.provider == PHARMACY_BJ.address and paid.amount == 4_500
