"""RecordRegistry.logAccessBatch: the access log's group commit (issue 11).

One transaction logs many reads, each entry `recordId ‖ purpose`. An entry the contract refuses (unknown or erased
record, bad purpose, no covering consent) is skipped and nothing is logged for it; the batch never reverts for one
bad entry. Accepted entries are logged as `RecordsAccessed` events exactly as `recordsAccessed` logs them, so the
patient's access log and the auditor's replay read them unchanged. The ledger wrapper matches every entry to its
event (or to its refusal) from the receipt alone.

Members act through the permissioning gateway; the non-member's call goes to the operator's private port.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from bench.gas import access_log_floor
from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.errors import ContractRevert
from ledger.records import NewRecord, RecordRegistry, pack_access_entries
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.chain_clock import revert_snapshot, take_snapshot
from tests.support.rpc import rpc

CLINIC = throwaway_account("access-batch/clinic")  # PROVIDER: anchors the records
LAB = throwaway_account("access-batch/lab")  # PROVIDER: the reader
RESCUE = throwaway_account("access-batch/rescue")  # EMERGENCY role: may read without consent for EMERGENCY
OUTSIDER = throwaway_account("access-batch/outsider")  # not a member
ZERO32 = b"\x00" * 32
ECG, LABS = int(Category.ECG), int(Category.LAB)
TREATMENT, RESEARCH, EMERGENCY = int(Purpose.TREATMENT), int(Purpose.RESEARCH), int(Purpose.EMERGENCY)


@pytest.fixture(scope="module")
def members(local_network: RunningNetwork) -> Iterator[None]:
    """Admit this module's members once (snapshot/revert around the whole module)."""
    operator = local_network.operator_w3
    snapshot = take_snapshot(operator)
    try:
        ledger = local_network.ledger()
        registry = ConsortiumRegistry(ledger)
        proposer, approver = ledger.sender(local_network.governors[0]), ledger.sender(local_network.governors[1])
        for account, role in ((CLINIC, "PROVIDER"), (LAB, "PROVIDER"), (RESCUE, "EMERGENCY")):
            application = MemberApplication(address=account.address, name=f"Member {account.address[:8]}", country="KZ", roles=[role], hpke_public_key=b"\x02" * 32)
            assert registry.approve(approver, registry.propose_admission(proposer, application))
            rpc(local_network.settings.gateway_url, "eth_estimateGas", [{"from": account.address, "to": account.address}])  # gateway funds it
        yield
    finally:
        revert_snapshot(operator, snapshot)


@dataclass
class World:
    net: RunningNetwork
    ledger: Ledger
    consents: ConsentLedger
    records: RecordRegistry

    @property
    def fns(self) -> Any:
        return self.records.contract.functions

    @property
    def contract(self) -> Contract:
        return self.records.contract

    def now(self) -> int:
        return int(self.ledger.w3.eth.get_block("latest")["timestamp"])

    def sender(self, account: LocalAccount) -> TransactionSender:
        return self.ledger.sender(account)

    def grant(self, patient: LocalAccount, grantee: LocalAccount, categories: int = 1 << ECG, purposes: int = TREATMENT, **window: int) -> bytes:
        now = self.now()
        terms = ConsentTerms(grantee=grantee.address, categories=categories, purposes=purposes, **({"valid_from": now - 60, "valid_until": now + 3600} | window))
        message = self.consents.grant_message(patient.address, terms, deadline=now + 600)
        consent_id = self.consents.relay(self.sender(CLINIC), message, message.sign(patient))
        assert consent_id is not None
        return consent_id

    def revoke(self, patient: LocalAccount, grantee: LocalAccount) -> None:
        message = self.consents.revoke_message(patient.address, grantee.address, deadline=self.now() + 600)
        self.consents.relay(self.sender(CLINIC), message, message.sign(patient))

    def anchor(self, patient: LocalAccount, category: int = ECG) -> bytes:
        """A record of `patient` anchored by the clinic (which needs the patient's consent)."""
        record = NewRecord(record_id=os.urandom(32), patient=patient.address, category=category, content_hash=os.urandom(32), cid=b"\x01\x55\x12\x20" + os.urandom(32))
        self.records.anchor(self.sender(CLINIC), record)
        return record.record_id

    def direct(self, account: LocalAccount) -> TransactionSender:
        """A sender on the private port: the gateway admits only members' transactions."""
        self.net.operator_w3.provider.make_request("anvil_setBalance", [account.address, hex(10**18)])  # type: ignore[arg-type]
        return TransactionSender(self.net.operator_w3, account, self.ledger.decoder)

    def batch(self, reader: LocalAccount, entries: list[tuple[bytes, int]]) -> TxReceipt:
        return self.sender(reader).transact(self.fns.logAccessBatch(pack_access_entries(entries)))

    def events(self, receipt: TxReceipt) -> list[dict[str, Any]]:
        found = self.contract.events.RecordsAccessed().process_receipt(receipt, errors=DISCARD)
        return [{k: (list(map(bytes, v)) if k == "recordIds" else bytes(v) if isinstance(v, bytes) else v) for k, v in e["args"].items()} for e in found]


@pytest.fixture
def world(members: None, chain: RunningNetwork) -> World:
    ledger = chain.ledger()
    return World(chain, ledger, ConsentLedger(ledger), RecordRegistry(ledger))


def patient_of(label: str) -> LocalAccount:
    return throwaway_account(f"access-batch/patient/{label}")


def consent_id(patient: str, grantee: str, version: int) -> bytes:
    return keccak(encode(["address", "address", "uint32"], [patient, grantee, version]))


def test_refused_entries_are_skipped_and_the_rest_is_logged_in_order(world: World) -> None:
    alice, bob, carol = patient_of("alice"), patient_of("bob"), patient_of("carol")
    for p in (alice, bob, carol):
        world.grant(p, CLINIC, categories=(1 << ECG) | (1 << LABS))
    a1, a2, b1, c1 = world.anchor(alice), world.anchor(alice), world.anchor(bob), world.anchor(carol)
    a_lab = world.anchor(alice, LABS)
    erased = world.anchor(alice)
    world.direct(alice).transact(world.fns.requestErasure(erased))  # the patient's own call
    ca = world.grant(alice, LAB, purposes=TREATMENT | RESEARCH)  # ECG only: a_lab is not covered
    cb = world.grant(bob, LAB)
    world.grant(carol, LAB)
    world.revoke(carol, LAB)
    unknown = keccak(text="never anchored")

    entries = [
        (a1, TREATMENT), (a2, TREATMENT), (a_lab, TREATMENT), (a1, RESEARCH), (unknown, TREATMENT), (b1, TREATMENT),
        (erased, TREATMENT), (c1, TREATMENT), (b1, 3), (b1, 0), (b1, 32), (b1, EMERGENCY), (a1, TREATMENT),
    ]
    receipt = world.batch(LAB, entries)
    assert receipt["status"] == 1
    base = {"reader": LAB.address}
    assert world.events(receipt) == [
        base | {"patient": alice.address, "consentId": ca, "purpose": TREATMENT, "recordIds": [a1, a2]},
        base | {"patient": alice.address, "consentId": ca, "purpose": RESEARCH, "recordIds": [a1]},
        base | {"patient": bob.address, "consentId": cb, "purpose": TREATMENT, "recordIds": [b1]},
        base | {"patient": alice.address, "consentId": ca, "purpose": TREATMENT, "recordIds": [a1]},
    ]
    # The wrapper tells each entry's fate from the receipt alone.
    result = world.records.access_batch_result(receipt, entries)
    assert [access is not None for access in result.logged] == [True, True, False, True, False, True, False, False, False, False, False, False, True]
    assert result.logged[5] is not None and result.logged[5].patient == bob.address and result.logged[5].consent_id == cb
    assert world.fns.logAccessBatch(pack_access_entries(entries)).call({"from": LAB.address}) == 5
    # The same refusals revert the all-or-nothing paths.
    for record_id, purpose, error in ((a_lab, TREATMENT, "NoConsent"), (erased, TREATMENT, "RecordIsErased"), (unknown, TREATMENT, "UnknownRecord"), (c1, TREATMENT, "NoConsent")):
        with pytest.raises(ContractRevert) as info:
            world.sender(LAB).transact(world.fns.recordAccessed(record_id, purpose))
        assert info.value.name == error


def test_a_batch_of_only_refused_entries_logs_nothing_and_does_not_revert(world: World) -> None:
    patient = patient_of("nothing")
    world.grant(patient, CLINIC)
    record = world.anchor(patient)
    receipt = world.batch(LAB, [(record, TREATMENT), (record, EMERGENCY)])
    assert receipt["status"] == 1 and world.events(receipt) == []
    assert world.records.access_batch_result(receipt, [(record, TREATMENT), (record, EMERGENCY)]).logged == [None, None]


def test_emergency_entries_need_a_consent_that_covers_emergency(world: World) -> None:
    """Issue 13, 5a: neither the EMERGENCY role nor a TREATMENT consent lets an EMERGENCY entry through."""
    alice, bob = patient_of("er-alice"), patient_of("er-bob")
    world.grant(alice, CLINIC)
    world.grant(bob, CLINIC)
    consented = world.grant(bob, RESCUE, purposes=EMERGENCY)
    a1, b1 = world.anchor(alice), world.anchor(bob)
    receipt = world.batch(RESCUE, [(a1, EMERGENCY), (b1, EMERGENCY), (a1, TREATMENT), (a1, EMERGENCY)])
    assert [(e["patient"], e["consentId"], e["purpose"], e["recordIds"]) for e in world.events(receipt)] == [
        (bob.address, consented, EMERGENCY, [b1]),
    ]
    # The clinic's TREATMENT consent logs its TREATMENT entry and refuses the same record called EMERGENCY.
    receipt = world.batch(CLINIC, [(a1, EMERGENCY), (a1, TREATMENT), (b1, EMERGENCY)])
    assert [(e["patient"], e["purpose"], e["recordIds"]) for e in world.events(receipt)] == [(alice.address, TREATMENT, [a1])]


def test_a_revocation_mined_before_the_batch_refuses_that_entry_only(world: World) -> None:
    kept, revoked = patient_of("kept"), patient_of("revoked")
    world.grant(kept, CLINIC)
    world.grant(revoked, CLINIC)
    k1, r1 = world.anchor(kept), world.anchor(revoked)
    ck = world.grant(kept, LAB)
    world.grant(revoked, LAB)
    entries = [(k1, TREATMENT), (r1, TREATMENT)]
    assert world.fns.logAccessBatch(pack_access_entries(entries)).call({"from": LAB.address}) == 2
    world.revoke(revoked, LAB)
    receipt = world.batch(LAB, entries)
    assert world.events(receipt) == [{"patient": kept.address, "reader": LAB.address, "consentId": ck, "purpose": TREATMENT, "recordIds": [k1]}]
    assert [a is not None for a in world.records.access_batch_result(receipt, entries).logged] == [True, False]


def test_the_batch_reverts_only_as_a_whole_for_a_non_member_or_a_malformed_batch(world: World) -> None:
    patient = patient_of("malformed")
    world.grant(patient, CLINIC)
    record = world.anchor(patient)
    lab = world.sender(LAB)
    for data, length in ((b"", 0), (pack_access_entries([(record, TREATMENT)])[:-1], 32), (pack_access_entries([(record, TREATMENT)]) + b"\x01", 34)):
        with pytest.raises(ContractRevert) as info:
            lab.transact(world.fns.logAccessBatch(data))
        assert info.value.name == "InvalidBatchSize" and info.value.args_by_name["size"] == length
    too_many = pack_access_entries([(record, TREATMENT)] * 1025)
    with pytest.raises(ContractRevert) as info:
        lab.transact(world.fns.logAccessBatch(too_many))
    assert info.value.name == "InvalidBatchSize"
    with pytest.raises(ContractRevert) as info:
        world.direct(OUTSIDER).transact(world.fns.logAccessBatch(pack_access_entries([(record, TREATMENT)])))
    assert info.value.name == "NotActiveMember"
    with pytest.raises(ValueError):
        pack_access_entries([(record[:31], TREATMENT)])


def test_a_batch_logs_the_same_entries_as_single_reads(world: World) -> None:
    """What the patient's access log and the auditor read: one id per read, same patient, consent and purpose."""
    patient = patient_of("same-entries")
    world.grant(patient, CLINIC)
    records = [world.anchor(patient) for _ in range(3)]
    cid = world.grant(patient, LAB)
    singles = [world.events(world.sender(LAB).transact(world.fns.recordAccessed(r, TREATMENT)))[0] for r in records]
    (batched,) = world.events(world.batch(LAB, [(r, TREATMENT) for r in records]))
    flatten = lambda events: [(e["patient"], e["reader"], e["consentId"], e["purpose"], rid) for e in events for rid in e["recordIds"]]
    assert flatten(singles) == flatten([batched])
    assert batched["consentId"] == cid == consent_id(patient.address, LAB.address, 1)
    assert [a.record_ids for a in world.records.accesses_of(patient.address)] == [[r] for r in records] + [records]


def test_gas_per_entry_in_a_batch_of_100_stays_near_the_floor(world: World) -> None:
    patient = patient_of("gas")
    world.grant(patient, CLINIC)
    clinic = world.sender(CLINIC)
    ids = [os.urandom(32) for _ in range(100)]
    clinic.transact_many([world.fns.anchorRecord((r, patient.address, ECG, os.urandom(32), b"\x01\x55\x12\x20" + os.urandom(32), ZERO32)) for r in ids])
    world.grant(patient, LAB)
    entries = [(r, TREATMENT) for r in ids]
    batch = world.batch(LAB, entries)["gasUsed"] / 100
    all_or_nothing = world.sender(LAB).transact(world.fns.recordsAccessed(ids, TREATMENT))["gasUsed"] / 100
    floor = access_log_floor(pack_access_entries(entries)[:33], 100)["total"]
    assert floor < batch <= floor + 1_000, (batch, floor)
    assert batch < all_or_nothing, (batch, all_or_nothing)
