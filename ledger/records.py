"""Typed access to the RecordRegistry: anchors (single and batched), upload authorisations, erasure, the access log."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from eth_utils.abi import collapse_if_tuple
from hexbytes import HexBytes
from pydantic import BaseModel
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.eip712 import Domain, TypedMessage
from ledger.events import DecodedEvent, EventReader
from ledger.merkle import BatchRecord, RecordBatch
from ledger.transactions import TransactionSender
from ledger.vocabulary import Purpose

ZERO32 = b"\x00" * 32
ACCESS_ENTRY_SIZE = 33  # RecordRegistry.ACCESS_ENTRY_SIZE: recordId (32 bytes) then purpose (1 byte)
RECORDS_ACCESSED_TOPIC = keccak(text="RecordsAccessed(address,address,bytes32,uint8,bytes32[])")
# anchorRecord's gas, with room: ~70k, ~135k for an author's first record (its author index), a longer CID or a
# superseded record's extra reads add a few thousand. Passing it skips the estimate (a refusal still decodes).
ANCHOR_GAS = 250_000


def batch_gas(batch: RecordBatch) -> int:
    """anchorBatch's gas, with room, so the estimate can be skipped: measured ~63k + ~2k per record + ~6.3k per run of
    one patient (its consent lookup). A batch the contract refuses then fails in its receipt, decoded all the same."""
    runs = 1 + sum(1 for a, b in zip(batch.records, batch.records[1:]) if a.patient != b.patient)
    return int(1.3 * (70_000 + 3_000 * len(batch.records) + 7_500 * runs))



@lru_cache(maxsize=8192)
def _checksummed(raw: bytes) -> str:
    """EIP-55 form of a 20-byte address: a keccak each time, and a batch's receipt names the same few addresses."""
    return to_checksum_address(raw)


ACCESS_BATCH_GAS_CAP = 6_000_000  # above this a batch is estimated instead: far from any sandbox block's limit


def access_batch_gas(entries: int, runs: int) -> int | None:
    """logAccessBatch's gas, with room, so the estimate (an EVM run in the node and a round trip through the
    gateway per batch) can be skipped: measured 43k for one entry, ~31k + ~11.6k per run (consecutive entries of
    one patient and purpose: one consent lookup) + ~3.5k per entry; a refused entry costs less than a logged one.
    Count a run per entry when the patients are not known. None when the bound is large: estimate then."""
    gas = int(1.5 * (40_000 + 15_000 * max(1, runs) + 4_000 * entries))
    return gas if gas <= ACCESS_BATCH_GAS_CAP else None


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


class BatchPosition(BaseModel):
    """Where a batch-anchored record sits: its batch (RecordBatchAnchored) and its Merkle proof under the root."""

    root: bytes
    index: int
    count: int
    manifest_cid: bytes
    proof: list[bytes]

    def record_tuple(self, anchor: Anchor) -> tuple[bytes, str, int, bytes, bytes]:
        """The BatchedRecord tuple the contract's batched functions take."""
        return (anchor.record_id, to_checksum_address(anchor.patient), anchor.category, anchor.content_hash, anchor.cid)


class Anchor(BaseModel):
    """A record's anchor as the chain recorded it: event RecordAnchored, or for a batch-anchored record its
    manifest entry under RecordBatchAnchored (`batch` set; author = the batch's, supersedes and consent_id zero)."""

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
    batch: BatchPosition | None = None

    def batch_record(self) -> BatchRecord:
        return BatchRecord(self.record_id, self.patient, self.category, self.content_hash, self.cid)


class AnchoredBatch(BaseModel):
    """A RecordBatchAnchored event."""

    root: bytes
    author: str
    count: int
    manifest_cid: bytes
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
    def anchor(self, author: TransactionSender, record: NewRecord, gas: int | None = None) -> Anchor:
        """anchorRecord; with `gas` (e.g. ANCHOR_GAS) no estimate is made: a refusal is decoded from the receipt."""
        receipt = author.transact(self.contract.functions.anchorRecord(record.as_tuple()), gas=gas)
        return self.anchor_from_receipt(receipt)

    def submit_batch(self, author: TransactionSender, batch: RecordBatch, manifest_cid: bytes, gas: int | None = None, urgent: bool = False) -> HexBytes:
        """Send anchorBatch without waiting; the whole batch is refused if any entry is: at the estimate, or with
        `gas` (e.g. `batch_gas(batch)`) in the receipt (ContractRevert from `wait`)."""
        if gas is None:
            return author.submit(self.contract.functions.anchorBatch(batch.entries(), manifest_cid), gas=gas, urgent=urgent)
        return author.submit_data(self.contract.address, self.calldata("anchorBatch", batch.entries(), manifest_cid), gas=gas, urgent=urgent)

    def submit_anchor(self, author: TransactionSender, record: NewRecord, gas: int = 0, urgent: bool = False) -> HexBytes:
        """Send anchorRecord without waiting, with `gas` (e.g. ANCHOR_GAS): a refusal comes from `wait`, decoded."""
        return author.submit_data(self.contract.address, self.calldata("anchorRecord", record.as_tuple()), gas=gas or ANCHOR_GAS, urgent=urgent)

    def calldata(self, function: str, *args: Any) -> str:
        """ABI-encoded call data of `function(*args)` (a function of this contract, not overloaded), encoded by
        eth_abi directly: web3's contract-function path (ABI lookup, argument normalisation, selector hashing on
        every call) cost ~8% of the API's CPU per put. Malformed arguments raise (eth_abi's encoding errors)."""
        selector, types = self._signatures(function)
        return selector + abi_encode(types, args).hex()

    def _signatures(self, function: str) -> tuple[str, list[str]]:
        """(0x selector, input types) of `function`, worked out once per registry object."""
        known = self.__dict__.setdefault("_signature_cache", {})
        if function not in known:
            (abi,) = [item for item in self.contract.abi if item.get("type") == "function" and item.get("name") == function]
            types = [collapse_if_tuple(dict(argument)) for argument in abi["inputs"]]
            known[function] = ("0x" + keccak(text=f"{function}({','.join(types)})")[:4].hex(), types)
        return known[function]  # type: ignore[no-any-return]

    def batch_anchors(self, receipt: TxReceipt, batch: RecordBatch) -> list[Anchor]:
        """Each record's anchor from anchorBatch's receipt (ValueError if the root is not the batch's)."""
        (log,) = self.contract.events.RecordBatchAnchored().process_receipt(receipt, errors=DISCARD)
        anchored = _batch(log["args"], log["blockNumber"], log["transactionHash"].to_0x_hex())
        if anchored.root != batch.root or anchored.count != len(batch.records):
            raise ValueError(f"transaction {anchored.transaction_hash} anchored root 0x{anchored.root.hex()}, not this batch's 0x{batch.root.hex()}")
        return batched_anchors(anchored, batch)

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
        return self.anchor_from_receipt(receipt)

    # --- erasure -----------------------------------------------------------------------------------
    def erasure_message(self, patient: str, record_id: bytes, deadline: int, nonce: int | None = None) -> TypedMessage:
        patient = to_checksum_address(patient)
        message = {"patient": patient, "recordId": record_id, "nonce": self.nonce(patient) if nonce is None else nonce, "deadline": deadline}
        return TypedMessage(self.domain, "RequestErasure", REQUEST_ERASURE_TYPES, message)

    def relay_erasure(self, relayer: TransactionSender, signed: TypedMessage, signature: bytes) -> None:
        m = signed.message
        relayer.transact(self.contract.functions.requestErasureBySig(m["recordId"], m["nonce"], m["deadline"], signature))

    def relay_batched_erasure(self, relayer: TransactionSender, anchor: Anchor, signed: TypedMessage, signature: bytes) -> None:
        """requestBatchedErasureBySig: the same signed RequestErasure, proven against the record's batch root."""
        assert anchor.batch is not None
        m = signed.message
        fn = self.contract.functions.requestBatchedErasureBySig(anchor.batch.root, anchor.batch.record_tuple(anchor), anchor.batch.proof, m["nonce"], m["deadline"], signature)
        relayer.transact(fn)

    # --- access log --------------------------------------------------------------------------------
    def log_access(self, reader: TransactionSender, record_ids: list[bytes], purpose: Purpose) -> None:
        """All or nothing: ContractRevert (nothing logged) when any entry is refused."""
        if len(record_ids) == 1:
            reader.transact(self.contract.functions.recordAccessed(record_ids[0], int(purpose)))
        else:
            reader.transact(self.contract.functions.recordsAccessed(record_ids, int(purpose)))

    def submit_access_batch(self, reader: TransactionSender, entries: Sequence[tuple[bytes, Purpose | int]], gas: int | None = None) -> HexBytes:
        """Send one `logAccessBatch` without waiting; it reverts only as a whole (reader not an active member,
        empty or oversized batch), a refused entry is skipped. Read the outcome with `access_batch_result`. With
        `gas` (`access_batch_gas`) no estimate is made: a whole-batch refusal then comes from `wait`, decoded."""
        if gas is None:
            return reader.submit(self.contract.functions.logAccessBatch(pack_access_entries(entries)))
        return reader.submit_data(self.contract.address, self.calldata("logAccessBatch", pack_access_entries(entries)), gas=gas)

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
                patient=_checksummed(topics[1][12:]), reader=_checksummed(topics[2][12:]), consent_id=topics[3], purpose=purpose,
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

    def submit_batched_access(self, reader: TransactionSender, anchor: Anchor, purpose: Purpose | int) -> HexBytes:
        """batchedRecordAccessed for a batch-anchored record (its own transaction: logAccessBatch knows only
        records anchored on their own). A refusal raises ContractRevert at the estimate."""
        assert anchor.batch is not None
        fn = self.contract.functions.batchedRecordAccessed(anchor.batch.root, anchor.batch.record_tuple(anchor), anchor.batch.proof, int(purpose))
        return reader.submit(fn)

    def batched_access_result(self, receipt: TxReceipt, anchor: Anchor, purpose: Purpose | int) -> AccessBatchResult:
        return self.access_batch_result(receipt, [(anchor.record_id, purpose)])

    # --- reads -------------------------------------------------------------------------------------
    def nonce(self, account: str) -> int:
        return int(self.contract.functions.nonces(to_checksum_address(account)).call())

    def state(self, record_id: bytes) -> RecordState | None:
        return self.state_of(self.contract.functions.getRecord(record_id).call())

    @staticmethod
    def state_of(raw: Any) -> RecordState | None:
        """getRecord's answer (e.g. from a batch of requests) as a RecordState; None for an unknown record."""
        patient, category, anchored_at, erased, author = raw
        if int(patient, 16) == 0:
            return None
        return RecordState(patient=patient, category=category, anchored_at=anchored_at, erased=erased, author=author)

    def author_index(self, author: str) -> int:
        """The index records anchored on their own store for `author`; 0 until it anchors its first one."""
        return int(self.contract.functions.authorIndexOf(to_checksum_address(author)).call())

    def batch_state(self, root: bytes) -> tuple[str, int, int] | None:
        """(author, anchoredAt, count) of an anchored batch, None when unknown."""
        author, anchored_at, count = self.contract.functions.getBatch(root).call()
        return None if int(author, 16) == 0 else (author, int(anchored_at), int(count))

    def is_batched_erased(self, anchor: Anchor) -> bool:
        assert anchor.batch is not None
        return bool(self.contract.functions.isBatchedRecordErased(anchor.batch.record_tuple(anchor)).call())

    def verify_batched(self, anchor: Anchor) -> bool:
        """verifyBatchedRecord: the contract's own check of the record's proof against its anchored root."""
        assert anchor.batch is not None
        return bool(self.contract.functions.verifyBatchedRecord(anchor.batch.root, anchor.batch.record_tuple(anchor), anchor.batch.proof).call())

    def batches(self, from_block: int | None = None, to_block: int | None = None, author: str | None = None) -> list[AnchoredBatch]:
        """RecordBatchAnchored events in [from_block (deployment), to_block (head)], in chain order."""
        start = self.ledger.deployments.contracts["RecordRegistry"].block_number if from_block is None else from_block
        end = self.ledger.w3.eth.block_number if to_block is None else to_block
        if end < start:
            return []
        indexed = {} if author is None else {"author": to_checksum_address(author)}
        events = EventReader(self.ledger.w3, self.ledger.max_block_range).read_filtered(self.contract, "RecordBatchAnchored", start, end, **indexed)
        return [_batch(e.args, e.block_number, "0x" + e.transaction_hash.hex()) for e in events]

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

    def anchor_from_receipt(self, receipt: dict) -> Anchor:  # type: ignore[type-arg]
        """The anchor an anchorRecord receipt logged (RecordAnchored)."""
        (log,) = self.contract.events.RecordAnchored().process_receipt(receipt, errors=DISCARD)
        return _anchor(log["args"], log["blockNumber"], log["transactionHash"].to_0x_hex())

    @staticmethod
    def _anchor_from_event(event: DecodedEvent) -> Anchor:
        return _anchor(event.args, event.block_number, "0x" + event.transaction_hash.hex())


def batched_anchors(anchored: AnchoredBatch, batch: RecordBatch) -> list[Anchor]:
    """The anchors of a batch's records, proofs included (the batch as its manifest lists it)."""
    return [
        Anchor(
            record_id=r.record_id, patient=r.patient, author=anchored.author, category=r.category, content_hash=r.content_hash, cid=r.cid,
            supersedes=ZERO32, consent_id=ZERO32, block_number=anchored.block_number, transaction_hash=anchored.transaction_hash,
            batch=BatchPosition(root=anchored.root, index=index, count=anchored.count, manifest_cid=anchored.manifest_cid, proof=batch.proof(index)),
        )
        for index, r in enumerate(batch.records)
    ]


def _batch(args: Any, block_number: int, transaction_hash: str) -> AnchoredBatch:
    return AnchoredBatch(
        root=bytes(args["root"]), author=args["author"], count=int(args["count"]), manifest_cid=bytes(args["manifestCid"]),
        block_number=block_number, transaction_hash=transaction_hash,
    )


def _anchor(args: Any, block_number: int, transaction_hash: str) -> Anchor:
    return Anchor(
        record_id=bytes(args["recordId"]), patient=args["patient"], author=args["author"], category=args["category"], content_hash=bytes(args["contentHash"]),
        cid=bytes(args["cid"]), supersedes=bytes(args["supersedes"]), consent_id=bytes(args["consentId"]), block_number=block_number, transaction_hash=transaction_hash,
    )
