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
from i18n import _


def locate(clients: RecordClients, record_id: bytes) -> tuple[RecordState, Anchor]:
    """The record's on-chain state and anchor (anchored on its own, or in a batch); refuses unknown and erased records."""
    if not isinstance(record_id, (bytes, bytearray)) or len(record_id) != 32:
        raise RecordNotFoundError(_("a record id is 32 bytes"))
    state = clients.records.state(bytes(record_id))
    if state is None:
        return locate_batched(clients, bytes(record_id))
    if state.erased:
        raise RecordErasedError(_("record 0x{record} was erased at the patient's request").format(record=bytes(record_id).hex()))
    anchor = clients.records.find_anchor(bytes(record_id))
    if anchor is None:  # stored word without an event: impossible unless the node drops logs
        raise RecordNotFoundError(_("record 0x{record} has no RecordAnchored event on this node").format(record=bytes(record_id).hex()))
    return state, anchor


def locate_batched(clients: RecordClients, record_id: bytes) -> tuple[RecordState, Anchor]:
    """A batch-anchored record: its anchor from the batch index, its state from the batch (time, author) and the
    contract's erasure marker for its leaf."""
    anchor = clients.batches.find(record_id)
    batch = clients.records.batch_state(anchor.batch.root) if anchor is not None and anchor.batch is not None else None
    if anchor is None or batch is None:
        raise RecordNotFoundError(_("no record 0x{record} is anchored on chain").format(record=record_id.hex()))
    erased = clients.records.is_batched_erased(anchor)
    if erased:
        raise RecordErasedError(_("record 0x{record} was erased at the patient's request").format(record=record_id.hex()))
    author, anchored_at, _root = batch
    return RecordState(patient=anchor.patient, category=anchor.category, anchored_at=anchored_at, erased=False, author=author), anchor


def decrypt(obj: RecordObject, private_key: HpkePrivateKey, wrap: bytes) -> bytes:
    """Unwrap the data key and decrypt; a failure means a damaged object or wrap (PayloadTamperedError)."""
    try:
        return obj.open(private_key, wrap)
    except CryptoError as exc:
        raise PayloadTamperedError(_("record 0x{record}: cannot decrypt: {reason}").format(record=obj.record_id.hex(), reason=exc)) from None


def parse_payload(obj: RecordObject, payload: bytes) -> dict[str, Any]:
    """Re-validate the decrypted FHIR resource (what the reader gets back)."""
    try:
        _model, resource = parse_stored(payload)
    except InvalidResourceError as exc:
        raise PayloadTamperedError(_("record 0x{record}: decrypted payload is not valid FHIR: {reason}").format(record=obj.record_id.hex(), reason=exc)) from None
    return resource
