"""Group commit of the access log (issue 11): reads that arrive together share one access-log transaction, and
no record leaves before its own access is on chain.

The API serves reads through its record service: decided locally, then held until one `logAccessBatch`
transaction carrying every read of the moment is mined. These tests check, on the chain itself, that N concurrent
reads take fewer than N transactions, that a read the contract refuses fails alone (403) inside a batch whose
other reads are returned, and that a read abandoned after its batch was sent returns nothing but stays logged.

Reading a record the hospital authored skips the local consent check (as before), so the contract alone decides:
that is how a revocation mined before the batch reaches the chain's refusal here.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from api_world import ApiWorld, assert_problem, ecg_observation, lab_observation

from records import AccessDeniedError, RecordRead, RecordService
from crypto import Identity
from ledger.records import RecordRegistry
from ledger.vocabulary import Category, Purpose


def record_service(api: ApiWorld) -> RecordService:
    return api.app.state.services.record_service  # type: ignore[no-any-return]


def logged(api: ApiWorld, patient: Identity) -> list[tuple[bytes, str]]:
    """(record id, transaction) of every access the chain logged for `patient`, in chain order."""
    return [(rid, access.transaction_hash) for access in RecordRegistry(api.net.ledger()).accesses_of(patient.address) for rid in access.record_ids]


def revoke(api: ApiWorld, patient: Identity, grantee: str) -> None:
    api.relay_signed(patient, {"action": "revoke", "patient": patient.address, "grantee": grantee})


def wait_until(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout  # a bound on waiting, not a measurement
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_concurrent_reads_share_transactions(api: ApiWorld) -> None:
    first, one = api.patient_with_record(ecg_observation(seed=11))
    second, two = api.patient_with_record(ecg_observation(seed=12))
    reads = [(first, one["record_id"]), (second, two["record_id"])] * 6
    batcher = record_service(api).access_log
    base = batcher.stats()
    release = threading.Event()
    # A slow chain: each batch sent waits here before its receipt, so later reads pile up behind the batches in
    # flight (at most max_in_flight of them) instead of each finding the batcher idle.
    batcher.on_submitted = lambda tx_hash, entries: release.wait(60)

    def read(record_id: str) -> httpx.Response:
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.tokens['read']}"}, timeout=120) as client:
            return client.get(f"/v1/records/{record_id}")

    try:
        with ThreadPoolExecutor(max_workers=len(reads)) as pool:
            answers = [pool.submit(read, rid) for _, rid in reads]
            wait_until(lambda: batcher.stats()["entries"] - base["entries"] + batcher.stats()["pending"] >= len(reads), "every read to reach the batcher")
            release.set()
            statuses = [answer.result().status_code for answer in answers]
    finally:
        release.set()
        batcher.on_submitted = None
    assert statuses == [200] * len(reads)
    entries = logged(api, first) + logged(api, second)
    assert sorted(rid for rid, _ in entries) == sorted(bytes.fromhex(rid[2:]) for _, rid in reads)  # every read, once
    transactions = {tx for _, tx in entries}
    assert len(transactions) <= batcher.max_in_flight + 1 < len(reads), transactions
    assert batcher.stats()["batches"] - base["batches"] == len(transactions)


def test_a_refused_read_inside_a_batch_fails_alone(api: ApiWorld) -> None:
    kept, kept_record = api.patient_with_record(lab_observation(5.1))
    revoked, revoked_record = api.patient_with_record(lab_observation(5.2))
    revoke(api, revoked, api.hospital.address)  # mined before the batch
    service = record_service(api)
    ids = [bytes.fromhex(r["record_id"][2:]) for r in (kept_record, revoked_record, kept_record)]
    results = service.get_many([(rid, Purpose.TREATMENT) for rid in ids])  # queued together: one transaction
    assert isinstance(results[0], RecordRead) and isinstance(results[2], RecordRead), results
    assert results[0].resource["valueQuantity"]["value"] == 5.1
    assert isinstance(results[1], AccessDeniedError) and "NoConsent" in str(results[1]), results[1]
    # the contract's NoConsent facts travel as attributes, for explaining the refusal without parsing its sentence
    refused = results[1]
    assert (refused.patient, refused.grantee, refused.category, refused.purpose) == (revoked.address, api.hospital.address, Category.LAB, Purpose.TREATMENT)
    ((_, tx_a), (_, tx_b)) = logged(api, kept)
    assert tx_a == tx_b and logged(api, revoked) == []
    # Through HTTP: today's 403, nothing returned, nothing logged.
    problem = assert_problem(api.as_scope("read").get(f"/v1/records/{revoked_record['record_id']}"), 403, "no-consent")
    assert "NoConsent" in problem["detail"]
    assert "the patient revoked the consent" in problem["detail"] and api.hospital.name in problem["detail"], problem  # said in words
    assert logged(api, revoked) == []


def test_a_read_abandoned_after_its_batch_was_sent_returns_nothing_and_stays_logged(api: ApiWorld) -> None:
    patient, uploaded = api.patient_with_record(ecg_observation(seed=13))
    record_id = bytes.fromhex(uploaded["record_id"][2:])
    service = record_service(api)
    sent, abandoned = threading.Event(), threading.Event()

    def crash_point(tx_hash: Any, entries: Any) -> None:
        """Runs after the batch's transaction is sent and before its receipt is read: the request dies here."""
        if any(entry.record_id == record_id for entry in entries):
            sent.set()
            abandoned.wait(60)

    async def read_and_crash() -> RecordRead | None:
        task = asyncio.create_task(service.aget(record_id, Purpose.TREATMENT))
        assert await asyncio.to_thread(sent.wait, 60)
        task.cancel()  # the client went away / the worker died, between the log transaction and the response
        try:
            return await task
        except asyncio.CancelledError:
            return None
        finally:
            abandoned.set()

    service.access_log.on_submitted = crash_point
    try:
        result = asyncio.run(read_and_crash())
    finally:
        abandoned.set()
        service.access_log.on_submitted = None
    assert result is None  # nothing returned
    wait_until(lambda: service.access_log.stats()["in_flight"] == 0, "the batch's receipt")
    assert [rid for rid, _ in logged(api, patient)] == [record_id]  # the safe side: logged, never returned
    me = api.as_patient(patient)
    (entry,) = me.get(f"/v1/patients/{patient.address}/access-log").json()
    assert entry["record_ids"] == [uploaded["record_id"]] and entry["reader"] == api.hospital.address


def test_reads_hit_the_caches_and_still_log_every_read(api: ApiWorld) -> None:
    patient, uploaded = api.patient_with_record(ecg_observation(seed=14))
    cache = record_service(api).reader.cache
    before = cache.stats()
    reader = api.as_scope("read")
    for _ in range(3):
        answer = reader.get(f"/v1/records/{uploaded['record_id']}")
        assert answer.status_code == 200 and answer.json()["valueSampledData"]["data"] == ecg_observation(seed=14)["valueSampledData"]["data"]
        assert "log_tx;dur=" in answer.headers["server-timing"]
    after = cache.stats()
    assert after["object_misses"] - before["object_misses"] == 1 and after["object_hits"] - before["object_hits"] == 2
    assert after["anchor_misses"] - before["anchor_misses"] == 1
    assert len(logged(api, patient)) == 3
