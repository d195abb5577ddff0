"""Typed access to the ConsentLedger: patient keys, consents, delegates — sent directly or signed and relayed."""

from __future__ import annotations

from enum import IntEnum
from functools import cached_property
from typing import Self

from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel, Field, model_validator
from web3.contract import Contract
from web3.logs import DISCARD

from ledger.chain import Ledger
from ledger.eip712 import Domain, TypedMessage
from ledger.transactions import TransactionSender
from ledger.vocabulary import category_names, purpose_names

UINT40_MAX = 2**40 - 1
UINT16_MAX = 2**16 - 1
ALL_PURPOSES = 31  # TREATMENT | PAYMENT | RESEARCH | PUBLIC_HEALTH | EMERGENCY (ConsentPolicy.ALL_PURPOSES)
ZERO_ADDRESS = "0x" + "00" * 20

REGISTER_PATIENT_TYPES = {"RegisterPatient": [{"name": "patient", "type": "address"}, {"name": "hpkePublicKey", "type": "bytes"}, {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}]}
GRANT_CONSENT_TYPES = {
    "GrantConsent": [
        {"name": "patient", "type": "address"},
        {"name": "grantee", "type": "address"},
        {"name": "categories", "type": "uint16"},
        {"name": "purposes", "type": "uint8"},
        {"name": "validFrom", "type": "uint40"},
        {"name": "validUntil", "type": "uint40"},
        {"name": "dataFrom", "type": "uint40"},
        {"name": "dataUntil", "type": "uint40"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}
REVOKE_CONSENT_TYPES = {"RevokeConsent": [{"name": "patient", "type": "address"}, {"name": "grantee", "type": "address"}, {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}]}
SET_DELEGATE_TYPES = {"SetDelegate": [{"name": "patient", "type": "address"}, {"name": "delegate", "type": "address"}, {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}]}


class ConsentStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    REVOKED = 2


class ConsentTerms(BaseModel):
    """What a patient agrees to (FHIR Consent: actor, class, purpose, period, dataPeriod).

    Validated with the contract's own rules (ConsentLedger._checkTerms, except "not already expired", which
    depends on the block time), so a wallet refuses bad terms before the patient signs anything.
    """

    grantee: str
    categories: int = Field(description="category bitmask (1 << code), 1..0xFFFF")
    purposes: int = Field(description="purpose bitmask, 1..31")
    valid_from: int = Field(ge=0, le=UINT40_MAX)
    valid_until: int = Field(ge=0, le=UINT40_MAX)
    data_from: int = Field(default=0, ge=0, le=UINT40_MAX)
    data_until: int = Field(default=0, ge=0, le=UINT40_MAX, description="0 = open-ended")

    @model_validator(mode="after")
    def _check_terms(self) -> Self:
        # Every problem at once, so a caller fixes the terms in one go.
        problems: list[str] = []
        if not is_address(self.grantee):
            problems.append(f"grantee {self.grantee!r} is not a 20-byte hex address (or its checksum is wrong)")
        elif int(self.grantee, 16) == 0:
            problems.append("grantee must not be the zero address")
        if not 0 < self.categories <= UINT16_MAX:
            problems.append(f"categories must be a non-empty 16-bit category mask (1..{UINT16_MAX}), got {self.categories}")
        if not 0 < self.purposes <= ALL_PURPOSES:
            problems.append(f"purposes must be a non-empty mask of the five purposes (1..{ALL_PURPOSES}), got {self.purposes}")
        if self.valid_from >= self.valid_until:
            problems.append(f"valid_from ({self.valid_from}) must be before valid_until ({self.valid_until})")
        if self.data_until != 0 and self.data_from >= self.data_until:
            problems.append(f"data_from ({self.data_from}) must be before data_until ({self.data_until}), or data_until 0 for open-ended")
        if problems:
            raise ValueError("invalid consent terms: " + "; ".join(problems))
        return self

    def as_tuple(self) -> tuple[str, int, int, int, int, int, int]:
        return (to_checksum_address(self.grantee), self.categories, self.purposes, self.valid_from, self.valid_until, self.data_from, self.data_until)


class Consent(BaseModel):
    patient: str
    grantee: str
    categories: list[str]
    purposes: list[str]
    status: str
    valid_from: int
    valid_until: int
    data_from: int
    data_until: int
    version: int


class ConsentLedger:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.contract: Contract = ledger.contract("ConsentLedger")

    @cached_property
    def domain(self) -> Domain:
        # Fixed for a deployment (chain id + contract address), so read it once instead of once per message.
        return Domain.of(self.contract)

    # --- reads -------------------------------------------------------------------------------------
    def is_permitted(self, patient: str, grantee: str, category_mask: int, purpose: int) -> bool:
        return bool(self.contract.functions.isPermitted(to_checksum_address(patient), to_checksum_address(grantee), category_mask, purpose).call())

    def consent(self, patient: str, grantee: str) -> Consent:
        categories, purposes, status, valid_from, valid_until, data_from, data_until, version = self.contract.functions.getConsent(to_checksum_address(patient), to_checksum_address(grantee)).call()
        return Consent(
            patient=to_checksum_address(patient), grantee=to_checksum_address(grantee), categories=category_names(categories), purposes=purpose_names(purposes),
            status=ConsentStatus(status).name, valid_from=valid_from, valid_until=valid_until, data_from=data_from, data_until=data_until, version=version,
        )

    def nonce(self, account: str) -> int:
        return int(self.contract.functions.nonces(to_checksum_address(account)).call())

    def patient_key(self, patient: str) -> bytes:
        return bytes(self.contract.functions.patientKey(to_checksum_address(patient)).call())

    def delegate_of(self, patient: str) -> str | None:
        delegate = self.contract.functions.delegateOf(to_checksum_address(patient)).call()
        return None if int(delegate, 16) == 0 else delegate

    # --- messages a patient (or delegate) signs in the wallet ---------------------------------------
    def register_message(self, patient: str, hpke_public_key: bytes, deadline: int, nonce: int | None = None) -> TypedMessage:
        patient = to_checksum_address(patient)
        message = {"patient": patient, "hpkePublicKey": hpke_public_key, "nonce": self.nonce(patient) if nonce is None else nonce, "deadline": deadline}
        return TypedMessage(self.domain, "RegisterPatient", REGISTER_PATIENT_TYPES, message)

    def grant_message(self, patient: str, terms: ConsentTerms, deadline: int, signer: str | None = None, nonce: int | None = None) -> TypedMessage:
        patient = to_checksum_address(patient)
        grantee, categories, purposes, valid_from, valid_until, data_from, data_until = terms.as_tuple()
        message = {
            "patient": patient, "grantee": grantee, "categories": categories, "purposes": purposes, "validFrom": valid_from, "validUntil": valid_until,
            "dataFrom": data_from, "dataUntil": data_until, "nonce": self.nonce(signer or patient) if nonce is None else nonce, "deadline": deadline,
        }
        return TypedMessage(self.domain, "GrantConsent", GRANT_CONSENT_TYPES, message)

    def revoke_message(self, patient: str, grantee: str, deadline: int, signer: str | None = None, nonce: int | None = None) -> TypedMessage:
        patient = to_checksum_address(patient)
        message = {"patient": patient, "grantee": to_checksum_address(grantee), "nonce": self.nonce(signer or patient) if nonce is None else nonce, "deadline": deadline}
        return TypedMessage(self.domain, "RevokeConsent", REVOKE_CONSENT_TYPES, message)

    def delegate_message(self, patient: str, delegate: str | None, deadline: int, nonce: int | None = None) -> TypedMessage:
        patient = to_checksum_address(patient)
        message = {"patient": patient, "delegate": to_checksum_address(delegate) if delegate else "0x" + "00" * 20, "nonce": self.nonce(patient) if nonce is None else nonce, "deadline": deadline}
        return TypedMessage(self.domain, "SetDelegate", SET_DELEGATE_TYPES, message)

    # --- relaying signed messages (sent by an active member) ----------------------------------------
    def relay(self, relayer: TransactionSender, signed: TypedMessage, signature: bytes) -> bytes | None:
        """Submit a patient's (or delegate's) signed message; returns the consent id for grants."""
        m = signed.message
        functions = self.contract.functions
        if signed.primary_type == "RegisterPatient":
            call = functions.registerPatientBySig(m["patient"], m["hpkePublicKey"], m["nonce"], m["deadline"], signature)
        elif signed.primary_type == "GrantConsent":
            terms = (m["grantee"], m["categories"], m["purposes"], m["validFrom"], m["validUntil"], m["dataFrom"], m["dataUntil"])
            call = functions.grantConsentBySig(m["patient"], terms, m["nonce"], m["deadline"], signature)
        elif signed.primary_type == "RevokeConsent":
            call = functions.revokeConsentBySig(m["patient"], m["grantee"], m["nonce"], m["deadline"], signature)
        elif signed.primary_type == "SetDelegate":
            call = functions.setDelegateBySig(m["patient"], m["delegate"], m["nonce"], m["deadline"], signature)
        else:
            raise ValueError(f"not a ConsentLedger message: {signed.primary_type}")
        receipt = relayer.transact(call)
        granted = self.contract.events.ConsentGranted().process_receipt(receipt, errors=DISCARD)
        return bytes(granted[0]["args"]["consentId"]) if granted else None

    # --- direct (the patient or delegate sends and pays gas: members only, through the gateway) ------
    def grant(self, actor: TransactionSender, patient: str, terms: ConsentTerms) -> bytes:
        receipt = actor.transact(self.contract.functions.grantConsent(to_checksum_address(patient), terms.as_tuple()))
        return bytes(self.contract.events.ConsentGranted().process_receipt(receipt, errors=DISCARD)[0]["args"]["consentId"])

    def revoke(self, actor: TransactionSender, patient: str, grantee: str) -> None:
        actor.transact(self.contract.functions.revokeConsent(to_checksum_address(patient), to_checksum_address(grantee)))

