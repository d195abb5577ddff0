"""Batched erasures replay by Merkle leaf, as RecordRegistry keys them.

A batch record's id is not an identity (ids are not checked for uniqueness across batches), so the contract
marks the erased leaf (patient, category, content hash, CID). The audit must do the same: a batched erasure
replays cleanly, a reused id in another batch (or anchored on its own) is not taken for the erased record,
and tampering with a leaf's marker is caught.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from audit_world import AuditWorld, find_base_slot, mapping_slot, read_slot, write_slot

from ledger.audit import AuditOptions, AuditResult, run_audit
from ledger.merkle import BatchRecord, RecordBatch
from ledger.records import NewRecord, RecordRegistry
from ledger.vocabulary import Category, Purpose
from tests.support.chain_clock import chain_now

MANIFEST = b"\x01\x55\x12\x20" + b"\x09" * 32  # a binary CID; only --deep reads manifests


def audit(world: AuditWorld) -> AuditResult:
    return run_audit(world.ledger, AuditOptions())


def batched(patient: str, category: Category, record_id: bytes | None = None) -> BatchRecord:
    digest = hashlib.sha256(os.urandom(64)).digest()
    return BatchRecord(record_id=record_id or os.urandom(32), patient=patient, category=int(category), content_hash=digest, cid=b"\x01\x55\x12\x20" + digest)


class Batches:
    """Batch anchoring, batched reads and relayed batched erasures through the gateway."""

    def __init__(self, world: AuditWorld) -> None:
        self.world = world
        self.registry = RecordRegistry(world.ledger)
        self.fns = self.registry.contract.functions

    def anchor(self, records: list[BatchRecord]) -> RecordBatch:
        batch = RecordBatch(records)
        self.world.ledger.sender(self.world.hospital.identity.account).transact(self.fns.anchorBatch(batch.entries(), MANIFEST))
        return batch

    def read(self, batch: RecordBatch, index: int) -> int:
        receipt = self.world.ledger.sender(self.world.hospital.identity.account).transact(
            self.fns.batchedRecordAccessed(batch.root, batch.records[index].as_tuple(), batch.proof(index), int(Purpose.TREATMENT))
        )
        return int(receipt["blockNumber"])

    def erase(self, batch: RecordBatch, index: int) -> int:
        """The patient signs RequestErasure; a governor relays it (a patient sends no transactions)."""
        record = batch.records[index]
        message = self.registry.erasure_message(record.patient, record.record_id, deadline=chain_now(self.world.ledger.w3) + 600)
        signature = message.sign(self.world.alice.account)
        m = message.message
        function = self.fns.requestBatchedErasureBySig(batch.root, record.as_tuple(), batch.proof(index), m["nonce"], m["deadline"], signature)
        return int(self.world.ledger.sender(self.world.net.governors[0]).transact(function)["blockNumber"])

    def leaf(self, batch: RecordBatch, index: int) -> bytes:
        return batch.leaf(index)


def test_batched_erasure_replays_without_violations(world: AuditWorld) -> None:
    b = Batches(world)
    alice = world.alice.address
    batch = b.anchor([batched(alice, Category.ECG), batched(alice, Category.LAB)])
    b.read(batch, 0)
    b.read(batch, 1)
    erased_at = b.erase(batch, 0)
    b.read(batch, 1)  # the other record of the batch stays readable

    leaf = b.leaf(batch, 0)
    assert b.fns.isBatchedLeafErased(leaf).call() and b.fns.isBatchedRecordErased(batch.records[0].as_tuple()).call()
    assert not b.fns.isErased(batch.records[0].record_id).call()  # isErased is for records anchored on their own

    result = audit(world)
    assert result.violations == [], result.violations
    assert result.state.erased_batched == {"0x" + leaf.hex(): ["0x" + batch.records[0].record_id.hex(), alice, "0x" + batch.root.hex(), erased_at]}


def test_a_reused_record_id_is_not_taken_for_the_erased_record(world: AuditWorld) -> None:
    """Two batches reuse one id; erasing it in one leaves the other, and a later single anchor of the id, readable."""
    b = Batches(world)
    alice = world.alice.address
    shared = os.urandom(32)
    first = b.anchor([batched(alice, Category.ECG, shared), batched(alice, Category.LAB)])
    second = b.anchor([batched(alice, Category.LAB, shared)])
    b.erase(first, 0)
    b.read(second, 0)
    assert b.fns.isBatchedRecordErased(first.records[0].as_tuple()).call() and not b.fns.isBatchedRecordErased(second.records[0].as_tuple()).call()

    # A batched erasure no longer blocks anchoring the id on its own; that record is read and erasable too.
    digest = hashlib.sha256(os.urandom(64)).digest()
    single = NewRecord(record_id=shared, patient=alice, category=int(Category.LAB), content_hash=digest, cid=b"\x01\x55\x12\x20" + digest)
    b.registry.anchor(world.ledger.sender(world.hospital.identity.account), single)
    b.registry.log_access(world.ledger.sender(world.hospital.identity.account), [shared], Purpose.TREATMENT)
    b.read(second, 0)

    result = audit(world)
    assert result.violations == [], result.violations
    assert list(result.state.erased_batched) == ["0x" + b.leaf(first, 0).hex()]
    assert not result.state.records["0x" + shared.hex()].erased


def test_an_identical_copy_in_another_batch_counts_as_erased(world: AuditWorld) -> None:
    """Same leaf in two batches: one erasure covers both; a read of the copy while its marker was cleared is caught."""
    b = Batches(world)
    alice = world.alice.address
    record = batched(alice, Category.ECG)
    first = b.anchor([record, batched(alice, Category.LAB)])
    copy = b.anchor([record])
    b.erase(first, 0)
    assert b.fns.isBatchedRecordErased(record.as_tuple()).call()
    assert audit(world).violations == []

    t = MarkerTamper(world, b.leaf(copy, 0))
    t.set(0)
    block = b.read(copy, 0)
    t.set(1)
    found = audit(world).violations
    assert [v.rule for v in found] == ["access-consent"], found
    assert found[0].block == block and "was erased at block" in found[0].explanation


class MarkerTamper:
    """RecordRegistry._erasedLeaves[leaf], written on the operator's private port (no event)."""

    def __init__(self, world: AuditWorld, leaf: bytes) -> None:
        self.operator = world.net.operator_w3
        self.address = world.ledger.deployments.address_of("RecordRegistry")
        base = find_base_slot(self.operator, self.address, ["bytes32"], [leaf], lambda word: word == 1)
        self.slot = mapping_slot(["bytes32"], [leaf], base)

    def set(self, value: int) -> None:
        write_slot(self.operator, self.address, self.slot, value)
        assert read_slot(self.operator, self.address, self.slot) == value


@pytest.mark.parametrize("case", ["marker-cleared", "read-while-cleared"])
def test_tampered_batched_erasure_marker_is_caught(world: AuditWorld, case: str) -> None:
    b = Batches(world)
    alice = world.alice.address
    batch = b.anchor([batched(alice, Category.ECG), batched(alice, Category.LAB)])
    erased_at = b.erase(batch, 0)
    t = MarkerTamper(world, b.leaf(batch, 0))
    t.set(0)  # the record is readable again, without any event
    if case == "marker-cleared":
        found = audit(world).violations
        assert [v.rule for v in found] == ["state-matches-views"], found
        assert found[0].explanation.startswith(f"erasure marker of batched record 0x{batch.records[0].record_id.hex()}")
        assert "storage changed without an event" in found[0].explanation
        return
    block = b.read(batch, 0)  # the contract now allows it
    t.set(1)  # put storage back: the views look innocent
    found = audit(world).violations
    assert [v.rule for v in found] == ["access-consent"], found
    assert found[0].block == block and f"was erased at block {erased_at}" in found[0].explanation
