"""The batch-anchored record behind a RecordErased / RecordsAccessed event, read from its transaction's calldata.

RecordRegistry keys a batched record's erasure marker by its StandardMerkleTree leaf, not its id: batch records'
ids are not unique on chain, so two batches may reuse one id, and an identical copy of an erased record in
another batch is erased too (same leaf). The events carry only the id; the leaf binds patient, category,
content hash and CID, which are in the calldata of the calls that emit them: `requestBatchedErasure`,
`requestBatchedErasureBySig` and `batchedRecordAccessed` (each one record per transaction).

Only the transactions that need it are fetched: every batched erasure, and each single-id access whose id is
not a record anchored on its own or was ever erased (where a batched read could otherwise be judged as the
read of another record with the same id).

`logAccessBatch` (the API's group commit of reads) emits the same `RecordsAccessed` events as `recordsAccessed`,
one per run of logged entries, and logs only records anchored on their own: its events are judged like theirs,
from the record's state, and its call is never needed (a fetched one decodes to nothing here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from ledger.audit.fetch import ChainEvent, ContractSet, _type_of, rpc_batch
from ledger.audit.state import ZERO32, AuditState, hx
from ledger.merkle import batch_leaf, record_digest, verify

ERASURE_FUNCTIONS = ("requestBatchedErasure", "requestBatchedErasureBySig")
ACCESS_FUNCTION = "batchedRecordAccessed"


@dataclass(frozen=True, slots=True)
class BatchedCall:
    """One decoded call on a batch-anchored record (JSON-native: 0x-hex, checksummed addresses)."""

    function: str
    root: str
    record_id: str
    patient: str
    category: int
    content_hash: str
    cid: str
    leaf: str
    proven: bool  # the calldata's proof leads from the leaf to the root (the contract refuses otherwise)


def decode_batched_call(selectors: dict[bytes, tuple[str, list[str]]], data: bytes) -> BatchedCall | None:
    """The batched-record call in `data`, or None when it is not one of the three functions (or malformed)."""
    spec = selectors.get(data[:4])
    if spec is None:
        return None
    name, inputs = spec
    try:
        args = abi_decode(inputs, data[4:])
    except Exception:  # noqa: BLE001 - calldata the contract would not have accepted either
        return None
    root, (record_id, patient, category, content_hash, cid), proof = bytes(args[0]), args[1], [bytes(p) for p in args[2]]
    leaf = batch_leaf(record_digest(bytes(record_id), bytes(content_hash), bytes(cid)), patient, category)
    return BatchedCall(name, hx(root), hx(record_id), to_checksum_address(patient), int(category), hx(content_hash), hx(cid), hx(leaf), verify(root, leaf, proof))


def _selectors(contracts: ContractSet) -> dict[bytes, tuple[str, list[str]]]:
    table: dict[bytes, tuple[str, list[str]]] = {}
    for entry in contracts["RecordRegistry"].abi:
        if entry.get("type") == "function" and entry.get("name") in (*ERASURE_FUNCTIONS, ACCESS_FUNCTION):
            inputs = [_type_of(item) for item in entry["inputs"]]
            table[keccak(text=f"{entry['name']}({','.join(inputs)})")[:4]] = (str(entry["name"]), inputs)
    return table


def _needs_call(events: Sequence[ChainEvent], state: AuditState) -> list[ChainEvent]:
    single = set(state.records) | {hx(ev.args["recordId"]) for ev in events if ev.name == "RecordAnchored"}
    erased = {r.record_id for r in state.records.values() if r.erased} | {entry[0] for entry in state.erased_batched.values()}
    erased |= {hx(ev.args["recordId"]) for ev in events if ev.name == "RecordErased"}
    wanted = []
    for ev in events:
        if ev.contract != "RecordRegistry":
            continue
        if ev.name == "RecordErased" and hx(ev.args["batchRoot"]) != ZERO32:
            wanted.append(ev)
        elif ev.name == "RecordsAccessed" and len(ev.args["recordIds"]) == 1:
            rid = hx(ev.args["recordIds"][0])
            if rid not in single or rid in erased:
                wanted.append(ev)
    return wanted


def attach_batched_calls(contracts: ContractSet, events: Sequence[ChainEvent], state: AuditState) -> int:
    """Set `ev.call` on the events that need their batched record; returns how many got one.

    An erasure left without a call (its transaction was not a direct RecordRegistry call) is flagged by the
    checks: its leaf cannot be established from the chain alone."""
    wanted = _needs_call(events, state)
    if not wanted:
        return 0
    hashes = sorted({ev.tx for ev in wanted})
    replies = rpc_batch(contracts.w3, [("eth_getTransactionByHash", [tx]) for tx in hashes])
    address = contracts["RecordRegistry"].address.lower()
    selectors = _selectors(contracts)
    calls: dict[str, BatchedCall | None] = {}
    for tx, reply in zip(hashes, replies, strict=True):
        calls[tx] = _call_of(reply, address, selectors)
    attached = 0
    for ev in wanted:
        call = calls.get(ev.tx)
        expected = ERASURE_FUNCTIONS if ev.name == "RecordErased" else (ACCESS_FUNCTION,)
        if call is not None and call.function in expected:
            ev.call = call
            attached += 1
    return attached


def _call_of(tx: Any, address: str, selectors: dict[bytes, tuple[str, list[str]]]) -> BatchedCall | None:
    if not isinstance(tx, dict) or str(tx.get("to") or "").lower() != address:
        return None
    data = tx.get("input") or tx.get("data") or "0x"
    return decode_batched_call(selectors, bytes.fromhex(str(data)[2:]))
