"""An institution's read path: decide locally, fetch (cached) and decrypt, log the access on chain, then release.

    prepare  the anchor (cached), the consent decision (local index, microseconds), the verified sealed object
             (cached per version), the key wrap, decryption, and FHIR re-validation (once per version: read_cache.py).
             Nothing leaves yet.
    log      the access entry goes to the group-commit batcher (access_batcher.py) with the other reads of the
             moment; one `logAccessBatch` transaction carries them all.
    release  after the receipt: a logged entry returns the record; an entry the contract refused returns today's
             error (403, or 404 / 410 when the record turned out unknown or erased), never the record.

The chain has the final word: the local decision only spares the chain a read it would refuse; the contract checks
consent, erasure and existence again for every entry when it logs.

A batch-anchored record (anchor_batcher.py) is logged by `batchedRecordAccessed` with its Merkle proof, in a
transaction of its own: the contract's `logAccessBatch` takes only records anchored on their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from crypto import Identity
from crypto.record_object import RecordObject
from i18n import _
from ledger.errors import ContractRevert
from ledger.records import Anchor
from ledger.vocabulary import Category, Purpose
from records.access_batcher import AccessBatcher, AccessEntry, AccessOutcome
from records.clients import RecordClients
from records.errors import (
    AccessDeniedError,
    NoKeyError,
    RecordErasedError,
    RecordError,
    RecordNotFoundError,
)
from records.keystore import KeyStore
from records.models import RecordRead
from records.read_cache import ReadCache
from records.reading import decrypt, locate, parse_payload


@dataclass
class PreparedRead:
    """A read decided and decrypted locally, waiting for its access to be logged."""

    anchor: Anchor
    purpose: Purpose
    obj: RecordObject
    resource: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def entry(self) -> AccessEntry:
        return AccessEntry(self.anchor.record_id, self.purpose, self.anchor.patient)


class RecordReader:
    def __init__(self, identity: Identity, clients: RecordClients, keystore: KeyStore, access_log: AccessBatcher, cache: ReadCache | None = None) -> None:
        self.identity = identity
        self.clients = clients
        self.keystore = keystore
        self.access_log = access_log
        self.cache = cache or ReadCache()

    @property
    def address(self) -> str:
        return self.identity.address

    # ------------------------------------------------------------------ the three ways in
    def get(self, record_id: bytes, purpose: Purpose) -> RecordRead:
        """Read one record (blocking until its access is on chain)."""
        prepared = self.prepare(record_id, purpose)
        if prepared.anchor.batch is not None:
            return self.release(prepared, self.log_batched(prepared))
        return self.release(prepared, self._wait(self.access_log.submit(prepared.entry), prepared))

    def get_many(self, requests: Sequence[tuple[bytes, Purpose]]) -> list[RecordRead | RecordError]:
        """Read several records whose accesses go to the chain together; per request, the read or its error."""
        prepared: list[PreparedRead | RecordError] = []
        for record_id, purpose in requests:
            try:
                prepared.append(self.prepare(record_id, purpose))
            except RecordError as exc:
                prepared.append(exc)
        ready = [p for p in prepared if isinstance(p, PreparedRead) and p.anchor.batch is None]
        futures = iter(self.access_log.submit_many([p.entry for p in ready]))
        out: list[RecordRead | RecordError] = []
        for item in prepared:
            if isinstance(item, RecordError):
                out.append(item)
                continue
            try:
                outcome = self.log_batched(item) if item.anchor.batch is not None else self._wait(next(futures), item)
                out.append(self.release(item, outcome))
            except RecordError as exc:
                out.append(exc)
        return out

    async def aget(self, record_id: bytes, purpose: Purpose) -> RecordRead:
        """`get` for the event loop: waiting for the chain holds no worker thread, so hundreds of reads can
        share a batch. Cancelled while its batch is in flight, it returns nothing and the access stays logged."""
        started = time.perf_counter()
        # Warm reads (anchor, object and validation cached, consent in the index) are prepared on the event loop:
        # a decryption costs less CPU than the hop to a worker thread and back. Anything that may block goes there.
        prepared = self.prepare_cached(record_id, purpose) or await anyio.to_thread.run_sync(self.prepare, record_id, purpose)
        prepared.timings["prepare"] = time.perf_counter() - started  # its stages, plus the wait for a worker thread
        if prepared.anchor.batch is not None:
            return self.release(prepared, await anyio.to_thread.run_sync(self.log_batched, prepared))
        started = time.perf_counter()
        try:
            outcome = await asyncio.wrap_future(self.access_log.submit(prepared.entry))
        except ContractRevert as exc:
            raise _batch_refused(exc) from exc
        prepared.timings["log_tx"] = time.perf_counter() - started
        if outcome.logged:
            return self.release(prepared, outcome)
        return await anyio.to_thread.run_sync(self.release, prepared, outcome)  # finding out why asks the chain

    # ------------------------------------------------------------------ steps
    def prepare_cached(self, record_id: bytes, purpose: Purpose) -> PreparedRead | None:
        """`prepare` from memory only, never blocking on the chain, IPFS or the key store; None when any step would
        (a cold cache, a key held in the key store, a "no" that must be re-checked at the head: `prepare` does it).
        A "yes" comes from the consent index as of its last poll, as fresh as `prepare`'s (one poll behind at most):
        the access-log transaction checks the consent again on chain before anything is released."""
        if not isinstance(record_id, (bytes, bytearray)) or len(record_id) != 32:
            return None
        timings: dict[str, float] = {}
        with _timed(timings, "chain_reads"):
            anchor = self.cache.anchor(bytes(record_id), count_miss=False)
            lenient = getattr(self.clients.policy, "as_of_last_poll", None)
            if anchor is None or not callable(lenient):
                return None
            category = Category(anchor.category)
            if anchor.author != self.address and not lenient().is_permitted(anchor.patient, self.address, category.bit, int(purpose)):
                return None
        obj = self.cache.cached_object(anchor)
        wrap = obj.wraps.get(self.address) if obj is not None else None  # keys are checksummed; so is our address
        if obj is None or wrap is None:
            return None
        with _timed(timings, "decrypt"):
            payload = decrypt(obj, self.identity.hpke_key, wrap)
        with _timed(timings, "validate"):
            resource = self.cache.cached_resource(anchor, payload)
        return None if resource is None else PreparedRead(anchor, purpose, obj, resource, timings)

    def prepare(self, record_id: bytes, purpose: Purpose) -> PreparedRead:
        timings: dict[str, float] = {}
        with _timed(timings, "chain_reads"):
            anchor = self._anchor(record_id)
            category = Category(anchor.category)
            if anchor.author != self.address and not self.clients.policy.is_permitted(anchor.patient, self.address, category.bit, int(purpose)):
                raise AccessDeniedError(
                    _("{grantee} holds no consent of patient {patient} covering {category} for {purpose}").format(
                        grantee=self.address, patient=anchor.patient, category=category.name, purpose=purpose.name
                    ),
                    patient=anchor.patient, grantee=self.address, category=category, purpose=purpose,
                )
        with _timed(timings, "ipfs_fetch_verify"):
            obj = self.cache.verified_object(anchor, lambda: self.clients.objects.fetch(anchor, timings))
        with _timed(timings, "decrypt"):
            wrap = obj.wraps.get(self.address)  # wrap_for would checksum our (checksummed) address again: keccak per read
            if wrap is None:
                stored = self.keystore.get(anchor.record_id)
                if stored is None or stored.version != obj.version:
                    raise NoKeyError(
                        _("{reader} may read record 0x{record} but holds no key for it: the patient must share it").format(
                            reader=self.address, record=anchor.record_id.hex()
                        )
                    )
                wrap = stored.wrap
            payload = decrypt(obj, self.identity.hpke_key, wrap)
        with _timed(timings, "validate"):
            resource = self.cache.validated_resource(anchor, payload, lambda plain: parse_payload(obj, plain))
        return PreparedRead(anchor, purpose, obj, resource, timings)

    def release(self, prepared: PreparedRead, outcome: AccessOutcome) -> RecordRead:
        """The record, if the chain logged its access; otherwise the refusal, as an error."""
        anchor = prepared.anchor
        if not outcome.logged:
            raise self._refusal(anchor, prepared.purpose, outcome)
        return RecordRead(
            record_id=anchor.record_id, version=prepared.obj.version, category=Category(anchor.category).name, media_type=prepared.obj.media_type,
            resource=prepared.resource, anchor=anchor, access_logged=True, timings=prepared.timings,
        )

    def log_batched(self, prepared: PreparedRead) -> AccessOutcome:
        """Log the access to a batch-anchored record (batchedRecordAccessed, with its proof) and wait for the receipt."""
        records, sender, anchor = self.clients.records, self.access_log.sender, prepared.anchor
        with _timed(prepared.timings, "log_tx"):
            try:
                receipt = sender.wait(records.submit_batched_access(sender, anchor, prepared.purpose))
            except ContractRevert as exc:
                if exc.name == "RecordIsErased":
                    self.forget(anchor.record_id)
                    raise RecordErasedError(_("record 0x{record} was erased at the patient's request").format(record=anchor.record_id.hex())) from exc
                if exc.name in ("UnknownBatch", "InvalidProof"):
                    raise RecordNotFoundError(_("record 0x{record}: {reason}").format(record=anchor.record_id.hex(), reason=exc)) from exc
                raise _batch_refused(exc) from exc
            result = records.batched_access_result(receipt, anchor, prepared.purpose)
        return AccessOutcome(result.transaction_hash, result.block_number, result.logged[0], 1)

    def forget(self, record_id: bytes) -> None:
        """Drop what this reader holds of an erased record (cached anchor and ciphertext, the key-store wrap)."""
        self.cache.evict(bytes(record_id))
        self.keystore.drop(bytes(record_id))

    # ------------------------------------------------------------------ helpers
    def _anchor(self, record_id: bytes) -> Anchor:
        """The anchor, from the cache; on a miss, from the chain, refusing unknown and erased records (404 / 410)."""
        if isinstance(record_id, (bytes, bytearray)) and len(record_id) == 32:
            cached = self.cache.anchor(bytes(record_id))
            if cached is not None:
                return cached
        try:
            _state, anchor = locate(self.clients, record_id)
        except RecordErasedError:
            self.forget(record_id)
            raise
        self.cache.put_anchor(anchor)
        return anchor

    def _wait(self, future: Any, prepared: PreparedRead) -> AccessOutcome:
        with _timed(prepared.timings, "log_tx"):
            try:
                return future.result()  # type: ignore[no-any-return]
            except ContractRevert as exc:
                raise _batch_refused(exc) from exc

    def _refusal(self, anchor: Anchor, purpose: Purpose, outcome: AccessOutcome) -> RecordError:
        """Why the contract skipped this entry, asked at the head: erased (410), gone (404), else no consent (403)."""
        record_id = anchor.record_id
        state = self.clients.records.state(record_id)
        if state is None:
            return RecordNotFoundError(_("no record 0x{record} is anchored on chain").format(record=record_id.hex()))
        if state.erased:
            self.forget(record_id)
            return RecordErasedError(_("record 0x{record} was erased at the patient's request").format(record=record_id.hex()))
        reason, facts = _("no covering consent when the batch was mined"), {}
        try:  # the same check as a single read, for the contract's own reason (the refusal itself is already on chain)
            self.access_log.sender.call(self.clients.records.contract.functions.recordAccessed(record_id, int(purpose)))
        except ContractRevert as exc:
            reason, facts = str(exc), AccessDeniedError.consent_facts(exc)
        return AccessDeniedError(
            _("the chain refused to log this read in transaction {transaction} ({reason}); the record is not returned").format(
                transaction=outcome.transaction_hash, reason=reason
            ),
            **facts,
        )


def _batch_refused(exc: ContractRevert) -> AccessDeniedError:
    """The chain refused the access entry (a batch-anchored record's own transaction), or the whole batch (e.g. this
    institution is no longer an active member: so is every read in it). A NoConsent revert's facts travel along."""
    return AccessDeniedError(
        _("the chain refused to log this read ({reason}); the record is not returned").format(reason=exc), **AccessDeniedError.consent_facts(exc)
    )


class _timed:
    """Adds the time spent in the block to `timings[stage]`."""

    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.timings[self.stage] = self.timings.get(self.stage, 0.0) + time.perf_counter() - self.start
