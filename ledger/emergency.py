"""Typed access to BreakGlass: the patient's emergency policy, break-glasses, their reviews and the events.

The patient (or a delegate) signs `SetEmergencyPolicy` and `ReviewBreakGlass` (EIP-712, nonce, deadline) in the
wallet; any active member relays. An EMERGENCY member opens a break-glass; a PRIVACY_OFFICER member reviews directly.
"""

from __future__ import annotations

from enum import IntEnum
from functools import cached_property
from typing import Any

from eth_utils import to_checksum_address
from pydantic import BaseModel
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.eip712 import Domain, TypedMessage
from ledger.errors import ErrorDecoder
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category

CONTRACT = "BreakGlass"
DEFAULT_CATEGORIES = Category.ALLERGIES.bit | Category.MEDICATIONS.bit | Category.SUMMARY.bit | Category.IMMUNIZATIONS.bit | Category.ECG.bit
ALL_CATEGORIES = 0xFFFF
DEFAULT_DURATION = 4 * 3600
MAX_DURATION = 24 * 3600
REVIEW_PERIOD = 72 * 3600

SET_EMERGENCY_POLICY_TYPES = {
    "SetEmergencyPolicy": [
        {"name": "patient", "type": "address"},
        {"name": "mode", "type": "uint8"},
        {"name": "categories", "type": "uint16"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}
REVIEW_BREAK_GLASS_TYPES = {
    "ReviewBreakGlass": [
        {"name": "id", "type": "bytes32"},
        {"name": "justified", "type": "bool"},
        {"name": "noteHash", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}



class PolicyMode(IntEnum):
    DEFAULT = 0  # never signed: DEFAULT_CATEGORIES
    CATEGORIES = 1
    ALL = 2
    NEVER = 3


class ReasonCode(IntEnum):
    """FHIR v3 ActReason codes a break-glass may give."""

    ETREAT = 1  # emergency treatment
    BTG = 2  # break the glass
    ERTREAT = 3  # emergency room treatment


class Review(IntEnum):
    PENDING = 0
    JUSTIFIED = 1
    UNJUSTIFIED = 2


class EmergencyPolicy(BaseModel):
    patient: str
    mode: PolicyMode
    allowed: int  # categories a break-glass may cover now (0 for NEVER)


class BreakGlassAccess(BaseModel):
    id: bytes
    patient: str
    reader: str
    categories: int
    opened_at: int
    expires_at: int
    reason_code: ReasonCode
    review: Review
    reviewer: str | None
    reviewed_at: int | None

    @property
    def review_deadline(self) -> int:
        return self.opened_at + REVIEW_PERIOD

    def open_at(self, now: int) -> bool:
        return now < self.expires_at


class BreakGlassOpened(BaseModel):
    id: bytes
    patient: str
    reader: str
    reason_code: ReasonCode
    reason_hash: bytes
    categories: int
    opened_at: int
    expires_at: int
    reason_cid: bytes
    block_number: int
    transaction_hash: str


class BreakGlassReviewed(BaseModel):
    id: bytes
    patient: str
    reviewer: str
    justified: bool
    note_hash: bytes
    late: bool
    block_number: int


def hx(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def as_bytes32(value: bytes | str) -> bytes:
    """A bytes32 message field as bytes, whether it came as bytes or as 0x-hex."""
    raw = bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)
    if len(raw) != 32:
        raise ValueError("expected 32 bytes")
    return raw


class BreakGlassLedger:
    """The BreakGlass contract of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @property
    def deployed(self) -> bool:
        return CONTRACT in self.ledger.deployments.contracts

    @cached_property
    def contract(self) -> Contract:
        return self.ledger.contract(CONTRACT)

    @property
    def decoder(self) -> ErrorDecoder:
        return self.ledger.decoder  # every project contract's errors, BreakGlass's included

    @cached_property
    def domain(self) -> Domain:
        return Domain.of(self.contract)

    def sender(self, account: Any) -> TransactionSender:
        """A sender whose refusals decode BreakGlass's own errors."""
        return TransactionSender(self.ledger.w3, account, self.decoder)

    # ------------------------------------------------------------------ policy

    def policy(self, patient: str) -> EmergencyPolicy:
        mode, allowed = self.contract.functions.emergencyPolicy(to_checksum_address(patient)).call()
        return EmergencyPolicy(patient=to_checksum_address(patient), mode=PolicyMode(mode), allowed=allowed)

    def nonce(self, signer: str) -> int:
        return int(self.contract.functions.nonces(to_checksum_address(signer)).call())

    def policy_message(self, patient: str, mode: PolicyMode, categories: int, deadline: int, signer: str | None = None) -> TypedMessage:
        """The `SetEmergencyPolicy` message for `signer` (the patient, or its delegate) to sign."""
        if mode == PolicyMode.DEFAULT:
            raise ValueError("the policy mode must be CATEGORIES, ALL or NEVER")
        if mode == PolicyMode.CATEGORIES and not 0 < categories <= ALL_CATEGORIES:
            raise ValueError("a CATEGORIES policy names at least one category")
        if mode != PolicyMode.CATEGORIES and categories:
            raise ValueError("only a CATEGORIES policy names categories")
        message = {"patient": to_checksum_address(patient), "mode": int(mode), "categories": categories,
                   "nonce": self.nonce(signer or patient), "deadline": deadline}
        return TypedMessage(self.domain, "SetEmergencyPolicy", SET_EMERGENCY_POLICY_TYPES, message)

    def set_policy(self, sender: TransactionSender, message: TypedMessage, signature: bytes) -> TxReceipt:
        m = message.message
        return self._transact(sender, self.contract.functions.setEmergencyPolicy(
            m["patient"], m["mode"], m["categories"], m["nonce"], m["deadline"], signature))

    # ------------------------------------------------------------------ break-glass

    def open(self, sender: TransactionSender, patient: str, reason: ReasonCode, reason_hash: bytes, categories: int,
             duration: int = 0, reason_cid: bytes = b"") -> BreakGlassOpened:
        receipt = self._transact(sender, self.contract.functions.breakGlass(
            to_checksum_address(patient), int(reason), reason_hash, categories, duration, reason_cid))
        return self.opened_in(receipt)[0]

    def opened_in(self, receipt: TxReceipt) -> list[BreakGlassOpened]:
        from web3.logs import DISCARD

        logs = self.contract.events.BreakGlassOpened().process_receipt(receipt, errors=DISCARD)
        return [self._opened(e.args, receipt["blockNumber"], receipt["transactionHash"]) for e in logs]

    def get(self, break_glass_id: bytes) -> BreakGlassAccess | None:
        try:
            raw = self.contract.functions.getBreakGlass(break_glass_id).call()
        except Exception:  # noqa: BLE001 - UnknownBreakGlass (eth_call reverts)
            return None
        patient, categories, opened_at, expires_at, reader, reason, review, reviewed_at, reviewer = raw
        return BreakGlassAccess(
            id=bytes(break_glass_id), patient=patient, reader=reader, categories=categories, opened_at=opened_at, expires_at=expires_at,
            reason_code=ReasonCode(reason), review=Review(review), reviewer=None if int(reviewer, 16) == 0 else reviewer,
            reviewed_at=reviewed_at or None,
        )

    def may_read(self, reader: str, break_glass_id: bytes, record_id: bytes) -> bool:
        return bool(self.contract.functions.mayRead(to_checksum_address(reader), break_glass_id, record_id).call())

    # ------------------------------------------------------------------ review

    def review(self, sender: TransactionSender, break_glass_id: bytes, justified: bool, note_hash: bytes) -> TxReceipt:
        return self._transact(sender, self.contract.functions.review(break_glass_id, justified, note_hash))

    def review_message(self, break_glass_id: bytes, justified: bool, note_hash: bytes, signer: str, deadline: int) -> TypedMessage:
        message = {"id": bytes(break_glass_id), "justified": justified, "noteHash": bytes(note_hash), "nonce": self.nonce(signer), "deadline": deadline}
        return TypedMessage(self.domain, "ReviewBreakGlass", REVIEW_BREAK_GLASS_TYPES, message)

    def relay_review(self, sender: TransactionSender, message: TypedMessage, signature: bytes) -> TxReceipt:
        m = message.message
        return self._transact(sender, self.contract.functions.reviewBySig(
            as_bytes32(m["id"]), m["justified"], as_bytes32(m["noteHash"]), m["nonce"], m["deadline"], signature))

    # ------------------------------------------------------------------ events

    def opened(self, patient: str | None = None, reader: str | None = None) -> list[BreakGlassOpened]:
        if not self.deployed:
            return []
        indexed: dict[str, Any] = {}
        if patient:
            indexed["patient"] = to_checksum_address(patient)
        if reader:
            indexed["reader"] = to_checksum_address(reader)
        return [self._opened(e.args, e.block_number, e.transaction_hash) for e in self.ledger.events(CONTRACT, "BreakGlassOpened", **indexed)]

    def reviews(self, patient: str | None = None) -> list[BreakGlassReviewed]:
        if not self.deployed:
            return []
        indexed = {"patient": to_checksum_address(patient)} if patient else {}
        return [BreakGlassReviewed(id=bytes(e.args["id"]), patient=e.args["patient"], reviewer=e.args["reviewer"], justified=e.args["justified"],
                                   note_hash=bytes(e.args["noteHash"]), late=e.args["late"], block_number=e.block_number)
                for e in self.ledger.events(CONTRACT, "BreakGlassReviewed", **indexed)]

    def reads(self, ref: bytes | None = None, patient: str | None = None) -> list[tuple[bytes, str, list[bytes], int]]:
        """`CareRecordsAccessed` under break-glasses: (ref, reader, record ids, block)."""
        if not self.deployed:
            return []
        indexed: dict[str, Any] = {}
        if ref is not None:
            indexed["ref"] = ref
        if patient:
            indexed["patient"] = to_checksum_address(patient)
        return [(bytes(e.args["ref"]), e.args["reader"], [bytes(r) for r in e.args["recordIds"]], e.block_number)
                for e in self.ledger.events(CONTRACT, "CareRecordsAccessed", **indexed)]

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _opened(a: Any, block: int, tx: Any) -> BreakGlassOpened:
        return BreakGlassOpened(
            id=bytes(a["id"]), patient=a["patient"], reader=a["reader"], reason_code=ReasonCode(a["reasonCode"]), reason_hash=bytes(a["reasonHash"]),
            categories=a["categories"], opened_at=a["openedAt"], expires_at=a["expiresAt"], reason_cid=bytes(a["reasonCid"]),
            block_number=block, transaction_hash=tx if isinstance(tx, str) else "0x" + bytes(tx).hex(),
        )

    def _transact(self, sender: TransactionSender, function: ContractFunction) -> TxReceipt:
        return self.ledger.transact(sender, function)
