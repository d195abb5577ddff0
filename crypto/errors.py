"""One exception hierarchy for everything in :mod:`crypto`.

Callers catch :class:`CryptoError` (or a subclass); raw library exceptions
(``InvalidTag``, ``ValueError`` from key parsing, ``TypeError`` from HPKE key
mismatches ...) never escape this package.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class of every error raised by the ``crypto`` package."""


class InvalidContextError(CryptoError, ValueError):
    """A :class:`~crypto.context.RecordContext` field is malformed."""


class KeyFormatError(CryptoError, ValueError):
    """Serialized key bytes are malformed or name an unknown suite."""


class EnvelopeFormatError(CryptoError, ValueError):
    """An envelope or key wrap is structurally invalid (magic, version, length, suite)."""


class DecryptionError(CryptoError):
    """Authentication failed: tampered bytes, another record's context, or a wrong key."""


class WrongKeyError(DecryptionError):
    """The key supplied cannot be the right one (e.g. its suite differs from the wrap's)."""


class KeyFileError(CryptoError):
    """Base class for key-file problems."""


class KeyFileFormatError(KeyFileError, ValueError):
    """The key file is not a valid healthsilk key file (or an unsupported version)."""


class WrongPasswordError(KeyFileError):
    """The password does not decrypt the key file."""


class KeyFileExistsError(KeyFileError, FileExistsError):
    """Refused to overwrite an existing key file."""
