"""Writes in groups (issue 11, 3a): concurrent puts of one institution are anchored together in one `anchorBatch`.

Each caller still gets its own 201 only after the receipt that anchored its record, idempotent as before; the
verification route gives a batched record's Merkle proof (checked here and by the contract); a batched record is
read through the API (its access logged by `batchedRecordAccessed`); an entry the contract refuses fails only its
own put; and the auditor, fetching every manifest from IPFS, finds the batches and the reads sound.

A slow chain is simulated by the batcher's submit hook: the first anchor's transaction waits there before its
receipt is read, so the puts arriving meanwhile pile up behind it instead of each finding the batcher idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
from api_world import ApiWorld, assert_problem, ecg_observation, lab_observation

from records import RecordService
from records.cid import cid_to_bytes
from ledger.audit import AuditOptions, run_audit
from ledger.merkle import RecordBatch, batch_leaf, parse_manifest, verify
from ledger.records import RecordRegistry


def record_service(api: ApiWorld) -> RecordService:
    return api.app.state.services.record_service  # type: ignore[no-any-return]


def wait_until(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout  # a bound on waiting, not a measurement
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextmanager
def slow_first_anchor(service: RecordService, max_in_flight: int | None = None) -> Iterator[threading.Event]:
    """Hold every anchor transaction between its send and its receipt until the event is set."""
    release = threading.Event()
    batcher = service.anchors
    saved = batcher.max_in_flight
    batcher.on_submitted = lambda tx_hash, records: release.wait(60)
    if max_in_flight is not None:
        batcher.max_in_flight = max_in_flight
    try:
        yield release
    finally:
        release.set()
        batcher.on_submitted = None
        batcher.max_in_flight = saved


def put(api: ApiWorld, patient: str, resource: dict[str, Any]) -> httpx.Response:
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.tokens['write']}"}, timeout=120) as client:
        return client.post(f"/v1/patients/{patient}/records", json=resource)


def test_concurrent_puts_share_an_anchor_batch_and_each_gets_its_receipt(api: ApiWorld) -> None:
    first, _ = api.patient_with_record(ecg_observation(seed=31))
    second, _ = api.patient_with_record(ecg_observation(seed=32))
    service = record_service(api)
    before = service.anchors.stats()
    start_block = api.net.w3.eth.block_number
    bodies = [(first if k % 2 else second, ecg_observation(seed=400 + k)) for k in range(8)]
    with slow_first_anchor(service) as release, ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = [pool.submit(put, api, patient.address, body) for patient, body in bodies]
        wait_until(lambda: service.anchors.stats()["records"] == len(bodies), "every put to reach the batcher")
        release.set()
        uploaded = [answer.result() for answer in answers]
    assert [answer.status_code for answer in uploaded] == [201] * len(bodies), [a.text[:300] for a in uploaded]
    records = [answer.json()[0] for answer in uploaded]
    assert all(record["created"] for record in records)
    transactions = {record["transaction_hash"] for record in records}
    assert len(transactions) < len(bodies), transactions  # grouped
    after = service.anchors.stats()
    assert after["batches"] > before["batches"] and after["batch_refusals"] == before["batch_refusals"]

    w3 = api.net.w3
    registry = RecordRegistry(api.net.ledger())
    batches = {b.transaction_hash: b for b in registry.batches(from_block=start_block)}
    batched = [record for record in records if record["transaction_hash"] in batches]
    assert len(batched) >= 2
    for record in records:  # every 201 is backed by its mined receipt
        receipt = w3.eth.get_transaction_receipt(record["transaction_hash"])
        assert receipt["status"] == 1 and receipt["blockNumber"] == record["block_number"]

    reader = api.as_scope("read")
    for record in batched:
        anchored = batches[record["transaction_hash"]]
        check = reader.get(f"/v1/records/{record['record_id']}/verification")
        assert check.status_code == 200, check.text
        verdict = check.json()
        merkle = verdict["merkle"]
        assert merkle is not None and merkle["proof_ok"] and merkle["root"] == "0x" + anchored.root.hex() and merkle["count"] == anchored.count
        assert all(verdict[key] for key in ("anchored", "payload_available", "sha256_ok", "cid_ok")) and not verdict["erased"]
        # The proof checks out independently: leaf recomputed from the manifest in IPFS, walked up to the root.
        manifest = parse_manifest(service.clients.ipfs.cat(merkle["manifest_cid"]), cid_to_bytes)
        assert RecordBatch(manifest).root == anchored.root
        entry = manifest[merkle["index"]]
        assert "0x" + entry.record_id.hex() == record["record_id"] and "0x" + entry.content_hash.hex() == record["content_hash"]
        leaf = batch_leaf(entry.digest, entry.patient, entry.category)
        assert "0x" + leaf.hex() == merkle["leaf"] and verify(anchored.root, leaf, [bytes.fromhex(node[2:]) for node in merkle["proof"]])

    # A batched record reads back through the API; its access is logged on chain (batchedRecordAccessed).
    record = batched[0]
    answer = reader.get(f"/v1/records/{record['record_id']}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["valueSampledData"]["data"] in {body["valueSampledData"]["data"] for _, body in bodies}
    patient = next(p for p, body in bodies if body["valueSampledData"]["data"] == answer.json()["valueSampledData"]["data"])
    accesses = [a for a in registry.accesses_of(patient.address) if a.record_ids == [bytes.fromhex(record["record_id"][2:])]]
    assert len(accesses) == 1 and accesses[0].reader == api.hospital.address
    function = w3.eth.get_transaction(accesses[0].transaction_hash)
    assert registry.contract.get_function_by_selector(bytes(function["input"][:4])).fn_name == "batchedRecordAccessed"

    # Idempotent as before: the same body again is the same anchor, nothing new on chain.
    again = put(api, patient.address, next(body for p, body in bodies if p is patient and body["valueSampledData"]["data"] == answer.json()["valueSampledData"]["data"]))
    assert again.status_code == 201 and again.json()[0]["created"] is False
    assert again.json()[0]["transaction_hash"] == record["transaction_hash"]

    # The patient's list shows batched records with their batch root.
    listed = {item["record_id"]: item for item in api.as_patient(patient).get(f"/v1/patients/{patient.address}/records").json()}
    assert listed[record["record_id"]]["batch_root"] == "0x" + batches[record["transaction_hash"]].root.hex()

    # The auditor fetches every manifest, re-proves every record, checks the batched read against its consent.
    audit = run_audit(api.net.ledger(), AuditOptions(from_block=start_block, deep=True, ipfs_url=api.net.settings.ipfs_url))
    mine = {r["record_id"].lower() for r in records} | {"0x" + b.root.hex() for b in batches.values()}
    assert [v for v in audit.violations if v.subject.lower() in mine or v.tx in transactions] == []
    assert audit.report["report"]["deep_figures"]["batches_verified"] >= len({r["transaction_hash"] for r in batched})


def test_an_entry_the_contract_refuses_fails_only_its_own_put(api: ApiWorld) -> None:
    kept = api.new_patient()
    api.grant(kept, api.hospital.address, ["LAB"])
    revoked = api.new_patient()
    api.grant(revoked, api.hospital.address, ["LAB"])
    service = record_service(api)
    before = service.anchors.stats()
    other = api.new_patient()
    api.grant(other, api.hospital.address, ["LAB"])
    with slow_first_anchor(service, max_in_flight=1) as release, ThreadPoolExecutor(max_workers=3) as pool:
        holder = pool.submit(put, api, other.address, lab_observation(6.01))  # goes alone, held before its receipt
        wait_until(lambda: service.anchors.stats()["in_flight"] == 1, "the first anchor in flight")
        answers = [pool.submit(put, api, kept.address, lab_observation(6.02)), pool.submit(put, api, revoked.address, lab_observation(6.03))]
        wait_until(lambda: service.anchors.stats()["pending"] == 2, "both puts queued behind it")
        api.relay_signed(revoked, {"action": "revoke", "patient": revoked.address, "grantee": api.hospital.address})  # mined before their batch
        release.set()
        first, good, refused = holder.result(), answers[0].result(), answers[1].result()
    assert first.status_code == 201 and good.status_code == 201, (first.text, good.text)
    problem = assert_problem(refused, 409, "contract-refused")
    assert "NoConsent" in problem["detail"]
    after = service.anchors.stats()
    assert after["batch_refusals"] == before["batch_refusals"] + 1  # the batch was refused, then sent one by one
    registry = RecordRegistry(api.net.ledger())
    assert registry.anchors_of(revoked.address) == []
    assert service.pending() == []  # the refused put's object was unpinned and its spool dropped
