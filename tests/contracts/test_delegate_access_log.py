"""DelegateAccessLog: an institution logs a patient's delegate's reads on chain before it releases any key. The
contract itself refuses a delegate that is not the patient's current one (a removed delegate included), records the
caller cannot hold the key of, unknown / erased / mixed-patient records, bad counts and non-members — whatever an
API checks or skips."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.delegate_reads import MAX_READS, DelegateAccessLog
from ledger.records import NewRecord, RecordRegistry
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.reverts import refused

HOSPITAL_A = throwaway_account("delegate-log/hospital-a")
HOSPITAL_B = throwaway_account("delegate-log/hospital-b")
OUTSIDER = throwaway_account("delegate-log/outsider")


@dataclass
class World:
    ledger: Ledger
    consents: ConsentLedger
    records: RecordRegistry
    log: DelegateAccessLog

    def now(self) -> int:
        return int(self.ledger.w3.eth.get_block("latest")["timestamp"])

    def grant(self, patient: LocalAccount, provider: LocalAccount, categories: int) -> None:
        now = self.now()
        terms = ConsentTerms(grantee=provider.address, categories=categories, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 3600)
        message = self.consents.grant_message(patient.address, terms, deadline=now + 600)
        self.consents.relay(self.ledger.sender(provider), message, message.sign(patient))

    def revoke(self, patient: LocalAccount, provider: LocalAccount) -> None:
        message = self.consents.revoke_message(patient.address, provider.address, deadline=self.now() + 600)
        self.consents.relay(self.ledger.sender(provider), message, message.sign(patient))

    def appoint(self, patient: LocalAccount, delegate: LocalAccount | None) -> None:
        message = self.consents.delegate_message(patient.address, delegate.address if delegate else None, deadline=self.now() + 600)
        self.consents.relay(self.ledger.sender(HOSPITAL_A), message, message.sign(patient))

    def anchor(self, author: LocalAccount, patient: LocalAccount, category: Category = Category.ECG) -> bytes:
        record = NewRecord(record_id=os.urandom(32), patient=patient.address, category=category, content_hash=os.urandom(32),
                           cid=b"\x01\x55\x12\x20" + os.urandom(32))
        self.records.anchor(self.ledger.sender(author), record)
        return record.record_id

    def logs(self, caller: LocalAccount, delegate: str, record_ids: list[bytes]):  # type: ignore[no-untyped-def]
        return self.log.log_reads(self.ledger.sender(caller), delegate, record_ids)


@pytest.fixture
def world(chain: RunningNetwork) -> Iterator[World]:
    ledger = chain.ledger()
    assert DelegateAccessLog.deployed(ledger), "m009 deploys the log"
    registry = ConsortiumRegistry(ledger)
    proposer, approver = ledger.sender(chain.governors[0]), ledger.sender(chain.governors[1])
    for account, name in ((HOSPITAL_A, "Hospital A"), (HOSPITAL_B, "Hospital B")):
        application = MemberApplication(address=account.address, name=name, country="CN", roles=["PROVIDER"], hpke_public_key=b"\x02" + os.urandom(32))
        assert registry.approve(approver, registry.propose_admission(proposer, application))
    yield World(ledger, ConsentLedger(ledger), RecordRegistry(ledger), DelegateAccessLog(ledger))


def test_logs_a_current_delegates_reads_by_author_or_consent(world: World) -> None:
    patient, guardian = Account.create(), Account.create()
    world.grant(patient, HOSPITAL_A, Category.ECG.bit)
    world.grant(patient, HOSPITAL_B, Category.ECG.bit | Category.LAB.bit)
    by_a, by_b = world.anchor(HOSPITAL_A, patient), world.anchor(HOSPITAL_B, patient)
    world.appoint(patient, guardian)

    # A authored one record and holds a consent covering ECG, the other's category.
    read = world.logs(HOSPITAL_A, guardian.address, [by_a, by_b])
    assert (read.patient, read.delegate, read.institution, read.record_ids) == (patient.address, guardian.address, HOSPITAL_A.address, (by_a, by_b))
    assert read.transaction_hash.startswith("0x") and read.block_number <= world.ledger.w3.eth.block_number
    assert world.log.reads_of(patient.address) == [read]
    assert world.log.reads_of(guardian.address) == []

    # Without the consent, A still holds the key of its own record, no longer that of B's.
    world.revoke(patient, HOSPITAL_A)
    assert world.logs(HOSPITAL_A, guardian.address, [by_a]).record_ids == (by_a,)
    refused("KeyNotHeld", world.logs, HOSPITAL_A, guardian.address, [by_a, by_b])
    # A LAB record of B: A's consent never covered LAB.
    world.grant(patient, HOSPITAL_A, Category.ECG.bit)
    lab = world.anchor(HOSPITAL_B, patient, Category.LAB)
    refused("KeyNotHeld", world.logs, HOSPITAL_A, guardian.address, [lab])
    assert world.logs(HOSPITAL_B, guardian.address, [lab]).institution == HOSPITAL_B.address
    assert len(world.log.reads_of(patient.address)) == 3


def test_refuses_anyone_but_the_current_delegate(world: World) -> None:
    patient, guardian, stranger = Account.create(), Account.create(), Account.create()
    world.grant(patient, HOSPITAL_A, Category.ECG.bit)
    record = world.anchor(HOSPITAL_A, patient)
    refused("NotCurrentDelegate", world.logs, HOSPITAL_A, guardian.address, [record])  # no delegate yet
    world.appoint(patient, guardian)
    refused("NotCurrentDelegate", world.logs, HOSPITAL_A, stranger.address, [record])
    refused("NotCurrentDelegate", world.logs, HOSPITAL_A, "0x" + "00" * 20, [record])
    world.logs(HOSPITAL_A, guardian.address, [record])
    # Removed: the contract refuses the guardian at once, whatever the API checked.
    world.appoint(patient, None)
    refused("NotCurrentDelegate", world.logs, HOSPITAL_A, guardian.address, [record])
    world.appoint(patient, stranger)
    refused("NotCurrentDelegate", world.logs, HOSPITAL_A, guardian.address, [record])
    assert [r.delegate for r in world.log.reads_of(patient.address)] == [guardian.address]


def test_refuses_bad_records_counts_and_callers(world: World) -> None:
    patient, other, guardian = Account.create(), Account.create(), Account.create()
    world.grant(patient, HOSPITAL_A, Category.ECG.bit)
    world.grant(other, HOSPITAL_A, Category.ECG.bit)
    record, others = world.anchor(HOSPITAL_A, patient), world.anchor(HOSPITAL_A, other)
    world.appoint(patient, guardian)
    world.appoint(other, guardian)

    refused("UnknownRecord", world.logs, HOSPITAL_A, guardian.address, [record, os.urandom(32)])
    refused("MixedPatients", world.logs, HOSPITAL_A, guardian.address, [record, others])
    refused("InvalidReadCount", world.logs, HOSPITAL_A, guardian.address, [])
    refused("InvalidReadCount", world.logs, HOSPITAL_A, guardian.address, [record] * (MAX_READS + 1))
    refused("NotActiveMember", world.logs, OUTSIDER, guardian.address, [record])
    assert len(world.logs(HOSPITAL_A, guardian.address, [record] * MAX_READS).record_ids) == MAX_READS

    message = world.records.erasure_message(patient.address, record, deadline=world.now() + 600)
    world.records.relay_erasure(world.ledger.sender(HOSPITAL_A), message, message.sign(patient))
    refused("RecordIsErased", world.logs, HOSPITAL_A, guardian.address, [record])
    assert len(world.log.reads_of(patient.address)) == 1 and len(world.log.reads_of(other.address)) == 0
