"""RecordRegistry knows every record's author (issue 9, item 3): a record anchored on its own keeps its author's
index in its record word and `getRecord` returns the author's address; a batch keeps its author in its batch word.

Two providers of one patient anchor through the gateway, under a consent and under a patient-signed upload
authorisation; the patient's erasure keeps the author. Before the fix `getRecord` had no author and
`authorIndexOf` did not exist, so every test here failed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.merkle import BatchRecord, RecordBatch
from ledger.records import NewRecord, RecordRegistry
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account

HOSPITAL_A = throwaway_account("record-author/hospital-a")
HOSPITAL_B = throwaway_account("record-author/hospital-b")
ZERO = "0x" + "00" * 20
MANIFEST = b"\x01\x55\x12\x20" + b"\x0a" * 32


def _cid() -> bytes:
    return b"\x01\x55\x12\x20" + os.urandom(32)


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


@dataclass
class World:
    ledger: Ledger
    consents: ConsentLedger
    records: RecordRegistry

    @property
    def fns(self) -> Contract:
        return self.records.contract.functions  # type: ignore[return-value]

    def now(self) -> int:
        return int(self.ledger.w3.eth.get_block("latest")["timestamp"])

    def relayer(self, account: LocalAccount = HOSPITAL_A):  # type: ignore[no-untyped-def]
        return self.ledger.sender(account)

    def grant(self, patient: LocalAccount, provider: LocalAccount) -> None:
        now = self.now()
        terms = ConsentTerms(grantee=provider.address, categories=Category.ECG.bit, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 3600)
        message = self.consents.grant_message(patient.address, terms, deadline=now + 600)
        self.consents.relay(self.relayer(provider), message, message.sign(patient))

    def anchor(self, author: LocalAccount, patient: LocalAccount) -> bytes:
        record = NewRecord(record_id=os.urandom(32), patient=patient.address, category=Category.ECG, content_hash=os.urandom(32), cid=_cid())
        anchor = self.records.anchor(self.ledger.sender(author), record)
        assert _same(anchor.author, author.address)
        return record.record_id

    def author_of(self, record_id: bytes) -> str:
        state = self.records.state(record_id)
        assert state is not None
        raw = self.fns.getRecord(record_id).call()
        assert _same(raw[4], state.author), "the wrapper reads the view's author"
        return state.author


@pytest.fixture
def world(chain: RunningNetwork) -> Iterator[World]:
    """Two providers admitted inside the test's snapshot (reverted afterwards)."""
    ledger = chain.ledger()
    registry = ConsortiumRegistry(ledger)
    proposer, approver = ledger.sender(chain.governors[0]), ledger.sender(chain.governors[1])
    for account, name in ((HOSPITAL_A, "Hospital A"), (HOSPITAL_B, "Hospital B")):
        application = MemberApplication(address=account.address, name=name, country="CN", roles=["PROVIDER"], hpke_public_key=b"\x02" + os.urandom(32))
        assert registry.approve(approver, registry.propose_admission(proposer, application))
    yield World(ledger, ConsentLedger(ledger), RecordRegistry(ledger))


def test_records_anchored_on_their_own_keep_their_author(world: World) -> None:
    patient = Account.create()
    world.grant(patient, HOSPITAL_A)
    world.grant(patient, HOSPITAL_B)
    assert world.records.author_index(HOSPITAL_A.address) == world.records.author_index(HOSPITAL_B.address) == 0

    by_a = world.anchor(HOSPITAL_A, patient)
    by_b = world.anchor(HOSPITAL_B, patient)
    by_a_again = world.anchor(HOSPITAL_A, patient)
    index_a, index_b = world.records.author_index(HOSPITAL_A.address), world.records.author_index(HOSPITAL_B.address)
    assert index_a != 0 and index_b == index_a + 1, "an author is indexed once, in the order of its first anchor"
    assert _same(world.author_of(by_a), HOSPITAL_A.address) and _same(world.author_of(by_a_again), HOSPITAL_A.address)
    assert _same(world.author_of(by_b), HOSPITAL_B.address)

    # Under a patient-signed upload authorisation (no consent to B for this patient): the author is the sender.
    stranger = Account.create()
    record = NewRecord(record_id=os.urandom(32), patient=stranger.address, category=Category.ECG, content_hash=os.urandom(32), cid=_cid())
    signed = world.records.upload_authorization(record, HOSPITAL_B.address, deadline=world.now() + 600)
    world.records.anchor_with_authorization(world.ledger.sender(HOSPITAL_B), record, signed, signed.sign(stranger))
    assert _same(world.author_of(record.record_id), HOSPITAL_B.address)
    assert world.records.author_index(HOSPITAL_B.address) == index_b

    # The patient's erasure sets its flag and keeps the patient, the author and the rest of the word.
    before = world.records.state(by_a)
    message = world.records.erasure_message(patient.address, by_a, deadline=world.now() + 600)
    world.records.relay_erasure(world.relayer(HOSPITAL_B), message, message.sign(patient))
    after = world.records.state(by_a)
    assert before is not None and after is not None and after.erased and not before.erased
    assert after.model_dump(exclude={"erased"}) == before.model_dump(exclude={"erased"})

    unknown = os.urandom(32)
    assert world.records.state(unknown) is None and tuple(world.fns.getRecord(unknown).call())[4] == ZERO


def test_batched_records_carry_their_batch_author(world: World) -> None:
    patient = Account.create()
    world.grant(patient, HOSPITAL_B)
    batch = RecordBatch([BatchRecord(os.urandom(32), patient.address, int(Category.ECG), os.urandom(32), _cid()) for _ in range(3)])
    receipt = world.ledger.sender(HOSPITAL_B).transact(world.fns.anchorBatch(batch.entries(), MANIFEST))
    timestamp = int(world.ledger.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    author, anchored_at, count = world.fns.getBatch(batch.root).call()
    assert _same(author, HOSPITAL_B.address) and (anchored_at, count) == (timestamp, 3)
    for index, entry in enumerate(batch.records):
        assert world.fns.verifyBatchedRecord(batch.root, entry.as_tuple(), batch.proof(index)).call(), "the record is the batch author's"
        assert world.records.state(entry.record_id) is None and tuple(world.fns.getRecord(entry.record_id).call())[4] == ZERO
    # The batch word holds the author's address itself: batches pay for no author index.
    assert world.records.author_index(HOSPITAL_B.address) == 0

    # The same provider's later single record gets an index, and batch and record agree on who wrote them.
    single = world.anchor(HOSPITAL_B, patient)
    assert world.records.author_index(HOSPITAL_B.address) != 0
    assert _same(world.author_of(single), world.fns.getBatch(batch.root).call()[0])
