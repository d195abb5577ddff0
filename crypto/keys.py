"""HPKE recipient key pairs for every suite in :mod:`crypto.suites`.

Serialized forms (all lengths fixed per suite, so parsing is strict):

Public key  = suite_id (1 byte) || raw public key
    0x01/0x03  X25519:           32-byte u-coordinate                    -> 33 bytes
    0x02       ML-KEM-768+X25519: ML-KEM-768 encapsulation key (1184)
                                 || X25519 public key (32)               -> 1217 bytes
    This is the value registered on chain as a member's / patient's "HPKE public key".

Private key = suite_id (1 byte) || raw secret
    0x01/0x03  X25519 private scalar (32)                                -> 33 bytes
    0x02       ML-KEM-768 seed d||z (64) || X25519 private scalar (32)   -> 97 bytes
    Only ever stored encrypted (see :mod:`crypto.keyfile`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Union

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from crypto.errors import KeyFormatError
from crypto.suites import DEFAULT_SUITE, KeyKind, SuiteId, SuiteSpec, suite_spec

X25519_LEN = 32
MLKEM768_PUBLIC_LEN = 1184
MLKEM768_SEED_LEN = 64

_PUBLIC_LEN = {KeyKind.X25519: X25519_LEN, KeyKind.MLKEM768_X25519: MLKEM768_PUBLIC_LEN + X25519_LEN}
_PRIVATE_LEN = {KeyKind.X25519: X25519_LEN, KeyKind.MLKEM768_X25519: MLKEM768_SEED_LEN + X25519_LEN}

LibraryPublicKey = Union[x25519.X25519PublicKey, hpke.MLKEM768X25519PublicKey]
LibraryPrivateKey = Union[x25519.X25519PrivateKey, hpke.MLKEM768X25519PrivateKey]


def _split_suite(data: bytes, what: str) -> tuple[SuiteSpec, bytes]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise KeyFormatError(f"{what} must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise KeyFormatError(f"{what} is empty")
    return suite_spec(data[0]), data[1:]


@dataclass(frozen=True)
class HpkePublicKey:
    """A recipient public key bound to one suite."""

    suite: SuiteId
    raw: bytes  # raw key bytes without the suite prefix
    _key: LibraryPublicKey = field(repr=False, compare=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> HpkePublicKey:
        """Parse ``suite_id || raw``; raises :class:`KeyFormatError` on any defect."""
        spec, raw = _split_suite(data, "HPKE public key")
        expected = _PUBLIC_LEN[spec.key_kind]
        if len(raw) != expected:
            raise KeyFormatError(
                f"HPKE public key for suite {spec.name} must be {expected + 1} bytes, got {len(raw) + 1}"
            )
        try:
            key: LibraryPublicKey
            if spec.key_kind is KeyKind.X25519:
                key = x25519.X25519PublicKey.from_public_bytes(raw)
            else:
                key = hpke.MLKEM768X25519PublicKey(
                    mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM768_PUBLIC_LEN]),
                    x25519.X25519PublicKey.from_public_bytes(raw[MLKEM768_PUBLIC_LEN:]),
                )
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFormatError(f"invalid {spec.name} public key: {exc}") from None
        return cls(spec.suite_id, raw, key)

    @classmethod
    def from_hex(cls, text: str) -> HpkePublicKey:
        try:
            return cls.from_bytes(bytes.fromhex(text.removeprefix("0x")))
        except ValueError as exc:
            if isinstance(exc, KeyFormatError):
                raise
            raise KeyFormatError(f"HPKE public key is not valid hex: {exc}") from None

    def to_bytes(self) -> bytes:
        return bytes([self.suite]) + self.raw

    def to_hex(self) -> str:
        return "0x" + self.to_bytes().hex()

    @property
    def spec(self) -> SuiteSpec:
        return suite_spec(self.suite)

    def library_key(self) -> LibraryPublicKey:
        return self._key


class HpkePrivateKey:
    """A recipient private key; never printed, compared in constant time."""

    __slots__ = ("_suite", "_raw", "_key", "_public")

    def __init__(self, suite: SuiteId, raw: bytes, key: LibraryPrivateKey, public: HpkePublicKey) -> None:
        self._suite = suite
        self._raw = raw
        self._key = key
        self._public = public

    @classmethod
    def generate(cls, suite: SuiteId | int = DEFAULT_SUITE) -> HpkePrivateKey:
        spec = suite_spec(suite)
        xk = x25519.X25519PrivateKey.generate()
        raw = xk.private_bytes_raw()
        if spec.key_kind is KeyKind.MLKEM768_X25519:
            raw = mlkem.MLKEM768PrivateKey.generate().private_bytes_raw() + raw
        return cls.from_bytes(bytes([spec.suite_id]) + raw)

    @classmethod
    def from_bytes(cls, data: bytes) -> HpkePrivateKey:
        spec, raw = _split_suite(data, "HPKE private key")
        expected = _PRIVATE_LEN[spec.key_kind]
        if len(raw) != expected:
            raise KeyFormatError(
                f"HPKE private key for suite {spec.name} must be {expected + 1} bytes, got {len(raw) + 1}"
            )
        try:
            if spec.key_kind is KeyKind.X25519:
                xk = x25519.X25519PrivateKey.from_private_bytes(raw)
                key: LibraryPrivateKey = xk
                pub_raw = xk.public_key().public_bytes_raw()
                pub_key: LibraryPublicKey = xk.public_key()
            else:
                mk = mlkem.MLKEM768PrivateKey.from_seed_bytes(raw[:MLKEM768_SEED_LEN])
                xk = x25519.X25519PrivateKey.from_private_bytes(raw[MLKEM768_SEED_LEN:])
                hk = hpke.MLKEM768X25519PrivateKey(mk, xk)
                key = hk
                pub_raw = mk.public_key().public_bytes_raw() + xk.public_key().public_bytes_raw()
                pub_key = hk.public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFormatError(f"invalid {spec.name} private key: {exc}") from None
        public = HpkePublicKey(spec.suite_id, pub_raw, pub_key)
        return cls(spec.suite_id, raw, key, public)

    @property
    def suite(self) -> SuiteId:
        return self._suite

    @property
    def spec(self) -> SuiteSpec:
        return suite_spec(self._suite)

    def public_key(self) -> HpkePublicKey:
        return self._public

    def to_bytes(self) -> bytes:
        """Secret bytes: only for encrypting into a key file."""
        return bytes([self._suite]) + self._raw

    def library_key(self) -> LibraryPrivateKey:
        return self._key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HpkePrivateKey):
            return NotImplemented
        return hmac.compare_digest(self.to_bytes(), other.to_bytes())

    def __hash__(self) -> int:
        return hash(self._public.to_bytes())

    def __repr__(self) -> str:
        return f"HpkePrivateKey(suite={self._suite.name}, public={self._public.to_hex()[:18]}...)"
