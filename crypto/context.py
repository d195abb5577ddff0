"""The record context every ciphertext and key wrap is bound to.

``RecordContext.encode()`` is the canonical 57-byte encoding used both in
the envelope's AES-GCM associated data and in the HPKE ``info`` of key
wraps, so neither can be moved onto another record, patient, category or
version::

    record_id (32) || patient address (20) || category (uint8, 1) || version (uint32 BE, 4)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eth_utils import to_checksum_address

from crypto.errors import InvalidContextError

RECORD_ID_LEN = 32
ENCODED_LEN = 32 + 20 + 1 + 4
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_ZERO_ADDRESS = "0x" + "0" * 40


def normalize_address(value: object, what: str = "address") -> str:
    """Return the EIP-55 checksum form; reject malformed or wrongly checksummed input."""
    if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
        raise InvalidContextError(f"{what} must be a 0x-prefixed 20-byte hex address, got {value!r}")
    checksummed = to_checksum_address(value)
    body = value[2:]
    # Mixed case means the writer claimed an EIP-55 checksum: it must be right.
    if body != body.lower() and body != body.upper() and value != checksummed:
        raise InvalidContextError(f"{what} {value} has an invalid EIP-55 checksum")
    if checksummed == _ZERO_ADDRESS:
        raise InvalidContextError(f"{what} must not be the zero address")
    return checksummed


def _check_uint(value: object, bits: int, what: str) -> int:
    # bool is an int subclass; True as a category is a bug, not a code.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidContextError(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value < (1 << bits):
        raise InvalidContextError(f"{what} must fit in uint{bits}, got {value}")
    return value


@dataclass(frozen=True)
class RecordContext:
    """Identity of one record version: what a ciphertext and its key wraps belong to."""

    record_id: bytes
    patient: str
    category: int
    version: int

    def __post_init__(self) -> None:
        rid = self.record_id
        if not isinstance(rid, (bytes, bytearray, memoryview)):
            raise InvalidContextError(f"record_id must be bytes, got {type(rid).__name__}")
        rid = bytes(rid)  # normalise HexBytes / bytearray to plain bytes
        if len(rid) != RECORD_ID_LEN:
            raise InvalidContextError(f"record_id must be exactly 32 bytes, got {len(rid)}")
        object.__setattr__(self, "record_id", rid)
        object.__setattr__(self, "patient", normalize_address(self.patient, "patient"))
        _check_uint(self.category, 8, "category")
        _check_uint(self.version, 32, "version")

    def encode(self) -> bytes:
        """Canonical fixed-length encoding (see module docstring)."""
        return (
            self.record_id
            + bytes.fromhex(self.patient[2:])
            + self.category.to_bytes(1, "big")
            + self.version.to_bytes(4, "big")
        )
