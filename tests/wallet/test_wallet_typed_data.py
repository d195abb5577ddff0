"""The wallet's checks of EIP-712 requests: only exactly what the user asked for gets signed."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from ledger.consent import GRANT_CONSENT_TYPES, REGISTER_PATIENT_TYPES, REVOKE_CONSENT_TYPES, SET_DELEGATE_TYPES
from ledger.eip712 import Domain, TypedMessage
from ledger.vocabulary import Category, Purpose
from wallet.errors import RefusedToSign
from wallet.typed_data import (
    ZERO_ADDRESS,
    Expected,
    NetworkInfo,
    check_challenge,
    check_typed_data,
    describe,
    sign_challenge,
    sign_typed_data,
)

LEDGER = "0x" + "c0" * 20
NETWORK = NetworkInfo(chain_id=31337, consent_ledger=Account.from_key(b"\x01" * 32).address)
PATIENT = Account.from_key(b"\x02" * 32)
GRANTEE = Account.from_key(b"\x03" * 32).address
OTHER = Account.from_key(b"\x04" * 32).address
NOW = int(time.time())
DOMAIN = Domain("healthsilk ConsentLedger", "1", NETWORK.chain_id, NETWORK.consent_ledger)
TERMS = {
    "grantee": GRANTEE,
    "categories": Category.ECG.bit | Category.LAB.bit,
    "purposes": int(Purpose.TREATMENT),
    "validFrom": NOW - 60,
    "validUntil": NOW + 30 * 86400,
    "dataFrom": 0,
    "dataUntil": 0,
}


def grant_typed(**changes: Any) -> dict[str, Any]:
    message = {"patient": PATIENT.address, **TERMS, "nonce": 0, "deadline": NOW + 600, **changes}
    return TypedMessage(DOMAIN, "GrantConsent", GRANT_CONSENT_TYPES, message).full()


GRANT = Expected("GrantConsent", PATIENT.address, TERMS)


def test_the_requested_grant_passes_and_signs_recoverably() -> None:
    typed = grant_typed()
    message = check_typed_data(typed, GRANT, NETWORK, now=NOW)
    assert message["grantee"] == GRANTEE and message["categories"] == TERMS["categories"]
    signature = sign_typed_data(PATIENT, typed)
    assert Account.recover_message(encode_typed_data(full_message=typed), signature=signature) == PATIENT.address
    words = " ".join(describe("GrantConsent", message, {GRANTEE: "Yinchuan Heart Centre"}))
    assert "Yinchuan Heart Centre" in words and "LAB, ECG" in words and "TREATMENT" in words


def test_json_spelling_of_numbers_is_accepted() -> None:
    typed = grant_typed(nonce="7", deadline=str(NOW + 600))
    typed["domain"]["chainId"] = hex(NETWORK.chain_id)
    typed["domain"]["verifyingContract"] = NETWORK.consent_ledger.lower()
    assert check_typed_data(typed, GRANT, NETWORK, now=NOW)["nonce"] == 7


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda t: t["domain"].update(chainId=1), "chain 1"),
        (lambda t: t["domain"].update(verifyingContract=OTHER), "not this network's ConsentLedger"),
        (lambda t: t["message"].update(patient=OTHER), "not this wallet"),
        (lambda t: t["message"].update(grantee=OTHER), "grantee"),
        (lambda t: t["message"].update(categories=Category.ECG.bit | Category.NOTES.bit | Category.LAB.bit), "categories"),
        (lambda t: t["message"].update(purposes=int(Purpose.TREATMENT | Purpose.RESEARCH)), "purposes"),
        (lambda t: t["message"].update(validUntil=NOW + 3650 * 86400), "validUntil"),
        (lambda t: t["message"].update(dataFrom=1), "dataFrom"),
        (lambda t: t["message"].update(deadline=NOW + 365 * 86400), "far longer"),
        (lambda t: t["message"].update(deadline=NOW - 1), "already passed"),
        (lambda t: t["message"].update(extra=1), "unexpected fields"),
        (lambda t: t.update(primaryType="RevokeConsent"), "RevokeConsent"),
        (lambda t: t["types"]["GrantConsent"].reverse(), "struct differs"),
        (lambda t: t["types"].update(Other=[{"name": "x", "type": "uint8"}]), "unexpected structs"),
        (lambda t: t["domain"].pop("chainId"), "domain"),
        (lambda t: t["message"].update(nonce=-1), "negative"),
        (lambda t: t["message"].update(grantee="0xnot-an-address"), "not an address"),
        (lambda t: t.pop("domain"), "unexpected parts"),
    ],
)
def test_tampered_requests_are_refused(tamper: Any, reason: str) -> None:
    typed = copy.deepcopy(grant_typed())
    tamper(typed)
    with pytest.raises(RefusedToSign, match=reason):
        check_typed_data(typed, GRANT, NETWORK, now=NOW)


def test_revoke_register_and_delegate_are_checked_too() -> None:
    revoke = TypedMessage(DOMAIN, "RevokeConsent", REVOKE_CONSENT_TYPES, {"patient": PATIENT.address, "grantee": GRANTEE, "nonce": 1, "deadline": NOW + 600}).full()
    check_typed_data(revoke, Expected("RevokeConsent", PATIENT.address, {"grantee": GRANTEE}), NETWORK, now=NOW)
    with pytest.raises(RefusedToSign, match="grantee"):
        check_typed_data(revoke, Expected("RevokeConsent", PATIENT.address, {"grantee": OTHER}), NETWORK, now=NOW)

    key = "0x01" + "ab" * 32
    register = TypedMessage(DOMAIN, "RegisterPatient", REGISTER_PATIENT_TYPES, {"patient": PATIENT.address, "hpkePublicKey": key, "nonce": 0, "deadline": NOW + 600}).full()
    assert check_typed_data(register, Expected("RegisterPatient", PATIENT.address, {"hpkePublicKey": key}), NETWORK, now=NOW)["hpkePublicKey"] == bytes.fromhex(key[2:])
    with pytest.raises(RefusedToSign, match="hpkePublicKey"):  # an attacker's key would receive the patient's records
        check_typed_data(register, Expected("RegisterPatient", PATIENT.address, {"hpkePublicKey": "0x01" + "cd" * 32}), NETWORK, now=NOW)

    removal = TypedMessage(DOMAIN, "SetDelegate", SET_DELEGATE_TYPES, {"patient": PATIENT.address, "delegate": ZERO_ADDRESS, "nonce": 2, "deadline": NOW + 600}).full()
    message = check_typed_data(removal, Expected("SetDelegate", PATIENT.address, {"delegate": ZERO_ADDRESS}), NETWORK, now=NOW)
    assert "Remove your delegate" in describe("SetDelegate", message)[0]
    with pytest.raises(RefusedToSign, match="delegate"):
        check_typed_data(removal, Expected("SetDelegate", PATIENT.address, {"delegate": OTHER}), NETWORK, now=NOW)


def test_login_challenge_must_name_the_wallet() -> None:
    text = f"Sign in to Lokossa Hospital as {PATIENT.address} nonce 1234 expires 99"
    assert check_challenge(text, PATIENT.address) == text
    signature = sign_challenge(PATIENT, text)
    assert Account.recover_message(encode_defunct(text=text), signature=signature) == PATIENT.address
    for bad in ("", None, f"Sign in as {OTHER}", PATIENT.address + "x" * 3000):
        with pytest.raises(RefusedToSign):
            check_challenge(bad, PATIENT.address)


def test_network_answer_is_parsed_strictly() -> None:
    info = NetworkInfo.from_api({"chain_id": 31337, "chain_time": 1_800_000_000, "institution": {"name": "Lokossa", "address": OTHER}, "contracts": {"ConsentLedger": LEDGER}})
    assert info.chain_id == 31337 and info.consent_ledger.lower() == LEDGER and info.institution_name == "Lokossa"
    assert info.chain_time == 1_800_000_000
    with pytest.raises(RefusedToSign, match="malformed"):  # a validity period needs the chain's "now"
        NetworkInfo.from_api({"chain_id": 31337, "institution": {}, "contracts": {"ConsentLedger": LEDGER}})
    with pytest.raises(RefusedToSign, match="malformed"):
        NetworkInfo.from_api({"chain_id": 31337, "contracts": {}})
