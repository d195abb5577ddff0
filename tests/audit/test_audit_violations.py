"""Each rule fires on a ledger where it was broken.

The contracts refuse every one of these actions, so the broken ledgers are crafted the way an insider with the
node's private port could: `anvil_setStorageAt` changes storage without an event (e.g. re-activates a revoked
consent or a suspended member), the refused action is then sent through the gateway as usual (the contract now
sees the tampered state and emits its normal event), and the storage is put back so the contracts' views look
innocent again. Only the replay of events, judged block by block, can tell.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from audit_world import AuditWorld, find_base_slot, grant, mapping_slot, read_slot, relay, write_slot
from eth_utils import keccak

from records import RecordClients
from records.cid import cid_to_text
from records.service import RecordService
from ledger.audit import AuditOptions, AuditResult, run_audit
from ledger.audit.violations import Violation
from ledger.consent import ConsentLedger
from ledger.errors import ContractRevert
from ledger.payments import HealthCardPayments
from ledger.records import NewRecord, RecordRegistry
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category, Purpose
from network.ipfs_client import IpfsClient
from tests.support.chain_clock import chain_now

STATUS_SHIFT = 24  # the status byte in a ConsentPolicy word and in a MemberRecord's first slot


def audit(world: AuditWorld, deep: bool = False) -> AuditResult:
    return run_audit(world.ledger, AuditOptions(deep=deep, ipfs_url=world.net.settings.ipfs_url))


def only(result: AuditResult, rule: str) -> list[Violation]:
    return [v for v in result.violations if v.rule == rule]


def with_byte(word: int, shift: int, value: int) -> int:
    return (word & ~(0xFF << shift)) | (value << shift)


class Tamper:
    """Slots of the world's contracts, located from known entries, written on the operator's private port."""

    def __init__(self, world: AuditWorld) -> None:
        self.world, self.operator = world, world.net.operator_w3
        d = world.ledger.deployments
        self.consents, self.registry, self.records, self.payments = (d.address_of(n) for n in ("ConsentLedger", "ConsortiumRegistry", "RecordRegistry", "HealthCardPayments"))

    def consent_slot(self, patient: str, grantee: str) -> int:
        packed = ConsentLedger(self.world.ledger).contract.functions.packedConsent(patient, grantee).call()
        base = find_base_slot(self.operator, self.consents, ["address", "address"], [patient, grantee], lambda word: word == packed != 0)
        return mapping_slot(["address", "address"], [patient, grantee], base)

    def member_slot(self, account: str) -> int:
        member = ConsortiumRegistry(self.world.ledger).member(account)
        assert member is not None
        base = find_base_slot(self.operator, self.registry, ["address"], [account], lambda word: word & 0xFFFF == int.from_bytes(member.country.encode(), "big") and word >> 32 & (2**64 - 1) != 0)
        return mapping_slot(["address"], [account], base)

    def set_byte(self, address: str, slot: int, shift: int, value: int) -> int:
        """Set one byte of a slot; returns the previous word (to restore)."""
        word = read_slot(self.operator, address, slot)
        write_slot(self.operator, address, slot, with_byte(word, shift, value))
        return word


# ---------------------------------------------------------------- events against storage


@pytest.mark.parametrize("target", ["consent", "member", "record", "card", "escrow", "token"])
def test_storage_changed_without_events_is_caught(world: AuditWorld, target: str) -> None:
    t, w = Tamper(world), world
    alice = w.alice.address
    if target == "consent":  # widen alice's consent to the clinic to every category
        slot, address = t.consent_slot(alice, w.clinic.address), t.consents
        write_slot(t.operator, address, slot, read_slot(t.operator, address, slot) | 0x7F)
    elif target == "member":  # quietly suspend the hospital
        t.set_byte(t.registry, t.member_slot(w.hospital.address), STATUS_SHIFT, 2)
    elif target == "record":  # mark a record erased without RecordErased
        record_id = w.alice_records[1]
        base = find_base_slot(t.operator, t.records, ["bytes32"], [record_id], lambda word: word & (2**160 - 1) == int(alice, 16))
        slot = mapping_slot(["bytes32"], [record_id], base)
        write_slot(t.operator, t.records, slot, read_slot(t.operator, t.records, slot) | 4 << 208)
    elif target == "card":  # reset alice's usage (slot 1 of the Card: limit | used | reserved | periodStart)
        base = find_base_slot(t.operator, t.payments, ["uint64"], [w.card_alice], lambda word: word & (2**160 - 1) == int(alice, 16))
        slot = mapping_slot(["uint64"], [w.card_alice], base) + 1
        word = read_slot(t.operator, t.payments, slot)
        write_slot(t.operator, t.payments, slot, word & ~((2**64 - 1) << 64))
    elif target == "escrow":  # skim escrow (slot 1 of the Programme: default limit | threshold | escrow)
        payer = int(w.payer.address, 16)
        base = find_base_slot(t.operator, t.payments, ["uint32"], [w.programme_id], lambda word: word & (2**160 - 1) == payer)
        slot = mapping_slot(["uint32"], [w.programme_id], base) + 1
        write_slot(t.operator, t.payments, slot, read_slot(t.operator, t.payments, slot) - (500 << 128))
    else:  # tokens appear in the payments contract's balance without EscrowFunded (ERC20._balances)
        payments = HealthCardPayments(w.ledger)
        held = payments.token_balance(t.payments)
        token = payments.token.address
        base = find_base_slot(t.operator, token, ["address"], [t.payments], lambda word: word == held != 0)
        write_slot(t.operator, token, mapping_slot(["address"], [t.payments], base), held + 500)
    found = audit(w).violations
    rule = "escrow" if target == "token" else "state-matches-views"
    assert found and all(v.rule == rule for v in found), found
    assert "storage changed without an event" in found[0].explanation
    expected = {"consent": "consent of", "member": "member Yinchuan", "record": "record 0x", "card": f"card {w.card_alice}", "escrow": f"programme {w.programme_id}", "token": "tokens held in escrow"}[target]
    assert any(v.explanation.startswith(expected) for v in found), found


# ---------------------------------------------------------------- refused actions crafted through tampering


def _revoke(world: AuditWorld, patient, grantee: str) -> None:  # type: ignore[no-untyped-def]
    relay(world.ledger, world.net, ConsentLedger(world.ledger).revoke_message(patient.address, grantee, chain_now(world.ledger.w3) + 600), patient)


def _anchor(world: AuditWorld, author, patient: str, category: Category) -> int:  # type: ignore[no-untyped-def]
    payload = os.urandom(64)
    digest = hashlib.sha256(payload).digest()
    record = NewRecord(record_id=os.urandom(32), patient=patient, category=category, content_hash=digest, cid=b"\x01\x55\x12\x20" + digest)
    return RecordRegistry(world.ledger).anchor(world.ledger.sender(author.account), record).block_number


def _read(world: AuditWorld, reader, record_id: bytes, purpose: Purpose) -> int:  # type: ignore[no-untyped-def]
    RecordRegistry(world.ledger).log_access(world.ledger.sender(reader.account), [record_id], purpose)
    return int(world.ledger.w3.eth.block_number)


@pytest.mark.parametrize("case", ["read-after-revocation", "anchor-after-revocation", "anchor-outside-consent", "emergency-read-under-treatment-consent"])
def test_refused_consent_uses_are_caught(world: AuditWorld, case: str) -> None:
    """Each action is one the contracts refuse; the tampered storage is restored right after it."""
    t, w = Tamper(world), world
    if case == "read-after-revocation":  # bob revoked the hospital at the end of the world
        slot = t.consent_slot(w.bob.address, w.hospital.address)
        saved = t.set_byte(t.consents, slot, STATUS_SHIFT, 1)  # Revoked -> Active, no event
        block = _read(w, w.hospital.identity, w.bob_record, Purpose.TREATMENT)
        address, expected = t.consents, ("consent-in-force", "after it was revoked at block")
    elif case == "anchor-after-revocation":
        _revoke(w, w.alice, w.clinic.address)
        slot = t.consent_slot(w.alice.address, w.clinic.address)
        saved = t.set_byte(t.consents, slot, STATUS_SHIFT, 1)
        block = _anchor(w, w.clinic.identity, w.alice.address, Category.ECG)
        address, expected = t.consents, ("consent-in-force", "after it was revoked at block")
    elif case == "anchor-outside-consent":  # alice's consent to the clinic covers ECG and LAB, not IMAGING
        slot = t.consent_slot(w.alice.address, w.clinic.address)
        saved = read_slot(t.operator, t.consents, slot)
        write_slot(t.operator, t.consents, slot, saved | Category.IMAGING.bit)
        block = _anchor(w, w.clinic.identity, w.alice.address, Category.IMAGING)
        address, expected = t.consents, ("record-authorship", "does not cover IMAGING for TREATMENT")
    else:  # alice's consent to the clinic is for TREATMENT: calling a read EMERGENCY does not widen it (issue 13, 5a)
        slot = t.consent_slot(w.alice.address, w.clinic.address)
        saved = read_slot(t.operator, t.consents, slot)
        write_slot(t.operator, t.consents, slot, saved | (int(Purpose.EMERGENCY) << 16))  # purposes at bits 16-23
        block = _read(w, w.clinic.identity, w.clinic_record, Purpose.EMERGENCY)
        address, expected = t.consents, ("access-consent", "does not cover that purpose")
    write_slot(t.operator, address, slot, saved)  # put storage back: the views look innocent

    found = audit(w).violations
    assert [v.rule for v in found] == [expected[0]], found
    assert found[0].block == block and expected[1] in found[0].explanation


def test_action_by_a_suspended_member_is_caught(world: AuditWorld) -> None:
    t, w = Tamper(world), world
    registry, ledger = ConsortiumRegistry(w.ledger), w.ledger
    registry.approve(ledger.sender(w.net.governors[1]), registry.propose_suspension(ledger.sender(w.net.governors[0]), w.clinic.address, "audit test"))
    slot = t.member_slot(w.clinic.address)
    saved = t.set_byte(t.registry, slot, STATUS_SHIFT, 1)  # Suspended -> Active, no event
    RecordRegistry(ledger).log_access(ledger.sender(w.clinic.identity.account), [w.clinic_record], Purpose.TREATMENT)
    write_slot(t.operator, t.registry, slot, saved)

    found = audit(w).violations
    assert [v.rule for v in found] == ["member-active"], found
    assert "Lokossa Clinic" in found[0].explanation and "is suspended since block" in found[0].explanation


def test_votes_below_quorum_are_caught(world: AuditWorld) -> None:
    """A suspended governor is quietly re-activated (status + GOVERNOR role), proposes an admission, one real
    governor approves: the contract counts 2 of 2 votes, the replay only 1."""
    t, w = Tamper(world), world
    registry, ledger, governors = ConsortiumRegistry(world.ledger), world.ledger, world.net.governors
    rogue = governors[2]
    registry.approve(ledger.sender(governors[1]), registry.propose_suspension(ledger.sender(governors[0]), rogue.address, "audit test"))
    member = t.member_slot(rogue.address)
    saved_member = t.set_byte(t.registry, member, STATUS_SHIFT, 1)
    role = mapping_slot(["address"], [rogue.address], mapping_slot(["bytes32"], [keccak(text="GOVERNOR_ROLE")], 0))  # AccessControl._roles at slot 0
    assert read_slot(t.operator, t.registry, mapping_slot(["address"], [governors[0].address], mapping_slot(["bytes32"], [keccak(text="GOVERNOR_ROLE")], 0))) == 1
    write_slot(t.operator, t.registry, role, 1)
    application = MemberApplication(address="0x" + os.urandom(20).hex(), name="Unvetted Lab", country="KZ", roles=["PROVIDER"], hpke_public_key=b"\x02" * 33)
    registry.approve(ledger.sender(governors[0]), registry.propose_admission(ledger.sender(rogue), application))
    write_slot(t.operator, t.registry, member, saved_member)
    write_slot(t.operator, t.registry, role, 0)

    result = audit(w)
    governance = only(result, "governance")
    assert len(governance) == 1 and "executed with 1 valid approvals; quorum is 2" in governance[0].explanation
    assert len(only(result, "member-active")) == 2  # the rogue's proposal and its own vote
    assert only(result, "event-consistency") and only(result, "state-matches-views")  # reported tally 2 vs 1, in events and storage


def test_claim_rules_are_caught(world: AuditWorld) -> None:
    """The claimant is not the evidence's author, and a claim is paid as confirmed although the patient never
    confirmed it (its flag set in storage). HealthCardPayments refuses a claim on a colleague's record, so for one
    transaction the record's word names the claimant as author (its author index); the audit is the second line."""
    t, w = Tamper(world), world
    payments, ledger = HealthCardPayments(w.ledger), w.ledger
    pay, clinic = ledger.sender(w.payer.account), ledger.sender(w.clinic.identity.account)
    payments.set_empanelled(pay, w.programme_id, w.clinic.address)
    colleagues = w.alice_records[2]  # the hospital's ECG of alice; the clinic holds alice's ECG consent
    with pytest.raises(ContractRevert) as refused:
        payments.submit_claim(clinic, w.card_alice, colleagues, "ECG-SECOND-READ", 5_000)
    assert refused.value.name == "EvidenceNotAuthoredByClaimant", refused.value
    clinic_index = RecordRegistry(w.ledger).author_index(w.clinic.address)  # the clinic anchored records of its own
    assert clinic_index != 0
    base = find_base_slot(t.operator, t.records, ["bytes32"], [colleagues], lambda word: word & (2**160 - 1) == int(w.alice.address, 16))
    slot = mapping_slot(["bytes32"], [colleagues], base)
    saved = read_slot(t.operator, t.records, slot)
    write_slot(t.operator, t.records, slot, (saved & ~((2**32 - 1) << 216)) | (clinic_index << 216))  # author index: bits 216-247
    foreign = payments.submit_claim(clinic, w.card_alice, colleagues, "ECG-SECOND-READ", 5_000)
    write_slot(t.operator, t.records, slot, saved)  # put the author back: the views look innocent

    unconfirmed = payments.submit_claim(ledger.sender(w.hospital.identity.account), w.card_alice, w.alice_records[0], "LAB-RECHECK", 10_000)
    base = find_base_slot(t.operator, t.payments, ["uint64"], [unconfirmed], lambda word: word & (2**160 - 1) == int(w.hospital.address, 16))
    slot = mapping_slot(["uint64"], [unconfirmed], base)
    t.set_byte(t.payments, slot, 232, 1)  # Claim slot 0: provider | cardId | status | confirmed
    payments.approve_claim(pay, unconfirmed)  # no override needed: the contract believes the patient confirmed

    claims = only(audit(w), "claims")
    assert len(claims) == 2, claims
    assert "the claimant is not the author of evidence record" in claims[0].explanation and f"claim {foreign}" in claims[0].explanation
    assert "without the patient's confirmation and without a recorded override" in claims[1].explanation


# ---------------------------------------------------------------- --deep: payloads in IPFS


def _block_file(repo: Path, payload: bytes) -> Path:
    """The IPFS node's file holding a single-block payload (found by content: no layout knowledge needed)."""
    for path in repo.rglob("*"):
        if path.is_file() and path.stat().st_size == len(payload) and path.read_bytes() == payload:
            return path
    raise AssertionError("block file not found")


def test_altered_or_removed_payloads_are_caught(world: AuditWorld, tmp_path: Path) -> None:
    w = world
    service = RecordService(w.hospital.identity, RecordClients.open(w.ledger, w.net.settings.ipfs_url), tmp_path / "hospital")
    grant(w.ledger, w.net, w.alice, w.hospital.address, sum(c.bit for c in Category), int(Purpose.TREATMENT))  # a fresh version: nonce-safe
    altered = service.put({**_lab(), "id": "altered"}, w.alice.address)
    removed = service.put({**_lab(), "id": "removed"}, w.alice.address)
    unpinned = service.put({**_lab(), "id": "unpinned"}, w.alice.address)
    clean = audit(w, deep=True)
    assert clean.violations == []
    with IpfsClient(w.net.settings.ipfs_url) as ipfs:
        ipfs.add(b"pinned, but no anchor or manifest names it")
    orphans = audit(w, deep=True).report["report"]["deep_figures"]["orphan_pins"]
    assert orphans == clean.report["report"]["deep_figures"]["orphan_pins"] + 1

    with IpfsClient(w.net.settings.ipfs_url) as ipfs:
        block = _block_file(w.net.settings.ipfs_repo, ipfs.cat(altered.cid))
        data = bytearray(block.read_bytes())
        data[-1] ^= 0x01  # one flipped bit in the ciphertext's tag
        block.write_bytes(bytes(data))
        ipfs.pin_rm(removed.cid)
        ipfs.gc()
        ipfs.pin_rm(unpinned.cid)  # still served, but the next repo/gc would delete it

    assert audit(w).violations == []  # the chain itself is clean
    found = only(audit(w, deep=True), "payload-integrity")
    assert len(found) == 3, found
    by_record = {v.subject: v.explanation for v in found}
    assert "missing from IPFS" in by_record["0x" + removed.record_id.hex()]
    assert "not pinned" in by_record["0x" + unpinned.record_id.hex()]
    assert cid_to_text(removed.anchor.cid) == removed.cid
    assert "0x" + altered.record_id.hex() in by_record


def _lab() -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "valueQuantity": {"value": 5.0, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }
