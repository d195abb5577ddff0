"""Typed access to the RecordRegistry: anchors, patient upload authorisations, erasure, the access log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel
from hexbytes import HexBytes
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.eip712 import Domain, TypedMessage
from ledger.events import DecodedEvent
from ledger.transactions import TransactionSender
from ledger.vocabulary import Purpose

ZERO32 = b"\x00" * 32
ACCESS_ENTRY_SIZE = 33  # RecordRegistry.ACCESS_ENTRY_SIZE: recordId (32 bytes) then purpose (1 byte)
RECORDS_ACCESSED_TOPIC = keccak(text="RecordsAccessed(address,address,bytes32,uint8,bytes32[])")

UPLOAD_AUTHORIZATION_TYPES = {
    "UploadAuthorization": [
        {"name": "patient", "type": "address"},
        {"name": "author", "type": "address"},
        {"name": "recordId", "type": "bytes32"},
        {"name": "category", "type": "uint8"},
        {"name": "contentHash", "type": "bytes32"},
        {"name": "cid", "type": "bytes"},
        {"name": "supersedes", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}
REQUEST_ERASURE_TYPES = {"RequestErasure": [{"name": "patient", "type": "address"}, {"name": "recordId", "type": "bytes32"}, {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}]}


class NewRecord(BaseModel):
    record_id: bytes
    patient: str
    category: int
    content_hash: bytes
    cid: bytes
    supersedes: bytes = ZERO32

    def as_tuple(self) -> tuple[bytes, str, int, bytes, bytes, bytes]:
        return (self.record_id, to_checksum_address(self.patient), self.category, self.content_hash, self.cid, self.supersedes)


class Anchor(BaseModel):
    """A record's anchor as the chain recorded it (event RecordAnchored)."""

    record_id: bytes
    patient: str
    author: str
    category: int
    content_hash: bytes
    cid: bytes
    supersedes: bytes
    consent_id: bytes
    block_number: int
    transaction_hash: str


class RecordState(BaseModel):
    """A record anchored on its own, as RecordRegistry stores it (getRecord)."""

    patient: str
    category: int
    anchored_at: int
    erased: bool
    author: str  # the provider that anchored it; HealthCardPayments pays only the author for it


class Access(BaseModel):
    patient: str
    reader: str
    consent_id: bytes
    purpose: int
    record_ids: list[bytes]
    block_number: int
    transaction_hash: str


class AccessBatchResult(BaseModel):
    """What one `logAccessBatch` transaction logged: per entry (in the order given), its event or None if refused."""

    transaction_hash: str
    block_number: int
    gas_used: int
    logged: list[Access | None]


def pack_access_entries(entries: Sequence[tuple[bytes, Purpose | int]]) -> bytes:
    """`logAccessBatch` calldata: recordId ‖ purpose per entry (ValueError for a malformed id or purpose byte)."""
    packed = bytearray()
    for record_id, purpose in entries:
        if len(record_id) != 32 or not 0 <= int(purpose) <= 0xFF:
            raise ValueError(f"an access entry is a 32-byte record id and a purpose byte, got {record_id!r}, {purpose!r}")
        packed += bytes(record_id) + bytes([int(purpose)])
    return bytes(packed)


class RecordRegistry:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.contract: Contract = ledger.contract("RecordRegistry")

    @property
    def domain(self) -> Domain:
        return Domain.of(self.contract)

    # --- anchoring ---------------------------------------------------------------------------------
    def anchor(self, author: TransactionSender, record: NewRecord) -> Anchor:
        receipt = author.transact(self.contract.functions.anchorRecord(record.as_tuple()))
        return self._anchor_from(receipt)

    def upload_authorization(self, record: NewRecord, author: str, deadline: int, signer: str | None = None, nonce: int | None = None) -> TypedMessage:
        """The message a patient (or delegate) signs so `author` may anchor `record` without a standing consent."""
        record_id, patient, category, content_hash, cid, supersedes = record.as_tuple()
        message = {
            "patient": patient, "author": to_checksum_address(author), "recordId": record_id, "category": category, "contentHash": content_hash,
            "cid": cid, "supersedes": supersedes, "nonce": self.nonce(signer or patient) if nonce is None else nonce, "deadline": deadline,
        }
        return TypedMessage(self.domain, "UploadAuthorization", UPLOAD_AUTHORIZATION_TYPES, message)

    def anchor_with_authorization(self, author: TransactionSender, record: NewRecord, signed: TypedMessage, signature: bytes) -> Anchor:
        m = signed.message
        receipt = author.transact(self.contract.functions.anchorRecordWithAuthorization(record.as_tuple(), m["nonce"], m["deadline"], signature))
        return self._anchor_from(receipt)

    # --- erasure -----------------------------------------------------------------------------------
    def erasure_message(self, patient: str, record_id: bytes, deadline: int, nonce: int | None = None) -> TypedMessage:
        patient = to_checksum_address(patient)
        message = {"patient": patient, "recordId": record_id, "nonce": self.nonce(patient) if nonce is None else nonce, "deadline": deadline}
        return TypedMessage(self.domain, "RequestErasure", REQUEST_ERASURE_TYPES, message)

    def relay_erasure(self, relayer: TransactionSender, signed: TypedMessage, signature: bytes) -> None:
        m = signed.message
        relayer.transact(self.contract.functions.requestErasureBySig(m["recordId"], m["nonce"], m["deadline"], signature))

    # --- access log --------------------------------------------------------------------------------
    def log_access(self, reader: TransactionSender, record_ids: list[bytes], purpose: Purpose) -> None:
        """All or nothing: ContractRevert (nothing logged) when any entry is refused."""
        if len(record_ids) == 1:
            reader.transact(self.contract.functions.recordAccessed(record_ids[0], int(purpose)))
        else:
            reader.transact(self.contract.functions.recordsAccessed(record_ids, int(purpose)))

    def submit_access_batch(self, reader: TransactionSender, entries: Sequence[tuple[bytes, Purpose | int]]) -> HexBytes:
        """Send one `logAccessBatch` without waiting; it reverts only as a whole (reader not an active member,
        empty or oversized batch), a refused entry is skipped. Read the outcome with `access_batch_result`."""
        return reader.submit(self.contract.functions.logAccessBatch(pack_access_entries(entries)))

    def log_access_batch(self, reader: TransactionSender, entries: Sequence[tuple[bytes, Purpose | int]]) -> AccessBatchResult:
        """`submit_access_batch` and wait: per entry, the event that logged it or None when the contract refused it."""
        return self.access_batch_result(reader.wait(self.submit_access_batch(reader, entries)), entries)

    def access_batch_result(self, receipt: TxReceipt, entries: Sequence[tuple[bytes, Purpose | int]]) -> AccessBatchResult:
        """Matches the receipt's RecordsAccessed events to `entries` (the order they were sent in).

        The contract logs accepted entries in entry order and skips refused ones, and two entries with the same
        record and purpose in one transaction always share their fate, so walking both lists in order is exact.
        """
        tx_hash, block = receipt["transactionHash"].to_0x_hex(), int(receipt["blockNumber"])
        logged: list[tuple[bytes, int, Access]] = []
        address = self.contract.address.lower()
        for log in receipt["logs"]:
            # Decoded by hand: web3's process_receipt costs ~1 ms per log, and a batch has a log per patient.
            topics = [bytes(topic) for topic in log["topics"]]
            if str(log["address"]).lower() != address or len(topics) != 4 or topics[0] != RECORDS_ACCESSED_TOPIC:
                continue
            purpose, record_ids = abi_decode(["uint8", "bytes32[]"], bytes(log["data"]))
            access = Access(
                patient=to_checksum_address(topics[1][12:]), reader=to_checksum_address(topics[2][12:]), consent_id=topics[3], purpose=purpose,
                record_ids=[bytes(r) for r in record_ids], block_number=block, transaction_hash=tx_hash,
            )
            logged.extend((record_id, access.purpose, access) for record_id in access.record_ids)
        out: list[Access | None] = []
        position = 0
        for record_id, purpose in entries:
            if position < len(logged) and logged[position][:2] == (bytes(record_id), int(purpose)):
                out.append(logged[position][2])
                position += 1
            else:
                out.append(None)
        if position != len(logged):
            raise ValueError(f"transaction {tx_hash} logged accesses that are not among the entries sent")
        return AccessBatchResult(transaction_hash=tx_hash, block_number=block, gas_used=int(receipt["gasUsed"]), logged=out)

    # --- reads -------------------------------------------------------------------------------------
    def nonce(self, account: str) -> int:
        return int(self.contract.functions.nonces(to_checksum_address(account)).call())

    def state(self, record_id: bytes) -> RecordState | None:
        patient, category, anchored_at, erased, author = self.contract.functions.getRecord(record_id).call()
        if int(patient, 16) == 0:
            return None
        return RecordState(patient=patient, category=category, anchored_at=anchored_at, erased=erased, author=author)

    def author_index(self, author: str) -> int:
        """The index records anchored on their own store for `author`; 0 until it anchors its first one."""
        return int(self.contract.functions.authorIndexOf(to_checksum_address(author)).call())

    def find_anchor(self, record_id: bytes) -> Anchor | None:
        events = self.ledger.events("RecordRegistry", "RecordAnchored", recordId=record_id)
        return self._anchor_from_event(events[0]) if events else None

    def anchors_of(self, patient: str) -> list[Anchor]:
        return [self._anchor_from_event(event) for event in self.ledger.events("RecordRegistry", "RecordAnchored", patient=to_checksum_address(patient))]

    def accesses_of(self, patient: str) -> list[Access]:
        return [
            Access(
                patient=e.args["patient"], reader=e.args["reader"], consent_id=bytes(e.args["consentId"]), purpose=e.args["purpose"],
                record_ids=[bytes(r) for r in e.args["recordIds"]], block_number=e.block_number, transaction_hash="0x" + e.transaction_hash.hex(),
            )
            for e in self.ledger.events("RecordRegistry", "RecordsAccessed", patient=to_checksum_address(patient))
        ]

    def _anchor_from(self, receipt: dict) -> Anchor:  # type: ignore[type-arg]
        (log,) = self.contract.events.RecordAnchored().process_receipt(receipt, errors=DISCARD)
        return _anchor(log["args"], log["blockNumber"], log["transactionHash"].to_0x_hex())

    @staticmethod
    def _anchor_from_event(event: DecodedEvent) -> Anchor:
        return _anchor(event.args, event.block_number, "0x" + event.transaction_hash.hex())


def _anchor(args: Any, block_number: int, transaction_hash: str) -> Anchor:
    return Anchor(
        record_id=bytes(args["recordId"]), patient=args["patient"], author=args["author"], category=args["category"], content_hash=bytes(args["contentHash"]),
        cid=bytes(args["cid"]), supersedes=bytes(args["supersedes"]), consent_id=bytes(args["consentId"]), block_number=block_number, transaction_hash=transaction_hash,
    )
