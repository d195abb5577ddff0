"""ledger.merkle: the Python StandardMerkleTree agrees with RecordRegistry byte for byte.

Pure properties run in Python; agreement with the contract uses its pure views (`recordDigest`, `batchLeaf`)
and `anchorBatch` through eth_call (it returns the root it rebuilt, so no transaction is needed); on-chain
proof checks anchor real batches inside the `chain` snapshot.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.logs import DISCARD

from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.errors import ContractRevert
from ledger.merkle import (
    BATCH_LEAF_TYPES,
    BatchRecord,
    RecordBatch,
    StandardMerkleTree,
    batch_leaf,
    hash_pair,
    leaf_hash,
    process_proof,
    record_digest,
    verify,
)
from ledger.registry import ConsortiumRegistry, MemberApplication
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.rpc import rpc
from tests.support.chain_clock import take_snapshot, revert_snapshot

FAST = settings(max_examples=20, deadline=None)
CLINIC = throwaway_account("merkle/clinic")
PATIENTS = [throwaway_account(f"merkle/patient-{index}") for index in range(3)]
ALL_CATEGORIES = 0xFFFF
TREATMENT = 1
MANIFEST_CID = b"\x01\x55\x12\x20" + b"\x07" * 32

bytes32 = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)


def sample_record(index: int, patient: str, category: int | None = None) -> BatchRecord:
    return BatchRecord(
        record_id=keccak(text=f"record-{index}"), patient=patient, category=index % 7 if category is None else category,
        content_hash=keccak(text=f"content-{index}"), cid=b"\x01\x55\x12\x20" + keccak(text=f"cid-{index}"),
    )


def sample_batch(size: int) -> RecordBatch:
    return RecordBatch([sample_record(index, PATIENTS[index % len(PATIENTS)].address) for index in range(size)])


# --------------------------------------------------------------------------------------------------
# Pure Python
# --------------------------------------------------------------------------------------------------


def test_small_trees_have_the_standard_shape() -> None:
    leaves = [(keccak(text=str(index)),) for index in range(3)]
    l0, l1, l2 = (leaf_hash(["bytes32"], value) for value in leaves)
    assert StandardMerkleTree(leaves[:1], ["bytes32"], sort_leaves=False).root == l0
    assert StandardMerkleTree(leaves[:2], ["bytes32"], sort_leaves=False).root == hash_pair(l0, l1)
    # Three leaves sit at array slots 4, 3, 2: the first two pair up, the third joins at the root.
    assert StandardMerkleTree(leaves, ["bytes32"], sort_leaves=False).root == hash_pair(hash_pair(l0, l1), l2)
    assert hash_pair(l0, l1) == hash_pair(l1, l0) == keccak(min(l0, l1) + max(l0, l1))


def test_leaf_is_double_hashed_abi_encoding() -> None:
    digest, patient, category = b"\x11" * 32, PATIENTS[0].address, 4
    encoded = digest + bytes(12) + bytes.fromhex(patient[2:]) + category.to_bytes(32, "big")
    assert batch_leaf(digest, patient, category) == keccak(keccak(encoded)) == leaf_hash(BATCH_LEAF_TYPES, (digest, patient, category))


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 16, 17, 33])
@pytest.mark.parametrize("sort_leaves", [False, True])
def test_every_proof_verifies_and_tampering_fails(size: int, sort_leaves: bool) -> None:
    values = [(keccak(text=f"v{index}"), PATIENTS[0].address, index % 16) for index in range(size)]
    tree = StandardMerkleTree.of(values, BATCH_LEAF_TYPES, sort_leaves=sort_leaves)
    for index in range(size):
        leaf, proof = tree.leaf(index), tree.proof(index)
        assert leaf == leaf_hash(BATCH_LEAF_TYPES, values[index])
        assert verify(tree.root, leaf, proof)
        assert len(proof) <= size.bit_length()
        assert not verify(tree.root, keccak(leaf), proof)
        if proof:
            assert not verify(tree.root, leaf, [keccak(proof[0]), *proof[1:]])
            assert process_proof(leaf, proof[:-1]) != tree.root


def test_sorted_tree_is_independent_of_input_order_and_unsorted_is_not() -> None:
    values = [(keccak(text=f"v{index}"),) for index in range(6)]
    shuffled = values[::-1]
    assert StandardMerkleTree(values, ["bytes32"]).root == StandardMerkleTree(shuffled, ["bytes32"]).root
    assert StandardMerkleTree(values, ["bytes32"], sort_leaves=False).root != StandardMerkleTree(shuffled, ["bytes32"], sort_leaves=False).root


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        StandardMerkleTree([], ["bytes32"])
    tree = StandardMerkleTree([(b"\x01" * 32,)], ["bytes32"])
    with pytest.raises(IndexError, match="out of range"):
        tree.proof(1)
    with pytest.raises(ValueError, match="32 bytes"):
        verify(b"\x00" * 31, tree.root, [])
    with pytest.raises(ValueError, match="recordId"):
        record_digest(b"\x01" * 31, b"\x02" * 32, b"cid")
    with pytest.raises(ValueError, match="category code"):
        sample_record(0, PATIENTS[0].address, category=16)
    with pytest.raises(ValueError, match="cid"):
        BatchRecord(record_id=b"\x01" * 32, patient=PATIENTS[0].address, category=0, content_hash=b"\x02" * 32, cid=b"")


# --------------------------------------------------------------------------------------------------
# Against the contract
# --------------------------------------------------------------------------------------------------


@dataclass
class Batches:
    ledger: Ledger
    records: Contract

    def root_of(self, entries: list[tuple[bytes, str, int]]) -> bytes:
        """The root anchorBatch rebuilds, by eth_call as the clinic (nothing is mined)."""
        return bytes(self.records.functions.anchorBatch(entries, MANIFEST_CID).call({"from": CLINIC.address}))


@pytest.fixture(scope="module")
def batches(local_network: RunningNetwork) -> Iterator[Batches]:
    """A PROVIDER clinic holding all-category TREATMENT consents from three patients, for this module only."""
    gateway, operator = local_network.settings.gateway_url, local_network.operator_w3
    # Let the gateway fund the governors before the snapshot (an evm_revert to an unchanged head would
    # otherwise leave it believing balances exist that the revert removed).
    rpc(gateway, "eth_estimateGas", [{"from": local_network.governors[0].address, "to": local_network.governors[0].address}])
    snapshot = take_snapshot(operator)
    try:
        ledger = local_network.ledger()
        registry = ConsortiumRegistry(ledger)
        application = MemberApplication(address=CLINIC.address, name="Merkle Clinic", country="BJ", roles=["PROVIDER"], hpke_public_key=b"\x02" * 32)
        proposal = registry.propose_admission(ledger.sender(local_network.governors[0]), application)
        assert registry.approve(ledger.sender(local_network.governors[1]), proposal)
        consents = ConsentLedger(ledger)
        clinic = ledger.sender(CLINIC)
        now = int(ledger.w3.eth.get_block("latest")["timestamp"])
        terms = ConsentTerms(grantee=CLINIC.address, categories=ALL_CATEGORIES, purposes=TREATMENT, valid_from=0, valid_until=now + 30 * 86400)
        for patient in PATIENTS:
            message = consents.grant_message(patient.address, terms, deadline=now + 3600)
            consents.relay(clinic, message, message.sign(patient))
        yield Batches(ledger, ledger.contract("RecordRegistry"))
    finally:
        revert_snapshot(operator, snapshot)


@FAST
@given(record_id=bytes32, content_hash=bytes32, cid=st.binary(max_size=200))
def test_record_digest_matches_the_contract(batches: Batches, record_id: bytes, content_hash: bytes, cid: bytes) -> None:
    assert record_digest(record_id, content_hash, cid) == bytes(batches.records.functions.recordDigest(record_id, content_hash, cid).call())


@FAST
@given(digest=bytes32, patient=addresses, category=st.integers(0, 255))
def test_batch_leaf_matches_the_contract(batches: Batches, digest: bytes, patient: str, category: int) -> None:
    assert batch_leaf(digest, patient, category) == bytes(batches.records.functions.batchLeaf((digest, patient, category)).call())


@pytest.mark.parametrize("size", [1, 2, 3, 16, 255])
def test_root_matches_anchor_batch(batches: Batches, size: int) -> None:
    batch = sample_batch(size)
    assert batches.root_of(batch.entries()) == batch.root


@FAST
@given(
    st.lists(
        st.tuples(bytes32, bytes32, st.binary(min_size=1, max_size=64), st.integers(0, len(PATIENTS) - 1), st.integers(0, 15)),
        min_size=1, max_size=12,
    )
)
def test_random_small_batches_match_anchor_batch(batches: Batches, rows: list[tuple[bytes, bytes, bytes, int, int]]) -> None:
    records = [BatchRecord(record_id=rid, patient=PATIENTS[p].address, category=c, content_hash=h, cid=cid) for rid, h, cid, p, c in rows]
    batch = RecordBatch(records)
    assert batches.root_of(batch.entries()) == batch.root


@pytest.mark.parametrize("size", [3, 16, 255])
def test_proofs_verify_on_chain(batches: Batches, chain: RunningNetwork, size: int) -> None:
    batch = sample_batch(size)
    contract = batches.records
    verify_fn = contract.functions.verifyBatchedRecord
    assert not verify_fn(batch.root, batch.records[0].as_tuple(), batch.proof(0)).call(), "an unanchored root proves nothing"
    receipt = batches.ledger.sender(CLINIC).transact(contract.functions.anchorBatch(batch.entries(), MANIFEST_CID))
    (event,) = contract.events.RecordBatchAnchored().process_receipt(receipt, errors=DISCARD)
    assert bytes(event["args"]["root"]) == batch.root

    # 255 proofs in a few batched round trips; every one must hold.
    w3 = batches.ledger.w3
    indices = list(range(size))
    for start in range(0, size, 100):
        with w3.batch_requests() as requests:
            for index in indices[start : start + 100]:
                requests.add(verify_fn(batch.root, batch.records[index].as_tuple(), batch.proof(index)))
            assert all(requests.execute())

    # Wrong proofs, and a record moved to another leaf's proof, are refused by the chain as by Python.
    rng = random.Random(size)
    for index in rng.sample(indices, min(size, 3)):
        record, proof = batch.records[index], batch.proof(index)
        other = (index + 1) % size
        tampered = BatchRecord(record.record_id, record.patient, record.category, record.content_hash, record.cid + b"\x00")
        for candidate, candidate_proof in ((tampered, proof), (record, [keccak(p) for p in proof])):
            assert not verify_fn(batch.root, candidate.as_tuple(), candidate_proof).call()
            assert not verify(batch.root, batch_leaf(candidate.digest, candidate.patient, candidate.category), candidate_proof)
        if other != index and batch.proof(other) != proof:
            assert not verify_fn(batch.root, record.as_tuple(), batch.proof(other)).call()


def test_anchor_batch_refuses_an_out_of_range_category_the_tree_could_hold(batches: Batches) -> None:
    # batchLeaf takes any uint8; anchorBatch only real category codes (BatchRecord refuses them up front).
    entries = sample_batch(2).entries()
    entries[1] = (entries[1][0], entries[1][1], 16)
    with pytest.raises(ContractRevert) as info:
        batches.ledger.sender(CLINIC).call(batches.records.functions.anchorBatch(entries, MANIFEST_CID))
    assert info.value.name == "InvalidCategory" and info.value.args_by_name["category"] == 16
