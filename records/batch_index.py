"""Where batch-anchored records are: record id -> anchor, from RecordBatchAnchored events and their IPFS manifests.

RecordRegistry stores a batch as one word under its Merkle root; which records it holds is only in its manifest
(IPFS, named by the event's `manifestCid`). This index follows the events (every author's, so batched records of
other institutions can be read too), fetches each manifest once, keeps it only if its StandardMerkleTree has the
anchored root and count, and answers by record id with the record's anchor and Merkle proof.

The record service adds its own batches the moment their receipts arrive, so its puts never wait for a sync.
A lookup that misses syncs to the head first (`find(..., sync=True)`), so a batch mined a moment ago by anyone is
found. Batch-anchored record ids are not unique on chain (the contract does not check them): when one id appears
in several batches, the earliest is the record's anchor (a later copy can only be a duplicate or an imitation).
A manifest that cannot be fetched yet is retried at the next sync; one that does not match its root is ignored.
"""

from __future__ import annotations

import logging
import threading

from eth_utils import to_checksum_address

from records.cid import cid_to_bytes, cid_to_text
from ledger.merkle import RecordBatch, parse_manifest
from ledger.records import Anchor, AnchoredBatch, RecordRegistry, batched_anchors
from network.ipfs_client import IpfsClient, IpfsError

log = logging.getLogger(__name__)


class BatchIndex:
    def __init__(self, records: RecordRegistry, ipfs: IpfsClient) -> None:
        self.records = records
        self.ipfs = ipfs
        self._lock = threading.Lock()  # the maps
        self._sync_lock = threading.Lock()  # one sync at a time
        self._by_id: dict[bytes, list[Anchor]] = {}
        self._by_patient: dict[str, list[Anchor]] = {}
        self._roots: set[bytes] = set()
        self._unresolved: dict[bytes, AnchoredBatch] = {}  # manifest not fetched yet
        self._synced: int | None = None  # last block scanned
        self.ignored: dict[str, str] = {}  # root -> why its manifest was not indexed

    # ------------------------------------------------------------------ queries
    def find(self, record_id: bytes, sync: bool = True) -> Anchor | None:
        """The record's batch anchor (earliest batch holding it); on a miss, syncs to the head and asks again."""
        found = self._first(bytes(record_id))
        if found is None and sync:
            self.sync()
            found = self._first(bytes(record_id))
        return found

    def of_patient(self, patient: str, sync: bool = True) -> list[Anchor]:
        """Every batch-anchored record of `patient` (first anchor per record id), in chain order."""
        if sync:
            self.sync()
        with self._lock:
            anchors = list(self._by_patient.get(to_checksum_address(patient), []))
        firsts = [a for a in anchors if self._first(a.record_id) is a]
        return sorted(firsts, key=lambda a: (a.block_number, a.transaction_hash, a.batch.index if a.batch else 0))

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"batches": len(self._roots), "records": len(self._by_id), "unresolved": len(self._unresolved), "synced_block": self._synced or 0}

    # ------------------------------------------------------------------ updates
    def add(self, anchors: list[Anchor]) -> None:
        """A batch known from its own receipt (the record service's): indexed at once."""
        if not anchors or anchors[0].batch is None:
            return
        with self._lock:
            root = anchors[0].batch.root
            if root in self._roots:
                return
            self._roots.add(root)
            self._unresolved.pop(root, None)
            for anchor in anchors:
                self._by_id.setdefault(anchor.record_id, []).append(anchor)
                self._by_id[anchor.record_id].sort(key=lambda a: (a.block_number, a.transaction_hash))
                self._by_patient.setdefault(to_checksum_address(anchor.patient), []).append(anchor)

    def sync(self) -> None:
        """Read RecordBatchAnchored events since the last sync, and the manifests not fetched yet."""
        with self._sync_lock:
            head = int(self.records.ledger.w3.eth.block_number)
            start = None if self._synced is None else self._synced + 1
            if start is None or start <= head:
                for batch in self.records.batches(from_block=start, to_block=head):
                    with self._lock:
                        if batch.root not in self._roots:
                            self._unresolved[batch.root] = batch
                self._synced = head
            with self._lock:
                waiting = list(self._unresolved.values())
            for batch in waiting:
                self._resolve(batch)

    def _resolve(self, batch: AnchoredBatch) -> None:
        cid = cid_to_text(batch.manifest_cid)
        try:
            records = parse_manifest(self.ipfs.cat(cid), cid_to_bytes)
        except IpfsError as exc:
            log.info("manifest %s of batch 0x%s not available yet: %s", cid, batch.root.hex(), exc)
            return  # retried at the next sync
        except ValueError as exc:
            self._ignore(batch, f"manifest {cid} is not a batch manifest: {exc}")
            return
        tree = RecordBatch(records)
        if tree.root != batch.root or len(records) != batch.count:
            self._ignore(batch, f"manifest {cid} gives root 0x{tree.root.hex()} over {len(records)} records; anchored: 0x{batch.root.hex()}, {batch.count}")
            return
        self.add(batched_anchors(batch, tree))

    def _ignore(self, batch: AnchoredBatch, why: str) -> None:
        log.warning("batch 0x%s not indexed: %s", batch.root.hex(), why)
        with self._lock:
            self._unresolved.pop(batch.root, None)
            self._roots.add(batch.root)
            self.ignored["0x" + batch.root.hex()] = why

    def _first(self, record_id: bytes) -> Anchor | None:
        with self._lock:
            anchors = self._by_id.get(record_id)
            return anchors[0] if anchors else None
