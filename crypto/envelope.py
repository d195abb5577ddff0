"""Record envelopes: a record payload encrypted under its own data key.

Envelope format, version 1 (all integers big-endian)::

    offset  size  field
    0       4     magic  b"HSEV"
    4       1     format version = 0x01
    5       12    nonce (random)
    17      n+16  AES-256-GCM ciphertext of the n-byte payload || 16-byte tag

    associated data = magic || version || RecordContext.encode()
                    = b"HSEV" 01 || record_id(32) || patient(20) || category(1) || version(4 BE)

The key is a fresh random 256-bit :class:`~crypto.datakey.DataKey` per record
version (``seal`` never reuses one), so the random nonce is used once per key.
Binding the header and the record context in the associated data means an
envelope can't be replayed under another record, patient, category or version,
nor re-labelled with another format version: every such attempt fails
authentication.  Overhead: 33 bytes.

The data key reaches readers through HPKE key wraps (:mod:`crypto.wrap`).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.context import RecordContext
from crypto.datakey import DataKey
from crypto.errors import CryptoError, DecryptionError, EnvelopeFormatError

MAGIC = b"HSEV"
VERSION = 1
NONCE_LEN = 12
TAG_LEN = 16
HEADER_LEN = len(MAGIC) + 1 + NONCE_LEN
OVERHEAD = HEADER_LEN + TAG_LEN


def _aad(context: RecordContext) -> bytes:
    return MAGIC + bytes([VERSION]) + context.encode()


def _check_context(context: object) -> RecordContext:
    if not isinstance(context, RecordContext):
        raise CryptoError(f"context must be a RecordContext, got {type(context).__name__}")
    return context


def seal(plaintext: bytes, context: RecordContext) -> tuple[bytes, DataKey]:
    """Encrypt ``plaintext`` for ``context`` under a fresh data key; return (envelope, key)."""
    if not isinstance(plaintext, (bytes, bytearray, memoryview)):
        raise CryptoError(f"plaintext must be bytes, got {type(plaintext).__name__}")
    context = _check_context(context)
    key = DataKey.generate()
    nonce = os.urandom(NONCE_LEN)
    try:
        ct = AESGCM(key.to_bytes()).encrypt(nonce, bytes(plaintext), _aad(context))
    except OverflowError as exc:  # AESGCM caps a single message at 2**31 - 1 bytes
        raise CryptoError(f"payload too large to seal: {exc}") from None
    return MAGIC + bytes([VERSION]) + nonce + ct, key


def parse_header(envelope: bytes) -> tuple[int, bytes, bytes]:
    """Split and validate an envelope; return (version, nonce, ciphertext_with_tag)."""
    if not isinstance(envelope, (bytes, bytearray, memoryview)):
        raise EnvelopeFormatError(f"envelope must be bytes, got {type(envelope).__name__}")
    envelope = bytes(envelope)
    if len(envelope) < OVERHEAD:
        raise EnvelopeFormatError(f"envelope too short: {len(envelope)} bytes, minimum is {OVERHEAD}")
    if envelope[:4] != MAGIC:
        raise EnvelopeFormatError("not a healthsilk envelope (bad magic bytes)")
    version = envelope[4]
    if version != VERSION:
        raise EnvelopeFormatError(f"unsupported envelope version {version} (this build reads {VERSION})")
    return version, envelope[5:HEADER_LEN], envelope[HEADER_LEN:]


def open_envelope(envelope: bytes, context: RecordContext, data_key: DataKey) -> bytes:
    """Decrypt and authenticate; any tampering, other context or wrong key raises DecryptionError."""
    context = _check_context(context)
    if not isinstance(data_key, DataKey):
        raise CryptoError(f"data_key must be a DataKey, got {type(data_key).__name__}")
    _, nonce, ct = parse_header(envelope)
    try:
        return AESGCM(data_key.to_bytes()).decrypt(nonce, ct, _aad(context))
    except InvalidTag:
        raise DecryptionError(
            "envelope failed authentication: wrong data key, a different record context "
            "(record id, patient, category, version), or tampered ciphertext"
        ) from None
