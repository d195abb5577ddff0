"""The EIP-712 messages patients sign for the ConsentLedger: built for `prepare`, parsed and checked for `relay`.

Parsing never trusts the client's copy of the types or domain: a relayed message must name exactly the
ledger's own domain and the canonical field list, and it is rebuilt from those before the signature is
recovered, so what is verified here is exactly what the contract will verify.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address

from api.problems import invalid
from api.typed_messages import parse_typed
from ledger.consent import (
    GRANT_CONSENT_TYPES,
    REGISTER_PATIENT_TYPES,
    REVOKE_CONSENT_TYPES,
    SET_DELEGATE_TYPES,
    ConsentLedger,
)
from ledger.eip712 import Domain, TypedMessage
from ledger.vocabulary import category_names, purpose_names

CANONICAL_TYPES: dict[str, dict[str, list[dict[str, str]]]] = {
    "RegisterPatient": REGISTER_PATIENT_TYPES,
    "GrantConsent": GRANT_CONSENT_TYPES,
    "RevokeConsent": REVOKE_CONSENT_TYPES,
    "SetDelegate": SET_DELEGATE_TYPES,
}
DELEGATE_MAY_SIGN = frozenset({"GrantConsent", "RevokeConsent"})
ZERO_ADDRESS = "0x" + "00" * 20


def parse_relayed(typed_data: Mapping[str, Any], domain: Domain) -> TypedMessage:
    """The client's typed data, checked against the ledger's domain and canonical types and rebuilt from them."""
    primary = typed_data.get("primaryType")
    if primary not in CANONICAL_TYPES:
        raise invalid(f"typed_data.primaryType must be one of {', '.join(CANONICAL_TYPES)}, got {primary!r}")
    return parse_typed(typed_data, domain, primary, CANONICAL_TYPES[primary], "ConsentLedger", "/v1/consents/prepare")


def allowed_signers(ledger: ConsentLedger, message: TypedMessage) -> set[str]:
    """Who may sign this message: the patient, and for grants / revocations its current delegate."""
    patient = message.message["patient"]
    signers = {patient}
    if message.primary_type in DELEGATE_MAY_SIGN:
        delegate = ledger.delegate_of(patient)
        if delegate:
            signers.add(to_checksum_address(delegate))
    return signers


# --- plain-words summaries ---------------------------------------------------------------------------
def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _words(items: list[str]) -> str:
    items = [item.replace("_", " ") for item in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def summary(message: TypedMessage, name_of: Any, signer: str | None = None) -> str:
    """What signing means, in plain words; `name_of(address)` gives a member's name or None."""
    m = message.message

    def member(address: str) -> str:
        name = name_of(address)
        return f"{name} ({address})" if name else f"{address} (not a consortium member)"

    delegated = bool(signer) and signer != m["patient"]
    who = f"As delegate of patient {m['patient']}, you ({signer})" if delegated else f"You ({m['patient']})"
    whose = "the patient's" if delegated else "your"
    tail = f" This signature can be used once (nonce {m['nonce']}) until {_day(m['deadline'])}."
    if message.primary_type == "GrantConsent":
        data = ""
        if m["dataFrom"] or m["dataUntil"]:
            data = f" Only records dated from {_day(m['dataFrom'])}" + (f" to {_day(m['dataUntil'])}" if m["dataUntil"] else " onwards") + " are covered."
        return (
            f"{who} allow {member(m['grantee'])} to use {whose} {_words(category_names(m['categories']))} records for {_words(purpose_names(m['purposes']))}, "
            f"from {_day(m['validFrom'])} until {_day(m['validUntil'])}. This replaces any earlier consent to this institution.{data}{tail}"
        )
    if message.primary_type == "RevokeConsent":
        return f"{who} withdraw the consent given to {member(m['grantee'])}; from the next block it can no longer read {whose} records.{tail}"
    if message.primary_type == "RegisterPatient":
        key = "0x" + bytes(m["hpkePublicKey"]).hex()
        return f"You ({m['patient']}) register the encryption public key {key[:18]}... so institutions can encrypt your records to you.{tail}"
    if m["delegate"] == ZERO_ADDRESS:
        return f"You ({m['patient']}) remove your delegate; no one else may grant or revoke consent for you any more.{tail}"
    return f"You ({m['patient']}) appoint {m['delegate']} as your delegate: they may grant and revoke consent for you until you remove them.{tail}"
