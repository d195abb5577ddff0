"""The record object container (crypto/record_object.py): canonical bytes, strict parsing, binding."""

from __future__ import annotations

import json
import os
import struct

import pytest

from crypto.errors import DecryptionError, EnvelopeFormatError
from crypto.keys import HpkePrivateKey
from crypto.record_object import MAGIC, PREFIX_LEN, RecordObject, seal_record

PATIENT = "0x52908400098527886E0F7030069857D2E4169EE7"
AUTHOR = "0x8617E340B3D01FA5F11F306F4090FD50E238070D"


def sealed(payload: bytes = b'{"resourceType":"Observation"}') -> tuple[RecordObject, HpkePrivateKey, HpkePrivateKey]:
    patient_key, author_key = HpkePrivateKey.generate(), HpkePrivateKey.generate(2)
    obj, _ = seal_record(
        payload, record_id=os.urandom(32), patient=PATIENT.lower(), author=AUTHOR, category=2, version=1,
        recipients={PATIENT: patient_key.public_key(), AUTHOR.lower(): author_key.public_key()},
    )
    return obj, patient_key, author_key


def split(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack(">I", data[5:PREFIX_LEN])
    return json.loads(data[PREFIX_LEN : PREFIX_LEN + length]), data[PREFIX_LEN + length :]


def join(header: dict, envelope: bytes, **dump: object) -> bytes:
    raw = json.dumps(header, **({"sort_keys": True, "separators": (",", ":")} | dump)).encode()  # type: ignore[arg-type]
    return MAGIC + b"\x01" + struct.pack(">I", len(raw)) + raw + envelope


def test_round_trip_and_every_recipient_opens() -> None:
    obj, patient_key, author_key = sealed()
    data = obj.encode()
    again = RecordObject.decode(data)
    assert again == obj and again.encode() == data
    assert again.patient == PATIENT and list(again.wraps) == sorted([PATIENT, AUTHOR])
    assert again.open(patient_key, again.wrap_for(PATIENT.lower())) == b'{"resourceType":"Observation"}'  # type: ignore[arg-type]
    assert again.open(author_key, again.wraps[AUTHOR]) == b'{"resourceType":"Observation"}'
    assert len(data) - len(obj.envelope) < 3200  # header: ~300 B + hex of an 82 B and a 1170 B (hybrid) wrap


def test_non_canonical_or_malformed_objects_are_refused() -> None:
    obj, _, _ = sealed()
    header, envelope = split(obj.encode())
    with pytest.raises(EnvelopeFormatError, match="canonical"):
        RecordObject.decode(join(header, envelope, separators=(", ", ": ")))
    with pytest.raises(EnvelopeFormatError, match="magic"):
        RecordObject.decode(b"XXXX" + obj.encode()[4:])
    with pytest.raises(EnvelopeFormatError, match="version 2"):
        RecordObject.decode(MAGIC + b"\x02" + obj.encode()[5:])
    with pytest.raises(EnvelopeFormatError, match="out of range"):
        RecordObject.decode(obj.encode()[: PREFIX_LEN + 10])
    with pytest.raises(EnvelopeFormatError, match="exactly the fields"):
        RecordObject.decode(join({**header, "extra": 1}, envelope))
    with pytest.raises(EnvelopeFormatError, match="category"):
        RecordObject.decode(join({**header, "category": 300}, envelope))
    with pytest.raises(EnvelopeFormatError, match="key wrap"):
        RecordObject.decode(join({**header, "wraps": {PATIENT: "0x0101"}}, envelope))
    with pytest.raises(EnvelopeFormatError, match="at least one key wrap"):
        RecordObject.decode(join({**header, "wraps": {}}, envelope))


def test_ciphertext_and_wraps_are_bound_to_the_record() -> None:
    obj, patient_key, _ = sealed()
    header, envelope = split(obj.encode())
    # Relabel the version (or record id): envelope AAD and HPKE info no longer match.
    moved = RecordObject.decode(join({**header, "version": 2}, envelope))
    with pytest.raises(DecryptionError):
        moved.open(patient_key, moved.wraps[PATIENT])
    damaged = bytearray(envelope)
    damaged[-1] ^= 1
    tampered = RecordObject.decode(join(header, bytes(damaged)))
    with pytest.raises(DecryptionError):
        tampered.open(patient_key, tampered.wraps[PATIENT])
