"""A payments world on the session's network: payers, providers, patients with consents and anchored records,
one funded programme with two cards. Built once per module (inside an operator snapshot reverted afterwards);
each test then runs inside the `chain` snapshot and gets fresh senders (cached nonces must not survive a revert).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from eth_account.signers.local import LocalAccount

from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.payments import HealthCardPayments, NewProgramme
from ledger.records import NewRecord, RecordRegistry
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.chain_clock import revert_snapshot, take_snapshot
from tests.support.reverts import refused  # noqa: F401 - re-exported: the payment tests import it from here

YEAR = 365 * 86400
DAY = 86400
PROGRAMME = NewProgramme(name="Kazakhstan cross-border care", currency="KZT", default_annual_limit=1_000_000, auto_approval_threshold=200_000, pre_auth_validity=7 * DAY)
CARD_B_LIMIT = 300_000
FUNDING = 2_000_000
RECORDS_A = 10
RECORDS_B = 4


def chain_now(ledger: Ledger) -> int:
    return int(ledger.w3.eth.get_block("latest")["timestamp"])


def warp(network: RunningNetwork, seconds: int) -> None:
    """Move chain time forward (operator port; undone by the snapshot revert)."""
    operator = network.operator_w3
    operator.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    operator.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@dataclass
class PaymentsWorld:
    network: RunningNetwork
    ledger: Ledger
    governors: list[LocalAccount]
    payer: LocalAccount
    payer2: LocalAccount
    provider: LocalAccount
    provider2: LocalAccount
    patient_a: LocalAccount
    patient_b: LocalAccount
    delegate_a: LocalAccount
    outsider: LocalAccount
    programme_id: int
    card_a: int
    card_b: int
    records_a: list[bytes] = field(default_factory=list)
    records_b: list[bytes] = field(default_factory=list)
    record_a_by_provider2: bytes = b""
    erased_record_a: bytes = b""

    def sender(self, account: LocalAccount) -> TransactionSender:
        return self.ledger.sender(account)


@dataclass
class Actors:
    """Fresh senders for one test (or one hypothesis example)."""

    world: PaymentsWorld
    payments: HealthCardPayments
    payer: TransactionSender
    payer2: TransactionSender
    provider: TransactionSender
    provider2: TransactionSender
    governor: TransactionSender
    governor2: TransactionSender
    outsider: TransactionSender

    @classmethod
    def of(cls, world: PaymentsWorld) -> Actors:
        ledger = world.network.ledger()
        return cls(
            world=world, payments=HealthCardPayments(ledger), payer=ledger.sender(world.payer), payer2=ledger.sender(world.payer2),
            provider=ledger.sender(world.provider), provider2=ledger.sender(world.provider2), governor=ledger.sender(world.governors[0]),
            governor2=ledger.sender(world.governors[1]), outsider=ledger.sender(world.outsider),
        )


def _admit(registry: ConsortiumRegistry, ledger: Ledger, governors: list[LocalAccount], account: LocalAccount, name: str, country: str, role: str) -> None:
    application = MemberApplication(address=account.address, name=name, country=country, roles=[role], hpke_public_key=b"\x02" + os.urandom(32))
    proposal = registry.propose_admission(ledger.sender(governors[0]), application)
    assert registry.approve(ledger.sender(governors[1]), proposal)


def _anchor_many(records: RecordRegistry, author: TransactionSender, patient: str, count: int) -> list[bytes]:
    ids = [os.urandom(32) for _ in range(count)]
    calls = []
    for record_id in ids:
        ciphertext = os.urandom(64)
        record = NewRecord(record_id=record_id, patient=patient, category=Category.ECG, content_hash=hashlib.sha256(ciphertext).digest(), cid=b"\x01\x55\x12\x20" + os.urandom(32))
        calls.append(records.contract.functions.anchorRecord(record.as_tuple()))
    author.transact_many(calls)
    return ids


def build_world(network: RunningNetwork, label: str) -> PaymentsWorld:
    ledger = network.ledger()
    governors = network.governors
    registry, consents, records = ConsortiumRegistry(ledger), ConsentLedger(ledger), RecordRegistry(ledger)
    account = lambda role: throwaway_account(f"payments-{label}-{role}")
    payer, payer2, provider, provider2 = account("payer"), account("payer2"), account("provider"), account("provider2")
    patient_a, patient_b, delegate_a, outsider = account("patient-a"), account("patient-b"), account("delegate-a"), account("outsider")
    _admit(registry, ledger, governors, payer, "Kazakhstan Social Health Insurance Fund", "KZ", "PAYER")
    _admit(registry, ledger, governors, payer2, "Benin National Health Insurance", "BJ", "PAYER")
    _admit(registry, ledger, governors, provider, "Yinchuan First People's Hospital", "CN", "PROVIDER")
    _admit(registry, ledger, governors, provider2, "Lokossa Clinic", "BJ", "PROVIDER")

    relayer = ledger.sender(governors[0])
    now = chain_now(ledger)
    for patient, grantee in ((patient_a, provider), (patient_b, provider), (patient_a, provider2)):
        terms = ConsentTerms(grantee=grantee.address, categories=Category.ECG.bit, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 5 * YEAR)
        grant = consents.grant_message(patient.address, terms, deadline=now + 3600)
        consents.relay(relayer, grant, grant.sign(patient))
    delegation = consents.delegate_message(patient_a.address, delegate_a.address, deadline=now + 3600)
    consents.relay(relayer, delegation, delegation.sign(patient_a))

    provider_sender = ledger.sender(provider)
    records_a = _anchor_many(records, provider_sender, patient_a.address, RECORDS_A + 1)
    records_b = _anchor_many(records, provider_sender, patient_b.address, RECORDS_B)
    (by_provider2,) = _anchor_many(records, ledger.sender(provider2), patient_a.address, 1)
    erased = records_a.pop()
    erasure = records.erasure_message(patient_a.address, erased, deadline=now + 3600)
    records.relay_erasure(relayer, erasure, erasure.sign(patient_a))

    payments = HealthCardPayments(ledger)
    payer_sender = ledger.sender(payer)
    programme_id = payments.create_programme(payer_sender, PROGRAMME)
    payments.set_empanelled(payer_sender, programme_id, provider.address)
    payments.fund_escrow(payer_sender, programme_id, FUNDING)
    card_a = payments.issue_card(payer_sender, programme_id, patient_a.address, valid_until=now + YEAR)
    card_b = payments.issue_card(payer_sender, programme_id, patient_b.address, valid_until=now + YEAR, annual_limit=CARD_B_LIMIT)
    return PaymentsWorld(
        network=network, ledger=ledger, governors=governors, payer=payer, payer2=payer2, provider=provider, provider2=provider2,
        patient_a=patient_a, patient_b=patient_b, delegate_a=delegate_a, outsider=outsider, programme_id=programme_id, card_a=card_a, card_b=card_b,
        records_a=records_a, records_b=records_b, record_a_by_provider2=by_provider2, erased_record_a=erased,
    )


@pytest.fixture(scope="module")
def world(local_network: RunningNetwork, request: pytest.FixtureRequest) -> Iterator[PaymentsWorld]:
    operator = local_network.operator_w3
    snapshot = take_snapshot(operator)
    try:
        yield build_world(local_network, request.module.__name__)
    finally:
        revert_snapshot(operator, snapshot)


@pytest.fixture
def actors(world: PaymentsWorld, chain: RunningNetwork) -> Actors:
    return Actors.of(world)
