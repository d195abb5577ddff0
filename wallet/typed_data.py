"""What the wallet will sign: EIP-712 requests checked field by field against what the user asked for.

The API builds the typed data (it knows the nonce), so the wallet treats it as untrusted: the
struct types, the domain (chain id, ConsentLedger address), the patient and every term must be
exactly what the user asked for, or nothing is signed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address

from i18n import _
from i18n.formatting import date_text, datetime_text
from i18n.vocabulary import category_display, joined, purpose_display
from ledger.consent import (
    GRANT_CONSENT_TYPES,
    REGISTER_PATIENT_TYPES,
    REVOKE_CONSENT_TYPES,
    SET_DELEGATE_TYPES,
)
from ledger.vocabulary import category_names, purpose_names
from wallet.errors import RefusedToSign

ZERO_ADDRESS = "0x" + "00" * 20
MAX_DEADLINE_SECONDS = 3600  # the API promises now + 10 min; anything far beyond is a replayable blank cheque

PRIMARY_TYPES: dict[str, list[dict[str, str]]] = {
    "GrantConsent": GRANT_CONSENT_TYPES["GrantConsent"],
    "RevokeConsent": REVOKE_CONSENT_TYPES["RevokeConsent"],
    "RegisterPatient": REGISTER_PATIENT_TYPES["RegisterPatient"],
    "SetDelegate": SET_DELEGATE_TYPES["SetDelegate"],
}
_DOMAIN_FIELD_TYPES = {"name": "string", "version": "string", "chainId": "uint256", "verifyingContract": "address", "salt": "bytes32"}


@dataclass(frozen=True)
class NetworkInfo:
    """The bits of `/v1/network` the wallet checks signatures against."""

    chain_id: int
    consent_ledger: str
    institution_name: str = ""
    institution_address: str = ""
    contracts: dict[str, str] = field(default_factory=dict)  # every contract the API lists, by deployment name
    chain_time: int = 0  # "now" as the contracts judge it, when the API was asked: validity periods start from it

    @classmethod
    def from_api(cls, body: Any) -> NetworkInfo:
        try:
            institution = body.get("institution") or {}
            return cls(
                chain_id=int(body["chain_id"]),
                consent_ledger=to_checksum_address(body["contracts"]["ConsentLedger"]),
                institution_name=str(institution.get("name", "")),
                institution_address=str(institution.get("address", "")),
                contracts={str(name): to_checksum_address(address) for name, address in body["contracts"].items()},
                chain_time=int(body["chain_time"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RefusedToSign(_("the API's /v1/network answer is malformed ({error})").format(error=repr(exc))) from None


@dataclass(frozen=True)
class Expected:
    """What the user asked the wallet to sign: the struct name and the exact message terms."""

    primary_type: str
    patient: str
    terms: dict[str, Any] = field(default_factory=dict)


def _uint(value: Any, what: str) -> int:
    """EIP-712 integers may travel as JSON numbers or decimal / 0x strings."""
    if isinstance(value, bool):
        raise RefusedToSign(_("{what} is not a number").format(what=what))
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value, 16) if value.lower().startswith("0x") else int(value, 10)
        except ValueError:
            raise RefusedToSign(_("{what} is not a number ({value})").format(what=what, value=repr(value))) from None
    else:
        raise RefusedToSign(_("{what} is not a number").format(what=what))
    if number < 0:
        raise RefusedToSign(_("{what} is negative").format(what=what))
    return number


def _address(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise RefusedToSign(_("{what} is not an address ({value})").format(what=what, value=repr(value)))
    return to_checksum_address(value)


def _hex_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise RefusedToSign(_("{what} is not 0x-hex bytes").format(what=what))
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise RefusedToSign(_("{what} is not 0x-hex bytes").format(what=what)) from None


def _normalize(field_type: str, value: Any, what: str) -> Any:
    if field_type == "address":
        return _address(value, what)
    if field_type.startswith("uint"):
        return _uint(value, what)
    if field_type == "bytes":
        return _hex_bytes(value, what)
    if field_type == "bytes32":
        return _bytes32(value, what)
    raise RefusedToSign(_("{what} has an unexpected type {type}").format(what=what, type=field_type))


def check_typed_data(typed: Any, expected: Expected, network: NetworkInfo, *, now: int | None = None) -> dict[str, Any]:
    """Raise :class:`RefusedToSign` unless ``typed`` is exactly the request; return the normalized message."""
    primary = expected.primary_type
    normalized = checked_message(typed, primary, PRIMARY_TYPES.get(primary, []), network.chain_id, network.consent_ledger, "ConsentLedger")
    _check_patient(normalized, expected.patient)
    fields = {f["name"]: f["type"] for f in PRIMARY_TYPES[primary]}
    for name, wanted in expected.terms.items():
        got = normalized[name]
        want = _normalize(fields[name], wanted, _("requested {field}").format(field=name))
        if got != want:
            raise RefusedToSign(_("message {field} is {got} but you asked for {wanted}").format(field=name, got=_show(got), wanted=_show(want)))
    check_deadline(normalized["deadline"], now)
    return normalized


def checked_message(typed: Any, primary: str, struct: list[dict[str, str]], chain_id: int, contract: str, contract_name: str) -> dict[str, Any]:
    """The checks every signature request gets: exactly one expected struct, a domain binding this chain and the
    contract that verifies it, and a message with exactly the struct's fields; returns the normalized message."""
    if not isinstance(typed, dict):
        raise RefusedToSign(_("the API returned no typed data"))
    if set(typed) != {"types", "primaryType", "domain", "message"}:
        raise RefusedToSign(_("the typed data has unexpected parts {parts}").format(parts=sorted(set(typed) ^ {"types", "primaryType", "domain", "message"})))
    if typed["primaryType"] != primary:
        raise RefusedToSign(_("asked for a {wanted} signature but the API sent a {got} message").format(wanted=primary, got=repr(typed["primaryType"])))

    # Types: exactly the domain struct and the one struct the contract defines for this action.
    types = typed["types"]
    if not isinstance(types, dict) or set(types) != {"EIP712Domain", primary}:
        raise RefusedToSign(_("the typed data defines unexpected structs {structs}").format(structs=sorted(types) if isinstance(types, dict) else repr(types)))
    if types[primary] != struct:
        raise RefusedToSign(_("the {struct} struct differs from the one the {contract} contract verifies").format(struct=primary, contract=contract_name))

    # Domain: binds the signature to this chain and this contract.
    domain = typed["domain"]
    domain_fields = types["EIP712Domain"]
    if not isinstance(domain, dict) or not isinstance(domain_fields, list):
        raise RefusedToSign(_("the EIP-712 domain is malformed"))
    declared = {f.get("name"): f.get("type") for f in domain_fields if isinstance(f, dict)}
    if set(declared) != set(domain) or any(_DOMAIN_FIELD_TYPES.get(str(k)) != v for k, v in declared.items()):
        raise RefusedToSign(_("the EIP-712 domain declares unexpected fields"))
    if "chainId" not in domain or "verifyingContract" not in domain:
        raise RefusedToSign(_("the EIP-712 domain does not name a chain and a contract"))
    if _uint(domain["chainId"], "domain chainId") != chain_id:
        raise RefusedToSign(_("the signature would be for chain {chain}, but this network is chain {network_chain}").format(chain=domain["chainId"], network_chain=chain_id))
    if _address(domain["verifyingContract"], "domain verifyingContract") != to_checksum_address(contract):
        raise RefusedToSign(_("the signature would be for contract {contract}, not this network's {name} {address}").format(contract=domain["verifyingContract"], name=contract_name, address=contract))

    # Message: every field present and typed as declared.
    message = typed["message"]
    fields = {f["name"]: f["type"] for f in struct}
    if not isinstance(message, dict) or set(message) != set(fields):
        raise RefusedToSign(_("the {struct} message has unexpected fields").format(struct=primary))
    return {name: _normalize(kind, message[name], _("message {field}").format(field=name)) for name, kind in fields.items()}


def _check_patient(message: dict[str, Any], patient: str) -> None:
    if message["patient"] != to_checksum_address(patient):
        raise RefusedToSign(_("the message is for patient {patient}, not this wallet ({wallet})").format(patient=message["patient"], wallet=to_checksum_address(patient)))


def check_deadline(deadline: int, now: int | None) -> None:
    now = int(time.time()) if now is None else now
    if deadline <= now:
        raise RefusedToSign(_("the signature deadline has already passed (is this computer's clock right?)"))
    if deadline > now + MAX_DEADLINE_SECONDS:
        raise RefusedToSign(_("the signature would stay valid until {time}, far longer than needed").format(time=_when(deadline)))


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _when(timestamp: int) -> str:
    return datetime_text(timestamp)


def _day(timestamp: int, shift: int) -> str:
    """A day boundary as a date (the ledger's data period end is exclusive: show the last included day)."""
    if timestamp % 86400:
        return _when(timestamp + shift)
    return date_text(timestamp + shift)


def _codes(codes: list[str], names: list[str]) -> str:
    """"LAB, ECG (laboratory results, electrocardiograms)": the codes the patient typed, then what they mean."""
    return f"{', '.join(codes)} ({joined(names)})" if codes else ""


def describe(primary: str, message: dict[str, Any], names: dict[str, str] | None = None) -> list[str]:
    """The checked message in plain words (built by the wallet itself, not taken from the API's summary)."""
    names = names or {}

    def who(address: str) -> str:
        name = names.get(address)
        return _("{name} ({address})").format(name=name, address=address) if name else address

    lines: list[str]
    if primary == "GrantConsent":
        categories, purposes = category_names(message["categories"]), purpose_names(message["purposes"])
        lines = [
            _("Allow {institution}").format(institution=who(message["grantee"])),
            _("to see your records of these categories: {categories}").format(categories=_codes(categories, category_display(categories)) or _("(no categories)")),
            _("for these purposes: {purposes}").format(purposes=_codes(purposes, purpose_display(purposes)) or _("(no purposes)")),
            _("from {start} until {end}").format(start=_when(message["validFrom"]), end=_when(message["validUntil"])),
        ]
        if message["dataFrom"] and message["dataUntil"]:
            lines.append(_("covering only records dated from {first} up to and including {last}").format(first=_day(message["dataFrom"], 0), last=_day(message["dataUntil"], -1)))
        elif message["dataFrom"]:
            lines.append(_("covering only records dated from {first} onwards").format(first=_day(message["dataFrom"], 0)))
        elif message["dataUntil"]:
            lines.append(_("covering only records dated up to and including {last}").format(last=_day(message["dataUntil"], -1)))
        lines.append(_("(this replaces any earlier consent you gave them)"))
    elif primary == "RevokeConsent":
        lines = [_("Withdraw the consent you gave {institution}").format(institution=who(message["grantee"])), _("(effective from the next block)")]
    elif primary == "RegisterPatient":
        key = message["hpkePublicKey"]
        lines = [_("Publish your record-encryption public key {key}... ({size} bytes) on the ledger").format(key="0x" + key[:8].hex(), size=len(key))]
    elif primary == "SetDelegate":
        if message["delegate"] == ZERO_ADDRESS:
            lines = [_("Remove your delegate: nobody may act on your consents for you any more")]
        else:
            lines = [_("Let {delegate} grant and revoke consents on your behalf").format(delegate=who(message["delegate"]))]
    else:  # pragma: no cover - check_typed_data admits only the four types
        lines = [primary]
    lines.append(_("as patient {patient}; nonce {nonce}; signature valid until {time}").format(patient=message["patient"], nonce=message["nonce"], time=_when(message["deadline"])))
    return lines


def sign_typed_data(account: LocalAccount, typed: dict[str, Any]) -> str:
    """Sign exactly the checked JSON (the key never leaves this process)."""
    return "0x" + bytes(account.sign_typed_data(full_message=typed).signature).hex()


def check_challenge(challenge: Any, address: str) -> str:
    """A login challenge must be plain text naming this wallet's address before it is personal_signed."""
    if not isinstance(challenge, str) or not challenge.strip():
        raise RefusedToSign(_("the login challenge is empty"))
    if address.lower() not in challenge.lower():
        raise RefusedToSign(_("the login challenge does not name this wallet's address"))
    if len(challenge) > 2000:
        raise RefusedToSign(_("the login challenge is suspiciously long"))
    return challenge


def sign_challenge(account: LocalAccount, challenge: str) -> str:
    """EIP-191 personal_sign: the prefix keeps it from ever being a transaction or typed data."""
    return "0x" + bytes(Account.sign_message(encode_defunct(text=challenge), account.key).signature).hex()


# --- e-card payments: the patient confirms a claim ---------------------------------------------------------
def _bytes32(value: Any, what: str) -> bytes:
    raw = _hex_bytes(value, what)
    if len(raw) != 32:
        raise RefusedToSign(_("{what} is not 32 bytes").format(what=what))
    return raw


def check_confirm_claim(typed: Any, claim: dict[str, Any], *, patient: str, chain_id: int, payments_contract: str, now: int | None = None) -> dict[str, Any]:
    """Raise :class:`RefusedToSign` unless ``typed`` confirms exactly ``claim`` (as the wallet fetched it) for this
    wallet, on this chain's HealthCardPayments contract, with a short deadline; return the normalized message."""
    from ledger.payments import (  # late: only this command needs the payments vocabulary
        CONFIRM_CLAIM_TYPES,
        code32,
    )

    got = checked_message(typed, "ConfirmClaim", CONFIRM_CLAIM_TYPES["ConfirmClaim"], chain_id, payments_contract, "HealthCardPayments")
    _check_patient(got, patient)
    try:
        wanted = {
            "claimId": _uint(claim.get("claim_id"), _("the claim's id")), "provider": _address(claim.get("provider"), _("the claim's provider")),
            "recordId": _bytes32(claim.get("record_id"), _("the claim's evidence record")), "packageCode": code32(str(claim.get("package_code"))),
            "amount": _uint(claim.get("amount"), _("the claim's amount")),
        }
    except ValueError as exc:
        raise RefusedToSign(_("the claim the API showed is malformed ({error})").format(error=exc)) from None
    for name, want in wanted.items():
        if got[name] != want:
            shown = _show(got[name]) if name != "packageCode" else got[name].rstrip(b"\x00").decode("ascii", "replace")
            expected = _show(want) if name != "packageCode" else str(claim.get("package_code"))
            raise RefusedToSign(_("message {field} is {got} but the claim you are confirming has {wanted}").format(field=name, got=shown, wanted=expected))
    check_deadline(got["deadline"], now)
    return got


# --- erasure: the patient asks for one of their records to be crypto-shredded --------------------------------
def check_request_erasure(typed: Any, *, patient: str, record_id: str, chain_id: int, record_registry: str, now: int | None = None) -> dict[str, Any]:
    """Raise :class:`RefusedToSign` unless ``typed`` erases exactly ``record_id`` of this wallet's patient, on this
    chain's RecordRegistry, with a short deadline; return the normalized message."""
    from ledger.records import (
        REQUEST_ERASURE_TYPES,  # late: only this command needs the record vocabulary
    )

    got = checked_message(typed, "RequestErasure", REQUEST_ERASURE_TYPES["RequestErasure"], chain_id, record_registry, "RecordRegistry")
    _check_patient(got, patient)
    wanted = _bytes32(record_id, _("the record id you gave"))
    if got["recordId"] != wanted:
        raise RefusedToSign(_("message recordId is {got} but you asked to erase {wanted}").format(got=_show(got["recordId"]), wanted=_show(wanted)))
    check_deadline(got["deadline"], now)
    return got
