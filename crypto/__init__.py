"""healthsilk cryptography: record envelopes, HPKE key wrapping, key files.

See ``crypto/README.md`` for the byte formats.
"""

from crypto.context import RecordContext, normalize_address
from crypto.datakey import DataKey
from crypto.envelope import open_envelope, seal
from crypto.errors import (
    CryptoError,
    DecryptionError,
    EnvelopeFormatError,
    InvalidContextError,
    KeyFileError,
    KeyFileExistsError,
    KeyFileFormatError,
    KeyFormatError,
    WrongKeyError,
    WrongPasswordError,
)
from crypto.keyfile import Identity, KeyFile, create_identity, load
from crypto.keys import HpkePrivateKey, HpkePublicKey
from crypto.suites import DEFAULT_SUITE, SUITES, SuiteId
from crypto.wrap import rewrap, unwrap_key, wrap_key, wrap_length

__all__ = [
    "DEFAULT_SUITE",
    "SUITES",
    "CryptoError",
    "DataKey",
    "DecryptionError",
    "EnvelopeFormatError",
    "HpkePrivateKey",
    "HpkePublicKey",
    "Identity",
    "InvalidContextError",
    "KeyFile",
    "KeyFileError",
    "KeyFileExistsError",
    "KeyFileFormatError",
    "KeyFormatError",
    "RecordContext",
    "SuiteId",
    "WrongKeyError",
    "WrongPasswordError",
    "create_identity",
    "load",
    "normalize_address",
    "open_envelope",
    "rewrap",
    "seal",
    "unwrap_key",
    "wrap_key",
    "wrap_length",
]
