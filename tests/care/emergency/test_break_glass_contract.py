"""BreakGlass (issue 13): the patient's emergency policy, opening a break-glass, reads under it, expiry, and review.

Every refusal is checked to change nothing. Chain time only: expiry and the review deadline are reached by warping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.emergency import (
    DEFAULT_CATEGORIES,
    DEFAULT_DURATION,
    BreakGlassLedger,
    PolicyMode,
    ReasonCode,
    Review,
)
from ledger.errors import ContractRevert
from ledger.records import NewRecord, RecordRegistry
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.chain_clock import chain_now, warp

HOSPITAL = throwaway_account("break-glass/hospital")  # PROVIDER: authors the records
AMBULANCE = throwaway_account("break-glass/ambulance")  # PROVIDER + EMERGENCY
OTHER_ER = throwaway_account("break-glass/other-er")  # EMERGENCY
CLINIC = throwaway_account("break-glass/clinic")  # PROVIDER only
OFFICER = throwaway_account("break-glass/officer")  # PRIVACY_OFFICER
REASON = keccak(b"salt" + b"unconscious after a fall, allergy status unknown")


@dataclass
class World:
    net: RunningNetwork
    ledger: Ledger
    bg: BreakGlassLedger
    consents: ConsentLedger
    records: RecordRegistry

    def now(self) -> int:
        return chain_now(self.ledger.w3)

    def sender(self, account: LocalAccount):  # type: ignore[no-untyped-def]
        return self.bg.sender(account)

    def anchor(self, patient: LocalAccount, category: Category) -> bytes:
        record = NewRecord(record_id=os.urandom(32), patient=patient.address, category=category, content_hash=os.urandom(32), cid=b"\x01\x55\x12\x20" + os.urandom(32))
        self.records.anchor(self.ledger.sender(HOSPITAL), record)
        return record.record_id

    def patient(self) -> LocalAccount:
        patient = Account.create()
        now = self.now()
        terms = ConsentTerms(grantee=HOSPITAL.address, categories=0xFFF, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 86400 * 30)
        message = self.consents.grant_message(patient.address, terms, deadline=now + 600)
        self.consents.relay(self.ledger.sender(HOSPITAL), message, message.sign(patient))
        return patient

    def set_policy(self, patient: LocalAccount, mode: PolicyMode, categories: int = 0, signer: LocalAccount | None = None) -> None:
        signer = signer or patient
        message = self.bg.policy_message(patient.address, mode, categories, deadline=self.now() + 600, signer=signer.address)
        self.bg.set_policy(self.sender(CLINIC), message, message.sign(signer))

    def open(self, patient: LocalAccount, categories: int = DEFAULT_CATEGORIES, duration: int = 0, reader: LocalAccount = AMBULANCE):  # type: ignore[no-untyped-def]
        return self.bg.open(self.sender(reader), patient.address, ReasonCode.ETREAT, REASON, categories, duration, b"\x01\x55\x12\x20" + os.urandom(32))

    def refused(self, action, name: str) -> ContractRevert:  # type: ignore[no-untyped-def]
        before = (self.bg.contract.functions.breakGlassCount().call(), self.ledger.w3.eth.block_number)
        with pytest.raises(ContractRevert) as info:
            action()
        assert info.value.name == name, str(info.value)
        assert self.bg.contract.functions.breakGlassCount().call() == before[0]
        return info.value


@pytest.fixture
def world(chain: RunningNetwork) -> Iterator[World]:
    ledger = chain.ledger()
    registry = ConsortiumRegistry(ledger)
    proposer, approver = ledger.sender(chain.governors[0]), ledger.sender(chain.governors[1])
    for account, name, roles in (
        (HOSPITAL, "Hospital", ["PROVIDER"]), (AMBULANCE, "Ambulance", ["PROVIDER", "EMERGENCY"]), (OTHER_ER, "Other ER", ["EMERGENCY"]),
        (CLINIC, "Clinic", ["PROVIDER"]), (OFFICER, "Privacy Office", ["PRIVACY_OFFICER"]),
    ):
        application = MemberApplication(address=account.address, name=name, country="KZ", roles=roles, hpke_public_key=b"\x02" + os.urandom(32))
        assert registry.approve(approver, registry.propose_admission(proposer, application))
    yield World(chain, ledger, BreakGlassLedger(ledger), ConsentLedger(ledger), RecordRegistry(ledger))


def test_policy_defaults_and_is_set_by_the_patient_or_a_delegate_once_per_signature(world: World) -> None:
    patient, delegate = world.patient(), Account.create()
    policy = world.bg.policy(patient.address)
    assert policy.mode == PolicyMode.DEFAULT and policy.allowed == DEFAULT_CATEGORIES
    assert policy.allowed == (1 << 7) | (1 << 8) | (1 << 6) | (1 << 9) | (1 << 2)

    world.set_policy(patient, PolicyMode.CATEGORIES, Category.ALLERGIES.bit | Category.MEDICATIONS.bit)
    assert world.bg.policy(patient.address).allowed == Category.ALLERGIES.bit | Category.MEDICATIONS.bit
    # The delegate signs too.
    message = world.consents.delegate_message(patient.address, delegate.address, deadline=world.now() + 600)
    world.consents.relay(world.ledger.sender(CLINIC), message, message.sign(patient))
    world.set_policy(patient, PolicyMode.ALL, signer=delegate)
    assert world.bg.policy(patient.address).mode == PolicyMode.ALL and world.bg.policy(patient.address).allowed == 0xFFFF

    # Replayed, forged, expired: refused, policy unchanged.
    message = world.bg.policy_message(patient.address, PolicyMode.NEVER, 0, deadline=world.now() + 600)
    signature = message.sign(patient)
    world.bg.set_policy(world.sender(CLINIC), message, signature)
    world.refused(lambda: world.bg.set_policy(world.sender(CLINIC), message, signature), "InvalidAccountNonce")
    stranger = Account.create()
    forged = world.bg.policy_message(patient.address, PolicyMode.ALL, 0, deadline=world.now() + 600, signer=stranger.address)
    world.refused(lambda: world.bg.set_policy(world.sender(CLINIC), forged, forged.sign(stranger)), "UnauthorizedSigner")
    expired = world.bg.policy_message(patient.address, PolicyMode.ALL, 0, deadline=world.now() - 1)
    world.refused(lambda: world.bg.set_policy(world.sender(CLINIC), expired, expired.sign(patient)), "ExpiredSignature")
    assert world.bg.policy(patient.address).mode == PolicyMode.NEVER
    with pytest.raises(ValueError):
        world.bg.policy_message(patient.address, PolicyMode.CATEGORIES, 0, deadline=world.now() + 600)


def test_break_glass_gives_emergency_reads_of_the_categories_until_expiry(world: World) -> None:
    patient, other = world.patient(), world.patient()
    allergy, ecg, lab = world.anchor(patient, Category.ALLERGIES), world.anchor(patient, Category.ECG), world.anchor(patient, Category.LAB)
    others = world.anchor(other, Category.ALLERGIES)
    opened = world.open(patient, Category.ALLERGIES.bit | Category.ECG.bit)
    assert opened.expires_at - opened.opened_at == DEFAULT_DURATION and opened.reader == AMBULANCE.address
    access = world.bg.get(opened.id)
    assert access is not None and access.review == Review.PENDING and access.categories == Category.ALLERGIES.bit | Category.ECG.bit

    assert world.bg.may_read(AMBULANCE.address, opened.id, allergy) and world.bg.may_read(AMBULANCE.address, opened.id, ecg)
    assert not world.bg.may_read(AMBULANCE.address, opened.id, lab), "outside the break-glass's categories"
    assert not world.bg.may_read(AMBULANCE.address, opened.id, others), "another patient's record"
    assert not world.bg.may_read(OTHER_ER.address, opened.id, allergy), "another member"

    receipt = world.bg._transact(world.sender(AMBULANCE), world.bg.contract.functions.recordsAccessed(opened.id, [allergy, ecg]))
    logged = world.bg.contract.events.CareRecordsAccessed().process_receipt(receipt)[0].args
    assert (logged["patient"], logged["reader"], bytes(logged["ref"]), logged["purpose"]) == (patient.address, AMBULANCE.address, opened.id, int(Purpose.EMERGENCY))
    world.refused(lambda: world.bg._transact(world.sender(AMBULANCE), world.bg.contract.functions.recordsAccessed(opened.id, [lab])), "ReadNotAuthorised")
    world.refused(lambda: world.bg._transact(world.sender(OTHER_ER), world.bg.contract.functions.recordsAccessed(opened.id, [allergy])), "ReadNotAuthorised")

    warp(world.net, DEFAULT_DURATION)
    assert not world.bg.may_read(AMBULANCE.address, opened.id, allergy), "expired"
    world.refused(lambda: world.bg._transact(world.sender(AMBULANCE), world.bg.contract.functions.recordsAccessed(opened.id, [allergy])), "ReadNotAuthorised")


def test_break_glass_refusals_change_nothing(world: World) -> None:
    patient = world.patient()
    world.refused(lambda: world.open(patient, reader=CLINIC), "MissingRole")
    world.refused(lambda: world.open(patient, Category.LAB.bit), "CategoriesOutsidePolicy")
    world.refused(lambda: world.open(patient, duration=24 * 3600 + 1), "DurationTooLong")
    world.refused(lambda: world.bg.open(world.sender(AMBULANCE), patient.address, ReasonCode.ETREAT, b"\x00" * 32, Category.ECG.bit), "InvalidReason")
    world.refused(lambda: world.open(patient, 0), "CategoriesOutsidePolicy")
    assert world.open(patient, Category.ECG.bit, duration=24 * 3600).expires_at - world.now() <= 24 * 3600
    world.set_policy(patient, PolicyMode.NEVER)
    world.refused(lambda: world.open(patient, Category.ECG.bit), "BreakGlassNotAllowed")
    world.set_policy(patient, PolicyMode.ALL)
    assert world.open(patient, Category.LAB.bit | Category.IMAGING.bit).categories == Category.LAB.bit | Category.IMAGING.bit


def test_review_by_patient_signature_or_privacy_officer_once(world: World) -> None:
    patient = world.patient()
    first, second, third = world.open(patient), world.open(patient, reader=OTHER_ER), world.open(patient)
    note = keccak(b"seen at the emergency ward, justified")

    # Neither the reader, a plain member nor a stranger may review.
    world.refused(lambda: world.bg.review(world.sender(AMBULANCE), first.id, True, note), "NotAllowedToReview")
    world.refused(lambda: world.bg.review(world.sender(CLINIC), first.id, True, note), "NotAllowedToReview")
    # The patient's signature, relayed by any member.
    message = world.bg.review_message(first.id, True, note, patient.address, deadline=world.now() + 600)
    receipt = world.bg.relay_review(world.sender(CLINIC), message, message.sign(patient))
    event = world.bg.contract.events.BreakGlassReviewed().process_receipt(receipt)[0].args
    assert (event["reviewer"], event["justified"], event["late"]) == (patient.address, True, False)
    access = world.bg.get(first.id)
    assert access is not None and access.review == Review.JUSTIFIED and access.reviewer == patient.address
    # A second review of the same break-glass is refused, by anyone.
    world.refused(lambda: world.bg.review(world.sender(OFFICER), first.id, False, note), "AlreadyReviewed")
    replay = world.bg.review_message(first.id, False, note, patient.address, deadline=world.now() + 600)
    world.refused(lambda: world.bg.relay_review(world.sender(CLINIC), replay, replay.sign(patient)), "AlreadyReviewed")
    forged = world.bg.review_message(second.id, True, note, AMBULANCE.address, deadline=world.now() + 600)
    world.refused(lambda: world.bg.relay_review(world.sender(CLINIC), forged, forged.sign(AMBULANCE)), "UnauthorizedSigner")

    # The privacy officer, after the 72 h review period: accepted and marked late.
    warp(world.net, 72 * 3600 + 1)
    receipt = world.bg.review(world.sender(OFFICER), second.id, False, note)
    assert world.bg.contract.events.BreakGlassReviewed().process_receipt(receipt)[0].args["late"] is True
    assert world.bg.get(second.id).review == Review.UNJUSTIFIED  # type: ignore[union-attr]
    world.refused(lambda: world.bg.review(world.sender(OFFICER), keccak(b"no such"), True, note), "UnknownBreakGlass")
    assert world.bg.get(third.id).review == Review.PENDING  # type: ignore[union-attr]
