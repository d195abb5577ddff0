"""A referral world on anvil for the contract tests: a requester, three consultants and a patient who consented to
the requester (ECG, LAB, REFERRAL) and to the consultants (REFERRAL: they anchor their answers under it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.cases import CaseTx, Priority, ReferralCases
from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.records import NewRecord, RecordRegistry
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.chain_clock import chain_now

if TYPE_CHECKING:
    from tests.care.cases.cases_api_world import ReferralApis

REQUESTER = throwaway_account("cases/lokossa")
CONSULTANTS = [throwaway_account(f"cases/consultant-{i}") for i in range(3)]
OUTSIDER = throwaway_account("cases/outsider")  # never admitted


def cid() -> bytes:
    return b"\x01\x55\x12\x20" + os.urandom(32)


@dataclass
class CaseWorld:
    net: RunningNetwork
    ledger: Ledger
    registry: ConsortiumRegistry
    consents: ConsentLedger
    records: RecordRegistry
    cases: ReferralCases
    patient: LocalAccount = field(default_factory=Account.create)

    def now(self) -> int:
        return chain_now(self.ledger.w3)

    def send(self, account: LocalAccount):  # type: ignore[no-untyped-def]
        return self.ledger.sender(account)

    def consent(self, grantee: LocalAccount, categories: int, patient: LocalAccount | None = None) -> None:
        patient = patient or self.patient
        now = self.now()
        terms = ConsentTerms(grantee=grantee.address, categories=categories, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 86400 * 30)
        message = self.consents.grant_message(patient.address, terms, deadline=now + 600)
        self.consents.relay(self.send(grantee), message, message.sign(patient))

    def anchor(self, author: LocalAccount, category: Category, patient: LocalAccount | None = None) -> bytes:
        record = NewRecord(record_id=os.urandom(32), patient=(patient or self.patient).address, category=int(category), content_hash=os.urandom(32), cid=cid())
        self.records.anchor(self.send(author), record)
        return record.record_id

    def open_case(self, consultants: list[LocalAccount] | None = None, attached: int = 2, priority: Priority = Priority.URGENT) -> tuple[CaseTx, bytes, list[bytes]]:
        request = self.anchor(REQUESTER, Category.REFERRAL)
        records = [self.anchor(REQUESTER, Category.ECG) for _ in range(attached)]
        opened = self.cases.open(self.send(REQUESTER), request, priority, records, [c.address for c in (consultants or CONSULTANTS[:1])])
        return opened, request, records

    def approve(self, case_id: bytes, days: int = 30, signer: LocalAccount | None = None) -> CaseTx:
        signer = signer or self.patient
        now = self.now()
        message = self.cases.approve_message(case_id, until=now + days * 86400, deadline=now + 600, signer=signer.address)
        return self.cases.relay(self.send(REQUESTER), message, message.sign(signer))


@pytest.fixture
def world(chain: RunningNetwork) -> Iterator[CaseWorld]:
    ledger = chain.ledger()
    registry = ConsortiumRegistry(ledger)
    proposer, approver = ledger.sender(chain.governors[0]), ledger.sender(chain.governors[1])
    for index, account in enumerate([REQUESTER, *CONSULTANTS]):
        application = MemberApplication(address=account.address, name=f"Case Hospital {index}", country="BJ" if index == 0 else "CN", roles=["PROVIDER"], hpke_public_key=b"\x02" + os.urandom(32))
        assert registry.approve(approver, registry.propose_admission(proposer, application))
    w = CaseWorld(chain, ledger, registry, ConsentLedger(ledger), RecordRegistry(ledger), ReferralCases(ledger))
    w.consent(REQUESTER, Category.ECG.bit | Category.LAB.bit | Category.REFERRAL.bit)
    for consultant in CONSULTANTS:
        w.consent(consultant, Category.REFERRAL.bit)
    yield w


@pytest.fixture(scope="session")
def referral_apis(geth_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferralApis]:
    """Lokossa (requester), Yinchuan and Almaty (consultants), each with its API served on loopback."""
    from tests.care.cases.cases_api_world import ReferralApis, serve

    root = tmp_path_factory.mktemp("case-apis")
    with serve(geth_network, root, "cases-api/lokossa", "Mono Case Hospital", "BJ") as lokossa, serve(
        geth_network, root, "cases-api/yinchuan", "Yinchuan Case Hospital", "CN"
    ) as yinchuan, serve(geth_network, root, "cases-api/almaty", "Almaty Case Clinic", "KZ") as almaty:
        world = ReferralApis(geth_network, lokossa, yinchuan, almaty)
        try:
            yield world
        finally:
            world.close()
