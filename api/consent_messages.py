"""The EIP-712 messages patients sign for the ConsentLedger: built for `prepare`, parsed and checked for `relay`.

Parsing never trusts the client's copy of the types or domain: a relayed message must name exactly the
ledger's own domain and the canonical field list, and it is rebuilt from those before the signature is
recovered, so what is verified here is exactly what the contract will verify.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_utils import to_checksum_address

from api.problems import invalid
from api.typed_messages import parse_typed
from i18n import _
from i18n.formatting import datetime_text
from i18n.vocabulary import category_display, joined, purpose_display
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
    if not isinstance(primary, str) or primary not in CANONICAL_TYPES:  # a JSON object or list is not hashable
        raise invalid(_("typed_data.primaryType must be one of {types}, got {got}").format(types=", ".join(CANONICAL_TYPES), got=repr(primary)))
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
    return datetime_text(timestamp)


def _words(items: list[str]) -> str:
    """"a, b and c" in the request's language (codes shown by their display names)."""
    if len(items) <= 1:
        return "".join(items)
    return _("{items} and {last}").format(items=joined(items[:-1]), last=items[-1])


def _coded(codes: list[str], display: Any) -> str:
    """"LAB and ECG (laboratory results, electrocardiograms)": the ledger's codes, then what they mean."""
    return f"{_words([code.replace('_', ' ') for code in codes])} ({joined(display(codes))})"


def summary(message: TypedMessage, name_of: Any, signer: str | None = None) -> str:
    """What signing means, in plain words; `name_of(address)` gives a member's name or None."""
    m = message.message

    def member(address: str) -> str:
        name = name_of(address)
        return _("{name} ({address})").format(name=name, address=address) if name else _("{address} (not a consortium member)").format(address=address)

    # Whole sentences per case (not assembled from fragments): word order differs in French and Chinese.
    delegated = bool(signer) and signer != m["patient"]
    tail = " " + _("This signature can be used once (nonce {nonce}) until {time}.").format(nonce=m["nonce"], time=_day(m["deadline"]))
    if message.primary_type == "GrantConsent":
        data = ""
        if m["dataFrom"] and m["dataUntil"]:
            data = " " + _("Only records dated from {start} to {end} are covered.").format(start=_day(m["dataFrom"]), end=_day(m["dataUntil"]))
        elif m["dataFrom"] or m["dataUntil"]:
            data = " " + _("Only records dated from {start} onwards are covered.").format(start=_day(m["dataFrom"])) if m["dataFrom"] else \
                " " + _("Only records dated before {end} are covered.").format(end=_day(m["dataUntil"]))
        terms = {
            "grantee": member(m["grantee"]), "categories": _coded(category_names(m["categories"]), category_display),
            "purposes": _coded(purpose_names(m["purposes"]), purpose_display), "start": _day(m["validFrom"]), "end": _day(m["validUntil"]),
        }
        if delegated:
            text = _("As delegate of patient {patient}, you ({signer}) allow {grantee} to use the patient's records of these kinds: {categories}, for {purposes}, "
                     "from {start} until {end}. This replaces any earlier consent to this institution.").format(patient=m["patient"], signer=signer, **terms)
        else:
            text = _("You ({patient}) allow {grantee} to use your records of these kinds: {categories}, for {purposes}, "
                     "from {start} until {end}. This replaces any earlier consent to this institution.").format(patient=m["patient"], **terms)
        return f"{text}{data}{tail}"
    if message.primary_type == "RevokeConsent":
        if delegated:
            text = _("As delegate of patient {patient}, you ({signer}) withdraw the consent given to {grantee}; from the next block it can no longer read the patient's records.")
        else:
            text = _("You ({patient}) withdraw the consent given to {grantee}; from the next block it can no longer read your records.")
        return text.format(patient=m["patient"], signer=signer, grantee=member(m["grantee"])) + tail
    if message.primary_type == "RegisterPatient":
        key = "0x" + bytes(m["hpkePublicKey"]).hex()
        return _("You ({patient}) register the encryption public key {key}... so institutions can encrypt your records to you.").format(patient=m["patient"], key=key[:18]) + tail
    if m["delegate"] == ZERO_ADDRESS:
        return _("You ({patient}) remove your delegate; no one else may grant or revoke consent for you any more.").format(patient=m["patient"]) + tail
    return _("You ({patient}) appoint {delegate} as your delegate: they may grant and revoke consent for you until you remove them.").format(patient=m["patient"], delegate=m["delegate"]) + tail
