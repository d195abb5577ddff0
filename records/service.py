"""The record service an institution runs: put / get / ingest key shares / relay erasures / purge.

put is idempotent by content: the record id is derived from (author, patient, resource, supersedes), the
sealed object is spooled before it goes to IPFS and reused on a retry (same CID), and the spool entry is
dropped once the chain holds the anchor.  A contract refusal unpins the object and drops the spool.
Concurrent puts are anchored together (anchor_batcher.py: one `anchorBatch`, each put still answered only after
the receipt); a lone put is anchored on its own, as before (anchoring.py says whether a record already is).

get is the read path of reader.py: decided locally, served from caches where safe, and released only once its
access is logged on chain, in a group-commit batch with the other reads of the moment (access_batcher.py).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak
from fhir.resources.R4B.resource import Resource

from crypto import CryptoError, Identity, normalize_address
from crypto.record_object import ZERO_ID, RecordObject, seal_record
from i18n import _
from ledger.care_flows import CareFlowName
from ledger.chain import Ledger
from ledger.errors import ContractRevert, TransactionFailed
from ledger.records import NewRecord, RecordState
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category, Purpose
from records import anchor_batcher, fhir
from records.access_batcher import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_WINDOW_SECONDS,
    AccessBatcher,
)
from records.anchor_batcher import AnchorBatcher
from records.anchoring import Anchoring
from records.batch_journal import BatchJournal
from records.care_reads import CareReads
from records.categories import category_of
from records.cid import cid_to_bytes, cid_to_text, payload_cid
from records.clients import RecordClients
from records.erasure import ErasureRequest
from records.errors import (
    AccessDeniedError,
    AnchorRefusedError,
    PutIncompleteError,
    RecordErasedError,
    RecordError,
    RecordNotFoundError,
)
from records.key_release import KeyRelease, ReleasedKey, SeenNonces, release_keys
from records.keystore import KeyStore
from records.models import KeyShareBundle, PutResult, RecordRead
from records.policy import AccessPolicy
from records.read_cache import ReadCache
from records.reader import RecordReader
from records.reading import locate
from records.recipients import MemberDirectory, resolve
from records.record_id import content_tag_key, derive_record_id
from records.settings import RecordSettings
from records.sharing import validate_bundle
from records.spool import Spool


class PutStage(str, Enum):
    """Points in put() where a test-only checkpoint may simulate a crash."""

    SPOOLED = "spooled"
    ADDED = "added"
    ANCHORED = "anchored"


Checkpoint = Callable[[PutStage], None]


class RecordService:
    def __init__(
        self, identity: Identity, clients: RecordClients, data_dir: Path, *,
        max_resource_bytes: int = 32 * 1024 * 1024, checkpoint: Checkpoint | None = None, cache: ReadCache | None = None,
        log_window: float = DEFAULT_WINDOW_SECONDS, log_max_batch: int = DEFAULT_MAX_BATCH, log_max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        put_window: float = anchor_batcher.DEFAULT_WINDOW_SECONDS, put_max_batch: int = anchor_batcher.DEFAULT_MAX_BATCH,
        put_max_in_flight: int = anchor_batcher.DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self.identity = identity
        self.clients = clients
        self.spool = Spool(data_dir / "spool")
        self.keystore = KeyStore(data_dir / "keys.sqlite3")
        self.max_resource_bytes = max_resource_bytes
        self._checkpoint = checkpoint or (lambda stage: None)
        self._tag_key = content_tag_key(identity.hpke_key)
        sender = clients.ledger.sender(identity.account)
        self.access_log = AccessBatcher(clients.records, sender, window=log_window, max_batch=log_max_batch, max_in_flight=log_max_in_flight)
        journal = BatchJournal(data_dir / "batches")
        self.anchors = AnchorBatcher(
            clients.records, sender, journal, publish=clients.objects.add, unpin=clients.objects.unpin, cids=(cid_to_text, cid_to_bytes),
            on_anchored=clients.batches.add, window=put_window, max_batch=put_max_batch, max_in_flight=put_max_in_flight,
        )
        self.anchoring = Anchoring(clients, self.anchors, journal)
        self.directory = MemberDirectory(clients.registry)
        self.reader = RecordReader(identity, clients, self.keystore, self.access_log, cache)
        self.care_reads = CareReads(identity, clients, self.keystore, sender, self.reader.cache)
        self._release_nonces = SeenNonces()
        self.sender = sender

    @classmethod
    def from_settings(
        cls, identity: Identity, ledger: Ledger, settings: RecordSettings | None = None, policy: AccessPolicy | None = None
    ) -> RecordService:
        s = settings or RecordSettings()
        clients = RecordClients.open(ledger, s.ipfs_api, policy=policy, timeout=s.ipfs_timeout_seconds)
        return cls(
            identity, clients, s.data_dir_for(identity.address), max_resource_bytes=s.max_resource_bytes,
            cache=ReadCache(max_object_bytes=s.read_cache_bytes), log_window=s.access_log_window_seconds,
            log_max_batch=s.access_log_max_batch, log_max_in_flight=s.access_log_max_in_flight, put_window=s.put_batch_window_seconds,
            put_max_batch=s.put_max_batch, put_max_in_flight=s.put_max_in_flight,
        )

    @property
    def address(self) -> str:
        return self.identity.address

    @property
    def sender(self) -> TransactionSender:
        """The one sender of this institution's key: puts, erasure relays and access-log batches all go through it."""
        return self._sender

    @sender.setter
    def sender(self, sender: TransactionSender) -> None:
        self._sender = sender
        self.access_log.sender = sender  # one pipeline per key: nonces handed out in order, no local races
        self.anchors.sender = sender
        self.care_reads.sender = sender

    def close(self) -> None:
        """Anchor the puts and send the access entries still pending, then stop the batchers' threads."""
        self.anchors.close()
        self.access_log.close()

    # ------------------------------------------------------------------------------------------ put
    def put(
        self, resource: dict[str, Any] | str | bytes | Resource, patient: str, supersedes: bytes | None = None, *,
        recipients: Collection[str] | None = None, alone: bool = False,
    ) -> PutResult:
        """Store and anchor a record. `recipients`: wrap the key to exactly these members (besides the patient and this
        author) instead of every consented one; `alone`: anchor it on its own, never in a batch. Care flows use both:
        their contracts name records by id, and they decide who reads (e.g. a case's answer goes to its requester)."""
        """Validate, seal for the recipients, add + pin, anchor; a retry of the same put is safe at any point."""
        timings: dict[str, float] = {}
        with _timed(timings, "validate"):
            _model, canonical, payload = fhir.validate(resource, self.max_resource_bytes)
            category = category_of(canonical)
            patient = _address(patient, "patient")
            previous = bytes(supersedes) if supersedes else ZERO_ID
            record_id = derive_record_id(self.address, patient, payload, previous, self._tag_key)

        with _timed(timings, "chain_reads"):
            state, patient_key = self._first_reads(record_id, patient)
            if self.anchoring.existing(record_id, spooled=self.spool.read(record_id) is not None, state=state):
                return self._already_anchored(record_id, timings)
            lenient = _recipients_policy(self.clients.policy)  # the contract checks again when it anchors
            if not lenient.is_permitted(patient, self.address, category.bit, int(Purpose.TREATMENT)) and not self.clients.policy.is_permitted(
                patient, self.address, category.bit, int(Purpose.TREATMENT)
            ):
                raise AccessDeniedError(
                    _("{grantee} holds no consent of patient {patient} covering {category} for {purpose}; nothing was stored").format(
                        grantee=self.address, patient=patient, category=category.name, purpose=Purpose.TREATMENT.name
                    ),
                    patient=patient, grantee=self.address, category=category, purpose=Purpose.TREATMENT,
                )

        data = self._spooled(record_id, patient)
        skipped: dict[str, str] = {}
        if data is None:
            with _timed(timings, "chain_reads"):
                version = self._next_version(previous, patient)
                recipients = resolve(
                    patient=patient, author=self.address, author_key=self.identity.hpke_public_key, category=category,
                    consents=self.clients.consents, registry=self.directory, policy=_recipients_policy(self.clients.policy), patient_key=patient_key,
                    only=recipients,
                )
                skipped = recipients.skipped
            with _timed(timings, "seal"):
                obj, _key = seal_record(
                    payload, record_id=record_id, patient=patient, author=self.address, category=int(category),
                    version=version, recipients=recipients.keys, supersedes=previous,
                )
                data = obj.encode()
            with _timed(timings, "spool"):
                self.spool.write(record_id, data)
        else:
            obj = RecordObject.decode(data)
        self._checkpoint(PutStage.SPOOLED)

        with _timed(timings, "ipfs_add"):
            cid = self.clients.objects.add(data)
        self._checkpoint(PutStage.ADDED)

        record = NewRecord(record_id=record_id, patient=patient, category=int(category), content_hash=_sha256(data), cid=cid_to_bytes(cid), supersedes=previous)
        try:
            with _timed(timings, "anchor_tx"):
                outcome = self.anchoring.anchor(record, alone)
        except ContractRevert as exc:
            if exc.name == "RecordAlreadyAnchored":  # a concurrent put of the same content won the race
                return self._already_anchored(record_id, timings)
            self.clients.objects.unpin(cid)
            self.spool.drop(record_id)
            raise AnchorRefusedError(
                _("the chain refused the anchor: {reason}; the object was unpinned, nothing is stored").format(reason=exc)
            ) from exc
        except TransactionFailed as exc:
            raise PutIncompleteError(
                _("anchoring did not complete ({reason}); send the same record again: object {cid} is spooled and will be reused").format(
                    reason=exc, cid=cid
                )
            ) from exc
        anchor = outcome.anchor
        self._checkpoint(PutStage.ANCHORED)
        self.spool.drop(record_id)
        return PutResult(
            record_id=record_id, cid=cid, version=obj.version, category=category.name, created=not outcome.shared, anchor=anchor,
            recipients=list(obj.wraps), skipped_recipients=skipped, timings=timings,
        )

    def _first_reads(self, record_id: bytes, patient: str) -> tuple[RecordState | None, bytes]:
        """The record's word (is it anchored on its own?) and the patient's HPKE key, in one request to the node.

        Encoded and decoded here, sent as one raw JSON-RPC batch: web3's batch of contract calls cost more CPU than
        the rest of a put's chain work (ABI lookups and selector hashing per call, measured ~1/3 of a put)."""
        records, consents = self.clients.records, self.clients.consents
        head = self._first_reads_head
        replies = self.clients.ledger.w3.provider.make_batch_request([
            ("eth_call", [{"to": records.contract.address, "data": head[0] + bytes(record_id).hex()}, "latest"]),  # type: ignore[list-item]
            ("eth_call", [{"to": consents.contract.address, "data": head[1] + patient[2:].lower().rjust(64, "0")}, "latest"]),  # type: ignore[list-item]
        ])
        if not isinstance(replies, list) or len(replies) != 2 or any("result" not in reply for reply in replies):
            raise TransactionFailed(_("the chain node did not answer the record and patient-key reads: {replies}").format(replies=replies))
        raw_state = abi_decode(["address", "uint8", "uint40", "bool", "address"], bytes.fromhex(replies[0]["result"][2:]))
        (raw_key,) = abi_decode(["bytes"], bytes.fromhex(replies[1]["result"][2:]))
        return records.state_of(raw_state), bytes(raw_key)

    @cached_property
    def _first_reads_head(self) -> tuple[str, str]:
        """The selectors of getRecord(bytes32) and patientKey(address), 0x-prefixed, computed once."""
        return ("0x" + keccak(text="getRecord(bytes32)")[:4].hex(), "0x" + keccak(text="patientKey(address)")[:4].hex())

    def _spooled(self, record_id: bytes, patient: str) -> bytes | None:
        """The spooled object of an interrupted put of this record, if it is sound."""
        data = self.spool.read(record_id)
        if data is None:
            return None
        try:
            obj = RecordObject.decode(data)
        except CryptoError:
            obj = None
        if obj is None or obj.record_id != record_id or obj.patient != patient or obj.author != self.address:
            self.spool.drop(record_id)  # never added to IPFS under a CID we would anchor
            return None
        return data

    def _already_anchored(self, record_id: bytes, timings: dict[str, float]) -> PutResult:
        """The chain has this record: finish what an interrupted put left (pin, spool) and return the anchor."""
        state, anchor = locate(self.clients, record_id)
        cid = cid_to_text(anchor.cid)
        data = self.spool.read(record_id)
        if data is not None:
            spooled_cid = payload_cid(self.clients.ipfs_api, data)
            if spooled_cid == cid:
                self.clients.objects.add(data)  # re-pin (a no-op when the add before the crash completed)
            else:
                self.clients.objects.unpin(spooled_cid)  # lost a race: ours is an orphan
            self.spool.drop(record_id)
        obj, _payload = self.clients.objects.fetch(anchor)
        return PutResult(
            record_id=record_id, cid=cid, version=obj.version, category=Category(state.category).name, created=False,
            anchor=anchor, recipients=list(obj.wraps), timings=timings,
        )

    def _next_version(self, previous: bytes, patient: str) -> int:
        if previous == ZERO_ID:
            return 1
        try:
            state, anchor = locate(self.clients, previous)
        except RecordErasedError as exc:
            raise RecordErasedError(_("cannot supersede: {reason}").format(reason=exc)) from None
        except RecordNotFoundError as exc:
            raise RecordNotFoundError(_("cannot supersede: {reason}").format(reason=exc)) from None
        if state.patient != patient:
            raise RecordError(_("cannot supersede record 0x{record}: it belongs to another patient").format(record=previous.hex()))
        if anchor.batch is not None:
            raise RecordError(
                _("cannot supersede record 0x{record}: it was anchored in a batch, and the contract supersedes only records anchored on their own").format(
                    record=previous.hex()
                )
            )
        obj, _payload = self.clients.objects.fetch(anchor)
        return obj.version + 1

    def pending(self) -> list[bytes]:
        """Record ids of puts that did not finish (their sealed objects wait in the spool)."""
        return self.spool.pending()

    def recover(self, abandon: bool = False) -> dict[str, list[str]]:
        """Finish spooled puts the chain has anchored (on their own or in a batch); with ``abandon``, unpin and drop
        the rest. Journalled batches are settled first: a dead one's manifest is unpinned."""
        report: dict[str, list[str]] = {"completed": [], "abandoned": [], "waiting": []}
        batches = self.anchoring.settle_all()
        for record_id in self.spool.pending():
            rid = "0x" + record_id.hex()
            try:
                anchored = self.anchoring.existing(record_id, spooled=True)
            except PutIncompleteError:
                report["waiting"].append(rid)  # its batch may still be mined: never abandoned
                continue
            if anchored:
                self._already_anchored(record_id, {})
                report["completed"].append(rid)
            elif abandon:
                data = self.spool.read(record_id)
                if data is not None:
                    self.clients.objects.unpin(payload_cid(self.clients.ipfs_api, data))
                self.spool.drop(record_id)
                report["abandoned"].append(rid)
            else:
                report["waiting"].append(rid)
        if batches["dead"]:
            report["dead_batches"] = batches["dead"]
        return report

    # ------------------------------------------------------------------------------------------ get
    def get(self, record_id: bytes, purpose: Purpose = Purpose.TREATMENT) -> RecordRead:
        """Read a record for ``purpose``: permission decided locally, verified payload, access logged on chain
        (the chain's refusal wins) before it is returned."""
        return self.reader.get(record_id, _single_purpose(purpose))

    async def aget(self, record_id: bytes, purpose: Purpose = Purpose.TREATMENT) -> RecordRead:
        """`get` for an event loop (the API): no thread is held while the access-log batch is mined."""
        return await self.reader.aget(record_id, _single_purpose(purpose))

    def get_under(self, flow: CareFlowName, ref: bytes, record_id: bytes) -> RecordRead:
        """Read a record that a care flow (case, break-glass, prescription) authorises; see care_reads.py."""
        return self.care_reads.get(flow, ref, record_id)

    def release_keys(self, request: KeyRelease) -> list[ReleasedKey]:
        """As the author: re-wrap keys for a reader a care flow authorises; see key_release.py."""
        return release_keys(self.identity, self.clients, request, self._release_nonces)

    def get_many(self, requests: list[tuple[bytes, Purpose]]) -> list[RecordRead | RecordError]:
        """Several reads whose access entries share one transaction; per request, the read or its error."""
        return self.reader.get_many([(record_id, _single_purpose(purpose)) for record_id, purpose in requests])

    # --------------------------------------------------------------------------- key shares, erasure
    def ingest(self, bundle: KeyShareBundle) -> int:
        """Store a patient's key shares after checking each one unwraps with our key; all or nothing."""
        wraps = validate_bundle(bundle, self.address, self.identity.hpke_key, self.clients)
        self.keystore.put_many(wraps)
        return len(wraps)

    def relay_erasure(self, request: ErasureRequest) -> None:
        """Relay a patient-signed erasure (of a record anchored on its own or in a batch, the same signed
        message), then shred this institution's copy (unpin, GC, drop wraps)."""
        batched = self.clients.batches.find(request.record_id) if self.clients.records.state(request.record_id) is None else None
        try:
            if batched is not None:
                self.clients.records.relay_batched_erasure(self.sender, batched, request.message, request.signature)
            else:
                self.clients.records.relay_erasure(self.sender, request.message, request.signature)
        except ContractRevert as exc:
            raise RecordError(_("the chain refused the erasure: {reason}").format(reason=exc)) from exc
        self.purge(request.record_id)

    def purge(self, record_id: bytes) -> dict[str, bool]:
        """Drop local copies of an erased record: unpin + GC the object, drop key-store wraps and spool."""
        state = self.clients.records.state(bytes(record_id))
        batched = self.clients.batches.find(bytes(record_id)) if state is None else None
        erased = state.erased if state is not None else batched is not None and self.clients.records.is_batched_erased(batched)
        if not erased:
            raise RecordError(_("record 0x{record} is not erased on chain; refusing to purge it").format(record=bytes(record_id).hex()))
        anchor = batched or self.clients.records.find_anchor(bytes(record_id))
        unpinned = self.clients.objects.unpin(cid_to_text(anchor.cid)) if anchor else False
        if unpinned:
            self.clients.ipfs.gc()
        self.spool.drop(bytes(record_id))
        wrap_dropped = self.keystore.drop(bytes(record_id))
        self.reader.forget(bytes(record_id))
        return {"unpinned": unpinned, "wrap_dropped": wrap_dropped}


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def _recipients_policy(policy: AccessPolicy) -> AccessPolicy:
    """The policy for a put's own decisions (key-wrap recipients, a first "yes"): the index as of its last poll when
    there is one (no sync, no head check per member), else `policy` itself."""
    lenient = getattr(policy, "as_of_last_poll", None)
    return lenient() if callable(lenient) else policy


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _address(value: str, what: str) -> str:
    try:
        return normalize_address(value, what)
    except CryptoError as exc:
        raise RecordError(str(exc)) from None


def _single_purpose(purpose: Purpose | int) -> Purpose:
    try:
        value = Purpose(int(purpose))
    except ValueError:
        raise RecordError(_("unknown purpose {purpose}").format(purpose=repr(purpose))) from None
    if value.name is None or bin(int(value)).count("1") != 1:
        raise RecordError(_("a read is for exactly one purpose, got {purpose}").format(purpose=repr(value)))
    return value
