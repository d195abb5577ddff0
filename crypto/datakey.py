"""The per-record 256-bit data key."""

from __future__ import annotations

import hmac
import os

from crypto.errors import KeyFormatError

DATA_KEY_LEN = 32


class DataKey:
    """A random AES-256 key for one record version; hidden from repr, compared in constant time."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray, memoryview)):
            raise KeyFormatError(f"data key must be bytes, got {type(key).__name__}")
        key = bytes(key)
        if len(key) != DATA_KEY_LEN:
            raise KeyFormatError(f"data key must be {DATA_KEY_LEN} bytes, got {len(key)}")
        self._key = key

    @classmethod
    def generate(cls) -> DataKey:
        return cls(os.urandom(DATA_KEY_LEN))

    def to_bytes(self) -> bytes:
        return self._key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataKey):
            return NotImplemented
        return hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return "DataKey(<secret>)"
