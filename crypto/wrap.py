"""HPKE key wraps: a record's data key encrypted to one recipient (RFC 9180, base mode).

Wrap format, version 1::

    offset  size   field
    0       1      wrap format version = 0x01
    1       1      suite id (see crypto.suites)
    2       Nenc   HPKE encapsulated key (32 for X25519, 1120 for ML-KEM-768+X25519)
    2+Nenc  48     HPKE ciphertext of the 32-byte data key || 16-byte tag

    HPKE info = b"healthsilk/key-wrap" || version || suite id || RecordContext.encode()

``info`` enters the HPKE key schedule, so a wrap made for record A can't be
unwrapped as record B (or another patient / category / version): the
recipient's derived key differs and the AEAD tag fails.  Sizes: 82 bytes
(X25519 suites), 1170 bytes (ML-KEM-768+X25519).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag

from crypto.context import RecordContext
from crypto.datakey import DATA_KEY_LEN, DataKey
from crypto.errors import CryptoError, DecryptionError, EnvelopeFormatError, KeyFormatError, WrongKeyError
from crypto.keys import HpkePrivateKey, HpkePublicKey
from crypto.suites import SuiteSpec, suite_spec

WRAP_VERSION = 1
INFO_LABEL = b"healthsilk/key-wrap"
HEADER_LEN = 2
CT_LEN = DATA_KEY_LEN + 16


def wrap_length(suite: int) -> int:
    """Exact byte length of a version-1 wrap for ``suite``."""
    return HEADER_LEN + suite_spec(suite).enc_length + CT_LEN


def _info(spec: SuiteSpec, context: RecordContext) -> bytes:
    return INFO_LABEL + bytes([WRAP_VERSION, spec.suite_id]) + context.encode()


def _check_context(context: object) -> RecordContext:
    if not isinstance(context, RecordContext):
        raise CryptoError(f"context must be a RecordContext, got {type(context).__name__}")
    return context


def _as_public_key(key: HpkePublicKey | bytes) -> HpkePublicKey:
    if isinstance(key, HpkePublicKey):
        return key
    if isinstance(key, (bytes, bytearray, memoryview)):
        return HpkePublicKey.from_bytes(bytes(key))  # e.g. straight from the on-chain registry
    raise KeyFormatError(f"recipient key must be an HpkePublicKey or bytes, got {type(key).__name__}")


def wrap_key(data_key: DataKey, context: RecordContext, recipient: HpkePublicKey | bytes) -> bytes:
    """Encrypt ``data_key`` to ``recipient`` for ``context``; returns the serialized wrap."""
    if not isinstance(data_key, DataKey):
        raise CryptoError(f"data_key must be a DataKey, got {type(data_key).__name__}")
    context = _check_context(context)
    pub = _as_public_key(recipient)
    spec = pub.spec
    try:
        body = spec.hpke_suite().encrypt(data_key.to_bytes(), pub.library_key(), info=_info(spec, context))
    except (ValueError, TypeError) as exc:  # e.g. a low-order X25519 point gives an all-zero secret
        raise KeyFormatError(f"cannot wrap to this {spec.name} public key: {exc}") from None
    return bytes([WRAP_VERSION, spec.suite_id]) + body


def parse_wrap(wrap: bytes) -> tuple[SuiteSpec, bytes]:
    """Validate the header and length; return (suite, HPKE enc||ct)."""
    if not isinstance(wrap, (bytes, bytearray, memoryview)):
        raise EnvelopeFormatError(f"key wrap must be bytes, got {type(wrap).__name__}")
    wrap = bytes(wrap)
    if len(wrap) < HEADER_LEN:
        raise EnvelopeFormatError(f"key wrap too short: {len(wrap)} bytes")
    if wrap[0] != WRAP_VERSION:
        raise EnvelopeFormatError(f"unsupported key wrap version {wrap[0]} (this build reads {WRAP_VERSION})")
    try:
        spec = suite_spec(wrap[1])
    except KeyFormatError as exc:
        raise EnvelopeFormatError(f"key wrap names an {exc}") from None
    expected = HEADER_LEN + spec.enc_length + CT_LEN
    if len(wrap) != expected:
        raise EnvelopeFormatError(f"key wrap for suite {spec.name} must be {expected} bytes, got {len(wrap)}")
    return spec, wrap[HEADER_LEN:]


def unwrap_key(wrap: bytes, context: RecordContext, private_key: HpkePrivateKey) -> DataKey:
    """Recover the data key; wrong key, other context or tampering raise DecryptionError."""
    context = _check_context(context)
    if not isinstance(private_key, HpkePrivateKey):
        raise CryptoError(f"private_key must be an HpkePrivateKey, got {type(private_key).__name__}")
    spec, body = parse_wrap(wrap)
    if spec.suite_id != private_key.suite:
        raise WrongKeyError(
            f"key wrap is for suite {spec.name} but the private key is for suite {private_key.spec.name}"
        )
    try:
        key = spec.hpke_suite().decrypt(body, private_key.library_key(), info=_info(spec, context))
    except (InvalidTag, ValueError, TypeError):
        raise DecryptionError(
            "cannot unwrap data key: not wrapped to this key, a different record context, or tampered wrap"
        ) from None
    return DataKey(key)


def rewrap(
    wrap: bytes,
    context: RecordContext,
    own_private_key: HpkePrivateKey,
    new_recipient: HpkePublicKey | bytes,
) -> bytes:
    """Unwrap with our own key and wrap the same data key to ``new_recipient`` (a new grantee)."""
    return wrap_key(unwrap_key(wrap, context, own_private_key), context, new_recipient)
