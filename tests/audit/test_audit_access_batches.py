"""The auditor's replay and the patient's access log see group-committed reads exactly as single reads (issue 11).

`logAccessBatch` logs accepted entries as the same `RecordsAccessed` events the single-read paths emit and skips
refused ones; so the replay counts one read per accepted entry, flags nothing, and the access log a patient reads
(`RecordRegistry.accesses_of`, behind `GET /v1/patients/{a}/access-log`) lists each read once.
"""

from __future__ import annotations

from audit_world import AuditWorld

from records import AccessDeniedError, RecordRead
from ledger.audit import AuditOptions, AuditResult, run_audit
from ledger.records import RecordRegistry
from ledger.vocabulary import Purpose

TREATMENT, PAYMENT = Purpose.TREATMENT, Purpose.PAYMENT


def audit(world: AuditWorld) -> AuditResult:
    return run_audit(world.ledger, AuditOptions())


def totals(result: AuditResult) -> dict[str, int]:
    figures = result.report["report"]["totals"]
    return {key: figures[key] for key in ("access_events", "records_read", "emergency_reads", "violations")}


def logged_ids(world: AuditWorld, patient: str) -> list[bytes]:
    return [rid for access in RecordRegistry(world.ledger).accesses_of(patient) for rid in access.record_ids]


def test_a_batch_with_a_refused_entry_replays_clean_and_counts_only_what_was_logged(world: AuditWorld) -> None:
    before = totals(audit(world))
    alice_before, bob_before = logged_ids(world, world.alice.address), logged_ids(world, world.bob.address)
    second, ecg = world.alice_records[1], world.alice_records[2]
    # bob revoked his consent to the hospital at the end of the world's build: both his entries are refused.
    entries = [(second, TREATMENT), (ecg, PAYMENT), (world.bob_record, PAYMENT), (world.bob_record, TREATMENT), (ecg, TREATMENT)]
    hospital = world.ledger.sender(world.hospital.identity.account)
    result = RecordRegistry(world.ledger).log_access_batch(hospital, entries)
    assert [access is not None for access in result.logged] == [True, True, False, False, True]

    after = audit(world)
    assert after.violations == [], [v.as_json() for v in after.violations]
    grown = totals(after)
    assert grown["records_read"] - before["records_read"] == 3
    assert grown["access_events"] - before["access_events"] == len({id(a) for a in result.logged if a is not None})
    assert grown["emergency_reads"] == before["emergency_reads"] and grown["violations"] == 0
    assert logged_ids(world, world.alice.address) == alice_before + [second, ecg, ecg]
    assert logged_ids(world, world.bob.address) == bob_before


def access_transactions(world: AuditWorld) -> set[str]:
    registry = RecordRegistry(world.ledger)
    return {access.transaction_hash for patient in (world.alice.address, world.bob.address) for access in registry.accesses_of(patient)}


def test_group_committed_reads_through_the_record_service_replay_clean(world: AuditWorld) -> None:
    service = world.hospital
    service.sender = world.ledger.sender(service.identity.account)  # the snapshot revert left its cached nonce stale
    second, ecg = world.alice_records[1], world.alice_records[2]
    before, known = totals(audit(world)), access_transactions(world)
    # The hospital authored bob's record, so it asks the chain, which refuses it (bob revoked): only that read fails.
    reads = service.get_many([(second, TREATMENT), (world.bob_record, TREATMENT), (ecg, TREATMENT)])
    assert isinstance(reads[0], RecordRead) and isinstance(reads[2], RecordRead) and reads[0].access_logged, reads
    assert isinstance(reads[1], AccessDeniedError) and "NoConsent" in str(reads[1]), reads[1]
    assert len(access_transactions(world) - known) == 1  # the three reads went to the chain as one transaction
    after = audit(world)
    assert after.violations == [], [v.as_json() for v in after.violations]
    assert totals(after)["records_read"] - before["records_read"] == 2
