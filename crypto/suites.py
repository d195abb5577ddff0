"""HPKE cipher suites, each named by a one-byte id.

The id is what travels: it prefixes serialized public keys (the "HPKE public
key" stored on chain) and is the second byte of every key wrap, so a reader
always knows which KEM/KDF/AEAD produced the bytes.  New suites get new ids;
existing ids never change meaning.

====  =============================  ===========  ==================
 id   KEM                            KDF          AEAD
====  =============================  ===========  ==================
0x01  DHKEM(X25519, HKDF-SHA256)     HKDF-SHA256  AES-256-GCM
0x02  ML-KEM-768 + X25519 (hybrid)   HKDF-SHA256  AES-256-GCM
0x03  DHKEM(X25519, HKDF-SHA256)     HKDF-SHA256  ChaCha20-Poly1305
====  =============================  ===========  ==================

0x02 is post-quantum: the shared secret stays safe unless *both* ML-KEM-768
and X25519 are broken (RFC 9180 HPKE with the MLKEM768-X25519 KEM of
cryptography >= 47).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.hazmat.primitives import hpke

from crypto.errors import KeyFormatError


class KeyKind(enum.Enum):
    """Which private/public key type a suite's KEM uses."""

    X25519 = "x25519"
    MLKEM768_X25519 = "mlkem768-x25519"


class SuiteId(enum.IntEnum):
    """Stable one-byte identifiers; see the module table."""

    X25519_AES256GCM = 0x01
    MLKEM768X25519_AES256GCM = 0x02
    X25519_CHACHA20POLY1305 = 0x03


@dataclass(frozen=True)
class SuiteSpec:
    """Everything needed to run HPKE for one :class:`SuiteId`."""

    suite_id: SuiteId
    name: str
    key_kind: KeyKind
    kem: hpke.KEM
    kdf: hpke.KDF
    aead: hpke.AEAD
    enc_length: int  # bytes of the KEM encapsulation at the front of Suite.encrypt output

    def hpke_suite(self) -> hpke.Suite:
        return hpke.Suite(self.kem, self.kdf, self.aead)


def _spec(sid: SuiteId, name: str, kind: KeyKind, kem: hpke.KEM, aead: hpke.AEAD) -> SuiteSpec:
    return SuiteSpec(sid, name, kind, kem, hpke.KDF.HKDF_SHA256, aead, kem.enc_length())


SUITES: dict[SuiteId, SuiteSpec] = {
    s.suite_id: s
    for s in (
        _spec(SuiteId.X25519_AES256GCM, "X25519-HKDF-SHA256-AES-256-GCM",
              KeyKind.X25519, hpke.KEM.X25519, hpke.AEAD.AES_256_GCM),
        _spec(SuiteId.MLKEM768X25519_AES256GCM, "MLKEM768X25519-HKDF-SHA256-AES-256-GCM",
              KeyKind.MLKEM768_X25519, hpke.KEM.MLKEM768_X25519, hpke.AEAD.AES_256_GCM),
        _spec(SuiteId.X25519_CHACHA20POLY1305, "X25519-HKDF-SHA256-ChaCha20Poly1305",
              KeyKind.X25519, hpke.KEM.X25519, hpke.AEAD.CHACHA20_POLY1305),
    )
}

DEFAULT_SUITE = SuiteId.X25519_AES256GCM


def suite_spec(suite: SuiteId | int) -> SuiteSpec:
    """Look a suite up by id; unknown ids raise :class:`KeyFormatError`."""
    if not isinstance(suite, int) or isinstance(suite, bool):
        raise KeyFormatError(f"suite must be a SuiteId or int, got {type(suite).__name__}")
    try:
        return SUITES[SuiteId(suite)]
    except (ValueError, KeyError):
        raise KeyFormatError(f"unknown HPKE suite id 0x{suite & 0xFF:02x}") from None
