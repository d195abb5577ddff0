"""The audit replays DelegateAccessLog: a delegate read logged by a key-holding member for the patient's delegate at
that block passes and is shown in the report (JSON and HTML); a read the contract was tricked into logging for someone
who was never the patient's delegate (the delegate slot rewritten on the node's private port, no DelegateSet event,
then put back) is found at its block."""

from __future__ import annotations

from audit_world import AuditWorld, find_base_slot, mapping_slot, read_slot, write_slot

from ledger.audit import AuditOptions, AuditResult, run_audit
from ledger.audit.html import render_html
from ledger.delegate_reads import DelegateAccessLog
from ledger.records import RecordRegistry


def audit(world: AuditWorld) -> AuditResult:
    return run_audit(world.ledger, AuditOptions())


def _own_record(world: AuditWorld) -> bytes:
    """One of alice's records anchored on its own by the hospital (delegate reads name records by id)."""
    records = RecordRegistry(world.ledger)
    for record_id in world.alice_records[::-1]:
        state = records.state(record_id)
        if state is not None and not state.erased and state.author == world.hospital.address:
            return record_id
    raise AssertionError("the audit world has no live record of alice anchored on its own by the hospital")


def test_delegate_read_by_the_current_delegate_passes_and_is_reported(world: AuditWorld) -> None:
    record_id = _own_record(world)
    read = DelegateAccessLog(world.ledger).log_reads(world.ledger.sender(world.hospital.identity.account), world.carer.address, [record_id])

    result = audit(world)
    assert [v for v in result.violations if v.rule == "delegate-read"] == []
    section = result.report["report"]["flows"]["delegate"]
    assert section["delegate_reads"] == 1 and section["records"] == 1
    assert [(i["address"], i["delegate_reads"]) for i in section["institutions"]] == [(world.hospital.address, 1)]
    latest = section["latest"][-1]
    assert (latest["patient"], latest["delegate"], latest["transaction"], latest["block"]) == (world.alice.address, world.carer.address, read.transaction_hash.lower(), read.block_number)
    assert latest["record_ids"] == ["0x" + record_id.hex()]
    page = render_html(result.report)
    assert "Reads by patients&#x27; delegates" in page and read.transaction_hash.lower() in page


def test_delegate_read_for_someone_not_the_delegate_is_caught(world: AuditWorld) -> None:
    record_id = _own_record(world)
    operator, consents = world.net.operator_w3, world.ledger.deployments.address_of("ConsentLedger")
    carer_word = int(world.carer.address, 16)
    base = find_base_slot(operator, consents, ["address"], [world.alice.address], lambda word: word == carer_word)
    slot = mapping_slot(["address"], [world.alice.address], base)
    assert read_slot(operator, consents, slot) == carer_word
    write_slot(operator, consents, slot, int(world.bob.address, 16))  # bob "is" alice's delegate: no event says so
    read = DelegateAccessLog(world.ledger).log_reads(world.ledger.sender(world.hospital.identity.account), world.bob.address, [record_id])
    write_slot(operator, consents, slot, carer_word)  # put back: the views look innocent

    found = audit(world).violations
    assert [v.rule for v in found] == ["delegate-read"], found
    assert found[0].block == read.block_number and world.bob.address in found[0].explanation and world.carer.address in found[0].explanation
