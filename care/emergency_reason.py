"""The free-text reason of a break-glass, for the patient's eyes only.

The chain holds only `reasonHash = keccak256(salt ‖ text)` (salted, so a short reason cannot be guessed from its hash)
and the IPFS CID of the reason sealed to the patient's registered HPKE key: AES-GCM under a fresh data key, the key
wrapped to the patient exactly as record keys are, with the reason hash standing in as the record id so the
ciphertext is bound to the break-glass that names it.
"""

from __future__ import annotations

import base64
import json
import os

from eth_utils import keccak

from crypto import (
    HpkePrivateKey,
    HpkePublicKey,
    RecordContext,
    open_envelope,
    seal,
    unwrap_key,
    wrap_key,
)

FORMAT = "healthsilk-break-glass-reason/1"
MAX_REASON_CHARS = 2000


def reason_hash(salt: bytes, text: str) -> bytes:
    return keccak(salt + text.encode("utf-8"))


def seal_reason(text: str, patient: str, patient_key: HpkePublicKey) -> tuple[bytes, bytes]:
    """(reasonHash, the sealed blob to store in IPFS)."""
    if not text.strip() or len(text) > MAX_REASON_CHARS:
        raise ValueError(f"the reason must be 1 to {MAX_REASON_CHARS} characters")
    salt = os.urandom(16)
    digest = reason_hash(salt, text)
    context = RecordContext(record_id=digest, patient=patient, category=0, version=1)
    envelope, data_key = seal(json.dumps({"salt": salt.hex(), "text": text}).encode("utf-8"), context)
    blob = {"format": FORMAT, "envelope": base64.b64encode(envelope).decode(), "wrap": base64.b64encode(wrap_key(data_key, context, patient_key)).decode()}
    return digest, json.dumps(blob, sort_keys=True).encode("utf-8")


def open_reason(blob: bytes, expected_hash: bytes, patient: str, patient_key: HpkePrivateKey) -> str:
    """The reason text; ValueError when the blob is not the one the break-glass's hash names."""
    parsed = json.loads(blob)
    if parsed.get("format") != FORMAT:
        raise ValueError("not a sealed break-glass reason")
    context = RecordContext(record_id=bytes(expected_hash), patient=patient, category=0, version=1)
    data_key = unwrap_key(base64.b64decode(parsed["wrap"]), context, patient_key)
    inner = json.loads(open_envelope(base64.b64decode(parsed["envelope"]), context, data_key))
    text = str(inner["text"])
    if reason_hash(bytes.fromhex(inner["salt"]), text) != bytes(expected_hash):
        raise ValueError("the sealed reason does not match the hash on chain")
    return text
