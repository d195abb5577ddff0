"""OpenZeppelin StandardMerkleTree in Python, and the batch leaves of RecordRegistry.anchorBatch.

Same tree as `@openzeppelin/merkle-tree`'s `StandardMerkleTree.of(values, types, { sortLeaves })`: leaf =
keccak256(keccak256(abi.encode(types, value))) (double-hashed so a leaf can never pass as an inner node),
inner node = keccak256 of the sorted pair, array layout with the leaves at the end in reverse order and
node i = hash(node 2i+1, node 2i+2). `RecordRegistry.anchorBatch` rebuilds this tree with `sort_leaves=False`
over its entries in calldata order, so proofs from here verify with OpenZeppelin's `MerkleProof` on chain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

# RecordRegistry's batch leaf value: (recordDigest, patient, category).
BATCH_LEAF_TYPES: tuple[str, ...] = ("bytes32", "address", "uint8")
# ConsentPolicy.MAX_CATEGORY_CODE: anchorBatch refuses higher codes.
MAX_CATEGORY_CODE = 15


def leaf_hash(types: Sequence[str], value: Sequence[Any]) -> bytes:
    """StandardMerkleTree leaf: keccak256(keccak256(abi.encode(value)))."""
    return keccak(keccak(encode(list(types), list(value))))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Commutative keccak256 of two nodes (OpenZeppelin Hashes.commutativeKeccak256)."""
    return keccak(a + b if a <= b else b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` leads to from `leaf` (MerkleProof.processProof)."""
    node = _bytes32(leaf, "leaf")
    for sibling in proof:
        node = hash_pair(node, _bytes32(sibling, "proof element"))
    return node


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """True when `proof` proves `leaf` under `root` (MerkleProof.verify)."""
    return process_proof(leaf, proof) == _bytes32(root, "root")


class StandardMerkleTree:
    """An immutable StandardMerkleTree over `values` of ABI `types`."""

    def __init__(self, values: Sequence[Sequence[Any]], types: Sequence[str], sort_leaves: bool = True) -> None:
        if not values:
            raise ValueError("a Merkle tree needs at least one leaf")
        self.types: tuple[str, ...] = tuple(types)
        self.values: tuple[tuple[Any, ...], ...] = tuple(tuple(value) for value in values)
        hashed = [(leaf_hash(self.types, value), index) for index, value in enumerate(self.values)]
        if sort_leaves:
            hashed.sort()
        n = len(hashed)
        tree: list[bytes] = [b""] * (2 * n - 1)
        # value index -> position in the tree array
        self._positions: list[int] = [0] * n
        for order, (leaf, index) in enumerate(hashed):
            position = len(tree) - 1 - order
            tree[position] = leaf
            self._positions[index] = position
        for position in range(len(tree) - 1 - n, -1, -1):
            tree[position] = hash_pair(tree[2 * position + 1], tree[2 * position + 2])
        self._tree: tuple[bytes, ...] = tuple(tree)

    @classmethod
    def of(cls, values: Sequence[Sequence[Any]], types: Sequence[str], sort_leaves: bool = True) -> "StandardMerkleTree":
        return cls(values, types, sort_leaves)

    @property
    def root(self) -> bytes:
        return self._tree[0]

    def __len__(self) -> int:
        return len(self.values)

    def leaf(self, index: int) -> bytes:
        """The leaf hash of value `index` (index into the values as given)."""
        return self._tree[self._positions[self._check_index(index)]]

    def proof(self, index: int) -> list[bytes]:
        """The sibling path of value `index`, leaf to root (StandardMerkleTree.getProof)."""
        position = self._positions[self._check_index(index)]
        path: list[bytes] = []
        while position > 0:
            sibling = position + 1 if position % 2 == 1 else position - 1
            path.append(self._tree[sibling])
            position = (position - 1) // 2
        return path

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self.values):
            raise IndexError(f"leaf index {index} out of range for a tree of {len(self.values)} leaves")
        return index


# ---------------------------------------------------------------- RecordRegistry batches


def record_digest(record_id: bytes, content_hash: bytes, cid: bytes) -> bytes:
    """RecordRegistry.recordDigest: keccak256(abi.encode(recordId, contentHash, keccak256(cid)))."""
    return keccak(encode(["bytes32", "bytes32", "bytes32"], [_bytes32(record_id, "recordId"), _bytes32(content_hash, "contentHash"), keccak(cid)]))


def batch_leaf(digest: bytes, patient: str, category: int) -> bytes:
    """RecordRegistry.batchLeaf of the entry (recordDigest, patient, category)."""
    return leaf_hash(BATCH_LEAF_TYPES, (_bytes32(digest, "recordDigest"), to_checksum_address(patient), _category(category)))


@dataclass(frozen=True)
class BatchRecord:
    """A record of a batch in full, as the manifest lists it (RecordRegistry.BatchedRecord)."""

    record_id: bytes
    patient: str
    category: int
    content_hash: bytes
    cid: bytes

    def __post_init__(self) -> None:
        _bytes32(self.record_id, "recordId")
        _bytes32(self.content_hash, "contentHash")
        if not 0 <= self.category <= MAX_CATEGORY_CODE:
            raise ValueError(f"category code must be 0..{MAX_CATEGORY_CODE}, got {self.category}")
        if not self.cid:
            raise ValueError("cid must not be empty")
        object.__setattr__(self, "patient", to_checksum_address(self.patient))

    @property
    def digest(self) -> bytes:
        return record_digest(self.record_id, self.content_hash, self.cid)

    def as_entry(self) -> tuple[bytes, str, int]:
        """The BatchEntry tuple anchorBatch takes."""
        return (self.digest, self.patient, self.category)

    def as_tuple(self) -> tuple[bytes, str, int, bytes, bytes]:
        """The BatchedRecord tuple verifyBatchedRecord / batchedRecordAccessed / erasure take."""
        return (self.record_id, self.patient, self.category, self.content_hash, self.cid)


class RecordBatch:
    """The tree RecordRegistry.anchorBatch builds from `records` in this order (`sortLeaves: false`)."""

    def __init__(self, records: Sequence[BatchRecord]) -> None:
        self.records: tuple[BatchRecord, ...] = tuple(records)
        self.tree = StandardMerkleTree([record.as_entry() for record in self.records], BATCH_LEAF_TYPES, sort_leaves=False)

    @property
    def root(self) -> bytes:
        return self.tree.root

    def entries(self) -> list[tuple[bytes, str, int]]:
        return [record.as_entry() for record in self.records]

    def proof(self, index: int) -> list[bytes]:
        return self.tree.proof(index)

    def leaf(self, index: int) -> bytes:
        return self.tree.leaf(index)


def _bytes32(value: bytes, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")
    return bytes(value)


def _category(category: int) -> int:
    if not 0 <= category <= 255:
        raise ValueError(f"category must fit in uint8, got {category}")
    return category


# ---------------------------------------------------------------- batch manifests (IPFS)

MANIFEST_FORMAT = "healthsilk-batch-manifest/1"


def manifest_bytes(records: Sequence[BatchRecord], cid_text: Callable[[bytes], str] | None = None) -> bytes:
    """The manifest a batch's `manifestCid` names (the format ledger/audit/deep.py verifies): every record in full,
    in tree order, as compact JSON. `cid_text` renders binary CIDs as text CIDs (default: 0x-hex, also accepted)."""
    render = cid_text or (lambda cid: "0x" + cid.hex())
    body = {
        "format": MANIFEST_FORMAT,
        "records": [
            {"recordId": "0x" + r.record_id.hex(), "patient": r.patient, "category": r.category, "contentHash": "0x" + r.content_hash.hex(), "cid": render(r.cid)}
            for r in records
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def parse_manifest(data: bytes, cid_bytes: Callable[[str], bytes] | None = None) -> list[BatchRecord]:
    """The records a manifest lists (ValueError when it is not one). `cid_bytes` parses text CIDs; 0x-hex CIDs are
    always accepted. A bare list of records is accepted too, as the auditor does."""
    try:
        manifest = json.loads(data)
        items = manifest["records"] if isinstance(manifest, dict) else manifest
        if not isinstance(items, list) or not items:
            raise ValueError("a manifest lists at least one record")
        records = []
        for item in items:
            cid = str(item["cid"])
            if cid.startswith("0x"):
                binary = bytes.fromhex(cid[2:])
            elif cid_bytes is not None:
                binary = cid_bytes(cid)
            else:
                raise ValueError(f"text CID {cid!r} given and no parser")
            records.append(BatchRecord(bytes.fromhex(str(item["recordId"])[2:]), str(item["patient"]), int(item["category"]), bytes.fromhex(str(item["contentHash"])[2:]), binary))
        return records
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a batch manifest: {exc}") from None
