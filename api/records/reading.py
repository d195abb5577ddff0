"""Steps every read shares (institution or patient): locate the anchor, fetch and verify, decrypt."""

from __future__ import annotations

from typing import Any

from api.records.clients import RecordClients
from api.records.errors import InvalidResourceError, PayloadTamperedError, RecordErasedError, RecordNotFoundError
from api.records.fhir import parse_stored
from crypto import CryptoError, HpkePrivateKey
from crypto.record_object import RecordObject
from ledger.records import Anchor, RecordState


def locate(clients: RecordClients, record_id: bytes) -> tuple[RecordState, Anchor]:
    """The record's on-chain state and anchor; refuses unknown and erased records."""
    if not isinstance(record_id, (bytes, bytearray)) or len(record_id) != 32:
        raise RecordNotFoundError("a record id is 32 bytes")
    state = clients.records.state(bytes(record_id))
    if state is None:
        raise RecordNotFoundError(f"no record 0x{bytes(record_id).hex()} is anchored on chain")
    if state.erased:
        raise RecordErasedError(f"record 0x{bytes(record_id).hex()} was erased at the patient's request")
    anchor = clients.records.find_anchor(bytes(record_id))
    if anchor is None:  # stored word without an event: impossible unless the node drops logs
        raise RecordNotFoundError(f"record 0x{bytes(record_id).hex()} has no RecordAnchored event on this node")
    return state, anchor


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
