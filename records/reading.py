"""Steps every read shares (institution or patient): locate the anchor, fetch and verify, decrypt."""

from __future__ import annotations

from typing import Any

from records.clients import RecordClients
from records.errors import (
    InvalidResourceError,
    PayloadTamperedError,
    RecordErasedError,
    RecordNotFoundError,
)
from records.fhir import parse_stored
from crypto import CryptoError, HpkePrivateKey
from crypto.record_object import RecordObject
from ledger.records import Anchor, RecordState


def locate(clients: RecordClients, record_id: bytes) -> tuple[RecordState, Anchor]:
    """The record's on-chain state and anchor (anchored on its own, or in a batch); refuses unknown and erased records."""
    if not isinstance(record_id, (bytes, bytearray)) or len(record_id) != 32:
        raise RecordNotFoundError("a record id is 32 bytes")
    state = clients.records.state(bytes(record_id))
    if state is None:
        return locate_batched(clients, bytes(record_id))
    if state.erased:
        raise RecordErasedError(f"record 0x{bytes(record_id).hex()} was erased at the patient's request")
    anchor = clients.records.find_anchor(bytes(record_id))
    if anchor is None:  # stored word without an event: impossible unless the node drops logs
        raise RecordNotFoundError(f"record 0x{bytes(record_id).hex()} has no RecordAnchored event on this node")
    return state, anchor


def locate_batched(clients: RecordClients, record_id: bytes) -> tuple[RecordState, Anchor]:
    """A batch-anchored record: its anchor from the batch index, its state from the batch (time, author) and the
    contract's erasure marker for its leaf."""
    anchor = clients.batches.find(record_id)
    batch = clients.records.batch_state(anchor.batch.root) if anchor is not None and anchor.batch is not None else None
    if anchor is None or batch is None:
        raise RecordNotFoundError(f"no record 0x{record_id.hex()} is anchored on chain")
    erased = clients.records.is_batched_erased(anchor)
    if erased:
        raise RecordErasedError(f"record 0x{record_id.hex()} was erased at the patient's request")
    author, anchored_at, _ = batch
    return RecordState(patient=anchor.patient, category=anchor.category, anchored_at=anchored_at, erased=False, author=author), anchor


def decrypt(obj: RecordObject, private_key: HpkePrivateKey, wrap: bytes) -> bytes:
    """Unwrap the data key and decrypt; a failure means a damaged object or wrap (PayloadTamperedError)."""
    try:
        return obj.open(private_key, wrap)
    except CryptoError as exc:
        raise PayloadTamperedError(f"record 0x{obj.record_id.hex()}: cannot decrypt: {exc}") from None


def parse_payload(obj: RecordObject, payload: bytes) -> dict[str, Any]:
    """Re-validate the decrypted FHIR resource (what the reader gets back)."""
    try:
        _, resource = parse_stored(payload)
    except InvalidResourceError as exc:
        raise PayloadTamperedError(f"record 0x{obj.record_id.hex()}: decrypted payload is not valid FHIR: {exc}") from None
    return resource
