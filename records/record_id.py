"""Deterministic record ids: the same put, retried, names the same record.

    recordId = keccak256("healthsilk/record-id/v1" || author(20) || patient(20) || content_tag(32) || supersedes(32))
    content_tag = HMAC-SHA256(key = HKDF-SHA256(author's HPKE private key, info "healthsilk/record-id-key/v1"),
                              canonical FHIR JSON)

The content tag is keyed by a secret only the author holds, because a plain sha256 of a (often guessable)
FHIR resource, published on chain, would let anyone confirm a guess about a patient's data.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_utils import keccak

from crypto import HpkePrivateKey, normalize_address

ID_LABEL = b"healthsilk/record-id/v1"
KEY_INFO = b"healthsilk/record-id-key/v1"


def content_tag_key(author_key: HpkePrivateKey) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(author_key.to_bytes())


def derive_record_id(author: str, patient: str, canonical_resource: bytes, supersedes: bytes, tag_key: bytes) -> bytes:
    tag = hmac.new(tag_key, canonical_resource, hashlib.sha256).digest()
    author_raw = bytes.fromhex(normalize_address(author, "author")[2:])
    patient_raw = bytes.fromhex(normalize_address(patient, "patient")[2:])
    return keccak(ID_LABEL + author_raw + patient_raw + tag + supersedes)
