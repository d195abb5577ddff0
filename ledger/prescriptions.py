"""Typed access to the Prescriptions flow contract (contracts/care/Prescriptions.sol, issue 14).

A PROVIDER issues, the patient (or delegate) signs `PresentPrescription` for one pharmacy in the wallet and any
member relays it, or a pharmacy presents the printed one-time token; a presented-to PHARMACY dispenses with its own
MedicationDispense record. Refusals surface as `ContractRevert` named after the contract's custom errors.
"""

from __future__ import annotations

import os
from enum import IntEnum
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel, Field, model_validator
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.eip712 import Domain, TypedMessage
from ledger.errors import ErrorDecoder
from ledger.transactions import TransactionSender

CONTRACT = "Prescriptions"
UINT32_MAX = 2**32 - 1
UINT40_MAX = 2**40 - 1
ZERO_ADDRESS = "0x" + "00" * 20

PRESENT_PRESCRIPTION_TYPES = {
    "PresentPrescription": [
        {"name": "prescriptionId", "type": "bytes32"},
        {"name": "pharmacy", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}

_SCOPE_MASK, _SINGLE, _CANCELLED = 3, 4, 8


class Scope(IntEnum):
    """Where a prescription may be dispensed."""

    ANY_PHARMACY = 0
    COUNTRY = 1
    NAMED_PHARMACY = 2


class DispenseStatus(IntEnum):
    """The contract's `dispenseStatus`: ALLOWED, or why a pharmacy may not dispense now."""

    ALLOWED = 0
    UNKNOWN = 1
    CANCELLED = 2
    NOT_YET_VALID = 3
    EXPIRED = 4
    USED_UP = 5
    TOO_EARLY = 6
    NOT_PHARMACY = 7
    OUT_OF_SCOPE = 8
    NOT_PRESENTED = 9


def new_prescription_id() -> bytes:
    return os.urandom(32)


def new_token_secret() -> bytes:
    return os.urandom(32)


def token_hash(prescription_id: bytes, secret: bytes) -> bytes:
    """What the chain keeps of a printed token: keccak256(abi.encode(prescriptionId, secret))."""
    return keccak(abi_encode(["bytes32", "bytes32"], [prescription_id, secret]))


class NewPrescription(BaseModel):
    """What a prescriber issues (FHIR MedicationRequest.dispenseRequest in on-chain terms)."""

    prescription_id: bytes = Field(min_length=32, max_length=32)
    patient: str
    record_id: bytes = Field(min_length=32, max_length=32, description="the MedicationRequest (PRESCRIPTION) record")
    valid_from: int = Field(ge=0, le=UINT40_MAX)
    valid_until: int = Field(ge=1, le=UINT40_MAX)
    dispenses_allowed: int = Field(ge=1, le=255, description="1 + numberOfRepeatsAllowed")
    min_interval: int = Field(default=0, ge=0, le=UINT32_MAX, description="seconds between dispenses")
    scope: Scope = Scope.ANY_PHARMACY
    country: str = Field(default="", description="ISO 3166 alpha-2, for Scope.COUNTRY")
    pharmacy: str = Field(default=ZERO_ADDRESS, description="for Scope.NAMED_PHARMACY")
    single_dispense: bool = False
    token_hash: bytes = Field(default=b"\x00" * 32, min_length=32, max_length=32)

    @model_validator(mode="after")
    def _consistent(self) -> "NewPrescription":
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if self.single_dispense and self.dispenses_allowed != 1:
            raise ValueError("a single-dispense prescription allows exactly one dispense")
        if self.scope == Scope.COUNTRY and len(self.country) != 2:
            raise ValueError("a country scope needs a two-letter country code")
        if self.scope == Scope.NAMED_PHARMACY and int(self.pharmacy, 16) == 0:
            raise ValueError("a named-pharmacy scope needs the pharmacy's address")
        return self

    def as_tuple(self) -> tuple[Any, ...]:
        country = self.country.upper().encode("ascii") if self.scope == Scope.COUNTRY else b"\x00\x00"
        return (
            self.prescription_id, to_checksum_address(self.patient), self.record_id, self.valid_from, self.valid_until,
            self.dispenses_allowed, self.min_interval, int(self.scope), country, to_checksum_address(self.pharmacy),
            self.single_dispense, self.token_hash,
        )


class PrescriptionState(BaseModel):
    """A prescription as the chain keeps it."""

    prescription_id: bytes
    patient: str
    prescriber: str
    record_id: bytes
    valid_from: int
    valid_until: int
    dispenses_allowed: int
    dispensed: int
    min_interval: int
    last_dispensed_at: int = Field(description="the issue time until the first dispense")
    scope: Scope
    country: str
    pharmacy: str
    single_dispense: bool
    cancelled: bool
    token_unused: bool

    @property
    def remaining(self) -> int:
        return max(0, self.dispenses_allowed - self.dispensed)


class Presentation(BaseModel):
    prescription_id: bytes
    patient: str
    pharmacy: str
    signer: str = Field(description="patient or delegate; the zero address for a token")
    block_number: int
    transaction_hash: str


class Dispense(BaseModel):
    prescription_id: bytes
    patient: str
    pharmacy: str
    dispense_record_id: bytes
    dispensed: int
    dispenses_allowed: int
    block_number: int
    timestamp: int = 0
    transaction_hash: str
    gas_used: int = 0


class Prescriptions:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.contract: Contract = ledger.contract(CONTRACT)

    @property
    def domain(self) -> Domain:
        return Domain.of(self.contract)

    @property
    def decoder(self) -> ErrorDecoder:
        """Every project contract's errors, this one's included."""
        return self.ledger.decoder

    def send(self, sender: TransactionSender, function: ContractFunction) -> TxReceipt:
        """One call; refusals surface as ContractRevert named after this contract's custom error."""
        return self.ledger.transact(sender, function)

    # --- prescriber --------------------------------------------------------------------------------
    def issue(self, prescriber: TransactionSender, prescription: NewPrescription) -> TxReceipt:
        return self.send(prescriber, self.contract.functions.issue(prescription.as_tuple()))

    def cancel(self, prescriber: TransactionSender, prescription_id: bytes) -> TxReceipt:
        return self.send(prescriber, self.contract.functions.cancel(prescription_id))

    # --- presentation ------------------------------------------------------------------------------
    def nonce(self, signer: str) -> int:
        return int(self.contract.functions.nonces(to_checksum_address(signer)).call())

    def present_message(self, prescription_id: bytes, pharmacy: str, deadline: int, signer: str, nonce: int | None = None) -> TypedMessage:
        """The `PresentPrescription` the patient (or delegate, `signer`) signs for one pharmacy."""
        message = {
            "prescriptionId": bytes(prescription_id),
            "pharmacy": to_checksum_address(pharmacy),
            "nonce": self.nonce(signer) if nonce is None else nonce,
            "deadline": deadline,
        }
        return TypedMessage(self.domain, "PresentPrescription", PRESENT_PRESCRIPTION_TYPES, message)

    def relay_presentation(self, relayer: TransactionSender, signed: TypedMessage, signature: bytes) -> Presentation:
        if signed.primary_type != "PresentPrescription":
            raise ValueError(f"not a PresentPrescription message: {signed.primary_type}")
        m = signed.message
        receipt = self.send(relayer, self.contract.functions.present(
            bytes(m["prescriptionId"]), to_checksum_address(m["pharmacy"]), int(m["nonce"]), int(m["deadline"]), signature
        ))
        return self._presentation(receipt)

    def present_token(self, pharmacy: TransactionSender, prescription_id: bytes, secret: bytes) -> Presentation:
        return self._presentation(self.send(pharmacy, self.contract.functions.presentToken(prescription_id, secret)))

    # --- pharmacy ----------------------------------------------------------------------------------
    def dispense(self, pharmacy: TransactionSender, prescription_id: bytes, dispense_record_id: bytes) -> Dispense:
        receipt = self.send(pharmacy, self.contract.functions.dispense(prescription_id, dispense_record_id))
        events = self._events(receipt, "PrescriptionDispensed")
        block = self.ledger.w3.eth.get_block(receipt["blockNumber"])
        return self._dispense(events[0], int(block["timestamp"]), gas_used=int(receipt["gasUsed"]))

    # --- views -------------------------------------------------------------------------------------
    def state(self, prescription_id: bytes) -> PrescriptionState | None:
        f = self.contract.functions
        with self.ledger.w3.batch_requests() as batch:
            batch.add(f.getPrescription(prescription_id))
            batch.add(f.prescriptionDetails(prescription_id))
            raw, details = batch.execute()
        return self._state_of(prescription_id, raw, details)

    @staticmethod
    def _state_of(prescription_id: bytes, raw: Any, details: Any) -> PrescriptionState | None:
        patient, valid_from, valid_until, allowed, flags, prescriber, last, dispensed, interval, country = raw
        if int(patient, 16) == 0:
            return None
        record_id, pharmacy, token_unused = details
        return PrescriptionState(
            prescription_id=bytes(prescription_id), patient=patient, prescriber=prescriber, record_id=bytes(record_id),
            valid_from=valid_from, valid_until=valid_until, dispenses_allowed=allowed, dispensed=dispensed,
            min_interval=interval, last_dispensed_at=last, scope=Scope(flags & _SCOPE_MASK),
            country=bytes(country).rstrip(b"\x00").decode("ascii", "replace"), pharmacy=pharmacy,
            single_dispense=bool(flags & _SINGLE), cancelled=bool(flags & _CANCELLED), token_unused=token_unused,
        )

    def status_and_state(self, prescription_id: bytes, pharmacy: str) -> tuple[DispenseStatus, PrescriptionState | None]:
        """`dispenseStatus` and the prescription, in one JSON-RPC batch (one round trip to the node)."""
        f = self.contract.functions
        with self.ledger.w3.batch_requests() as batch:
            batch.add(f.dispenseStatus(prescription_id, to_checksum_address(pharmacy)))
            batch.add(f.getPrescription(prescription_id))
            batch.add(f.prescriptionDetails(prescription_id))
            status, raw, details = batch.execute()
        return DispenseStatus(status), self._state_of(prescription_id, raw, details)

    def dispense_status(self, prescription_id: bytes, pharmacy: str, block: str | int = "latest") -> DispenseStatus:
        return DispenseStatus(self.contract.functions.dispenseStatus(prescription_id, to_checksum_address(pharmacy)).call(block_identifier=block))

    def is_presented(self, prescription_id: bytes, pharmacy: str) -> bool:
        return bool(self.contract.functions.isPresented(prescription_id, to_checksum_address(pharmacy)).call())

    def may_read(self, reader: str, prescription_id: bytes, record_id: bytes) -> bool:
        return bool(self.contract.functions.mayRead(to_checksum_address(reader), prescription_id, record_id).call())

    # --- events ------------------------------------------------------------------------------------
    def issued_to(self, patient: str) -> list[bytes]:
        """The prescription ids issued to a patient, oldest first."""
        return [bytes(e.args["prescriptionId"]) for e in self.ledger.events(CONTRACT, "PrescriptionIssued", patient=to_checksum_address(patient))]

    def issued_by(self, prescriber: str) -> list[bytes]:
        return [bytes(e.args["prescriptionId"]) for e in self.ledger.events(CONTRACT, "PrescriptionIssued", prescriber=to_checksum_address(prescriber))]

    def presentations(self, prescription_id: bytes) -> list[Presentation]:
        return [
            Presentation(prescription_id=bytes(e.args["prescriptionId"]), patient=e.args["patient"], pharmacy=e.args["pharmacy"],
                         signer=e.args["signer"], block_number=e.block_number, transaction_hash="0x" + e.transaction_hash.hex())
            for e in self.ledger.events(CONTRACT, "PrescriptionPresented", prescriptionId=prescription_id)
        ]

    def dispenses(self, prescription_id: bytes) -> list[Dispense]:
        found = []
        for e in self.ledger.events(CONTRACT, "PrescriptionDispensed", prescriptionId=prescription_id):
            block = self.ledger.w3.eth.get_block(e.block_number)
            found.append(self._dispense({**e.args, "blockNumber": e.block_number, "transactionHash": e.transaction_hash}, int(block["timestamp"])))
        return found

    def _events(self, receipt: TxReceipt, name: str) -> list[Any]:
        return list(self.contract.events[name]().process_receipt(receipt, errors=DISCARD))

    def _presentation(self, receipt: TxReceipt) -> Presentation:
        e = self._events(receipt, "PrescriptionPresented")[0]
        return Presentation(prescription_id=bytes(e.args["prescriptionId"]), patient=e.args["patient"], pharmacy=e.args["pharmacy"],
                            signer=e.args["signer"], block_number=e.blockNumber, transaction_hash=e.transactionHash.to_0x_hex())

    @staticmethod
    def _dispense(e: Any, timestamp: int, gas_used: int = 0) -> Dispense:
        args = e.args if hasattr(e, "args") else e
        tx = e.transactionHash if hasattr(e, "transactionHash") else args["transactionHash"]
        number = e.blockNumber if hasattr(e, "blockNumber") else args["blockNumber"]
        return Dispense(
            prescription_id=bytes(args["prescriptionId"]), patient=args["patient"], pharmacy=args["pharmacy"],
            dispense_record_id=bytes(args["dispenseRecordId"]), dispensed=args["dispensed"], dispenses_allowed=args["dispensesAllowed"],
            block_number=number, timestamp=timestamp, transaction_hash="0x" + bytes(tx).hex(), gas_used=gas_used,
        )
