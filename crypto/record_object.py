"""The record object: what goes to IPFS and whose sha256 (and CID) the chain anchors.

Format version 1 (integers big-endian)::

    offset  size  field
    0       4     magic b"HSRO"
    4       1     format version = 0x01
    5       4     header length H (uint32)
    9       H     header: canonical JSON (see below)
    9+H     rest  the sealed envelope (crypto.envelope, format 1) of the record payload

Header (UTF-8 JSON, keys sorted, no whitespace, ASCII only; parsing re-encodes and refuses any
other spelling, so one record has exactly one byte form)::

    {"author": "0x<EIP-55>", "category": <uint8 code>, "mediaType": "application/fhir+json",
     "patient": "0x<EIP-55>", "recordId": "0x<64 hex>", "supersedes": "0x<64 hex, zero = none>",
     "version": <uint32 record version, 1 or previous + 1>,
     "wraps": {"0x<EIP-55 recipient>": "0x<crypto.wrap v1 bytes>", ...}}

The envelope and every wrap are bound to ``RecordContext(recordId, patient, category, version)``
(AES-GCM associated data / HPKE info), so neither can be moved onto another record.  The other
header fields (author, supersedes, media type, the wrap table) are covered by the sha256 of the
whole object that the author anchors on chain.  The payload stays a binary tail (no base64), so a
1 MiB record costs 1 MiB + a few hundred bytes in IPFS.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from crypto.context import RecordContext, normalize_address
from crypto.datakey import DataKey
from crypto.envelope import OVERHEAD as ENVELOPE_OVERHEAD
from crypto.envelope import open_envelope, seal
from crypto.errors import CryptoError, EnvelopeFormatError, InvalidContextError
from crypto.keys import HpkePrivateKey, HpkePublicKey
from crypto.wrap import parse_wrap, unwrap_key, wrap_key

MAGIC = b"HSRO"
FORMAT_VERSION = 1
PREFIX_LEN = len(MAGIC) + 1 + 4
MAX_HEADER_LEN = 4 * 1024 * 1024  # ~3,000 hybrid-suite wraps; refuse absurd headers before parsing
FHIR_JSON = "application/fhir+json"
ZERO_ID = bytes(32)
_HEX32 = re.compile(r"0x[0-9a-f]{64}")
_HEX = re.compile(r"0x(?:[0-9a-f]{2})+")
_FIELDS = {"author", "category", "mediaType", "patient", "recordId", "supersedes", "version", "wraps"}


@dataclass(frozen=True)
class RecordObject:
    """One record version as stored in IPFS: header fields, recipients' key wraps, sealed envelope."""

    record_id: bytes
    patient: str
    author: str
    category: int
    version: int
    supersedes: bytes
    media_type: str
    wraps: Mapping[str, bytes]
    envelope: bytes = field(repr=False)

    def __post_init__(self) -> None:
        # RecordContext validates record id, patient, category and version for us.
        ctx = RecordContext(self.record_id, self.patient, self.category, self.version)
        object.__setattr__(self, "record_id", ctx.record_id)
        object.__setattr__(self, "patient", ctx.patient)
        object.__setattr__(self, "author", normalize_address(self.author, "author"))
        if not isinstance(self.supersedes, (bytes, bytearray)) or len(self.supersedes) != 32:
            raise InvalidContextError("supersedes must be 32 bytes (zero for a first version)")
        object.__setattr__(self, "supersedes", bytes(self.supersedes))
        if not isinstance(self.media_type, str) or not self.media_type or not self.media_type.isascii():
            raise EnvelopeFormatError("media type must be a non-empty ASCII string")
        wraps: dict[str, bytes] = {}
        for address, wrap in self.wraps.items():
            parse_wrap(wrap)  # header, suite and length are valid
            wraps[normalize_address(address, "wrap recipient")] = bytes(wrap)
        if not wraps:
            raise EnvelopeFormatError("a record object needs at least one key wrap")
        object.__setattr__(self, "wraps", dict(sorted(wraps.items())))
        if not isinstance(self.envelope, (bytes, bytearray)) or len(self.envelope) < ENVELOPE_OVERHEAD:
            raise EnvelopeFormatError("record object envelope is missing or too short")
        object.__setattr__(self, "envelope", bytes(self.envelope))

    @property
    def context(self) -> RecordContext:
        return RecordContext(self.record_id, self.patient, self.category, self.version)

    # -- byte form ----------------------------------------------------------------------------
    def header_bytes(self) -> bytes:
        header = {
            "author": self.author,
            "category": self.category,
            "mediaType": self.media_type,
            "patient": self.patient,
            "recordId": "0x" + self.record_id.hex(),
            "supersedes": "0x" + self.supersedes.hex(),
            "version": self.version,
            "wraps": {address: "0x" + wrap.hex() for address, wrap in self.wraps.items()},
        }
        return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")

    def encode(self) -> bytes:
        header = self.header_bytes()
        return MAGIC + bytes([FORMAT_VERSION]) + struct.pack(">I", len(header)) + header + self.envelope

    @classmethod
    def decode(cls, data: bytes) -> RecordObject:
        """Parse and validate; any defect (or a non-canonical header) raises EnvelopeFormatError."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise EnvelopeFormatError(f"record object must be bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) < PREFIX_LEN or data[:4] != MAGIC:
            raise EnvelopeFormatError("not a healthsilk record object (bad magic bytes)")
        if data[4] != FORMAT_VERSION:
            raise EnvelopeFormatError(f"unsupported record object version {data[4]} (this build reads {FORMAT_VERSION})")
        (header_len,) = struct.unpack(">I", data[5:PREFIX_LEN])
        if header_len > MAX_HEADER_LEN or PREFIX_LEN + header_len > len(data):
            raise EnvelopeFormatError(f"record object header length {header_len} is out of range")
        raw = data[PREFIX_LEN : PREFIX_LEN + header_len]
        try:
            header = orjson.loads(raw.decode("ascii"))  # bounded nesting: a tampered header must not crash the reader
        except (UnicodeDecodeError, ValueError) as exc:
            raise EnvelopeFormatError(f"record object header is not ASCII JSON: {exc}") from None
        obj = cls._from_header(header, data[PREFIX_LEN + header_len :])
        if obj.header_bytes() != raw:
            raise EnvelopeFormatError("record object header is not in canonical form")
        return obj

    @classmethod
    def _from_header(cls, header: object, envelope: bytes) -> RecordObject:
        if not isinstance(header, dict) or set(header) != _FIELDS:
            raise EnvelopeFormatError(f"record object header must have exactly the fields {sorted(_FIELDS)}")
        wraps = header["wraps"]
        if not isinstance(wraps, dict):
            raise EnvelopeFormatError("record object wraps must be an object")
        try:
            return cls(
                record_id=_hex32(header["recordId"], "recordId"),
                patient=header["patient"],
                author=header["author"],
                category=header["category"],
                version=header["version"],
                supersedes=_hex32(header["supersedes"], "supersedes"),
                media_type=header["mediaType"],
                wraps={address: _hex(wrap, "wrap") for address, wrap in wraps.items()},
                envelope=envelope,
            )
        except InvalidContextError as exc:
            raise EnvelopeFormatError(f"record object header: {exc}") from None

    # -- crypto ---------------------------------------------------------------------------------
    def wrap_for(self, address: str) -> bytes | None:
        return self.wraps.get(normalize_address(address, "reader"))

    def open(self, private_key: HpkePrivateKey, wrap: bytes) -> bytes:
        """Unwrap the data key with ``private_key`` and decrypt the payload (DecryptionError if not ours)."""
        ctx = self.context
        return open_envelope(self.envelope, ctx, unwrap_key(wrap, ctx, private_key))


def seal_record(
    payload: bytes,
    *,
    record_id: bytes,
    patient: str,
    author: str,
    category: int,
    version: int,
    recipients: Mapping[str, HpkePublicKey | bytes],
    supersedes: bytes = ZERO_ID,
    media_type: str = FHIR_JSON,
) -> tuple[RecordObject, DataKey]:
    """Seal ``payload`` under a fresh data key wrapped to every recipient (address -> HPKE public key)."""
    if not recipients:
        raise CryptoError("a record needs at least one recipient")
    ctx = RecordContext(record_id, patient, category, version)
    envelope, data_key = seal(payload, ctx)
    wraps = {address: wrap_key(data_key, ctx, key) for address, key in recipients.items()}
    obj = RecordObject(ctx.record_id, ctx.patient, author, category, version, supersedes, media_type, wraps, envelope)
    return obj, data_key


def _hex32(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX32.fullmatch(value):
        raise EnvelopeFormatError(f"record object {what} must be 0x + 64 lowercase hex digits")
    return bytes.fromhex(value[2:])


def _hex(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise EnvelopeFormatError(f"record object {what} must be 0x-prefixed lowercase hex")
    return bytes.fromhex(value[2:])
