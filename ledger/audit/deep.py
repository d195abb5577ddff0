"""`--deep`: every payload fetched back from IPFS and re-verified against its anchor; batch manifests re-proven.

Per record anchored on its own: the bytes under the anchored CID must exist, hash (sha256) to the anchored
contentHash, re-import to the same CID, parse as a record object whose header names the same record, patient,
author, category and predecessor, and be pinned (an unpinned object is one `repo/gc` away from loss). Erased
records are expected to be gone (unpinned, not served). On a full replay, pins that no anchor or batch manifest
accounts for are counted as `orphan_pins` (an interrupted put leaves one until the record service recovers it).

Per batch: the manifest (`manifestCid`) must list records whose StandardMerkleTree (`sortLeaves: false`, as
`RecordRegistry.anchorBatch` builds it) has the anchored root and count; every record's proof is re-checked
and its payload verified like a single record. Manifest format (JSON)::

    {"format": "healthsilk-batch-manifest/1",
     "records": [{"recordId": "0x..", "patient": "0x..", "category": 2, "contentHash": "0x..", "cid": "bafk..."}]}

(a bare list of such records is accepted too; `cid` may be the text CID or the 0x-hex binary CID).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.audit.state import ZERO32, AuditState, Batch, hx
from ledger.audit.violations import Violation
from ledger.merkle import BatchRecord, RecordBatch, batch_leaf, verify
from network.ipfs_client import IpfsClient, IpfsError, IpfsNotFound

DeepProgress = Callable[[int, int], None]


@dataclass
class DeepFigures:
    payloads_verified: int = 0
    erasures_verified: int = 0
    batches_verified: int = 0
    batched_payloads_verified: int = 0
    orphan_pins: int | None = None  # None when the replay judged only part of the chain

    def as_json(self) -> dict[str, int | None]:
        return dict(self.__dict__)


def verify_payloads(state: AuditState, ipfs_url: str, *, judge_from: int, block: int, progress: DeepProgress | None = None,
                    ipfs_secret: str | None = None, count_orphans: bool = False) -> tuple[list[Violation], DeepFigures]:
    """Violations of payload-integrity and batch-proofs for the records and batches anchored from `judge_from`."""
    from records.cid import cid_to_text, payload_cid  # lazy: the record service package is heavy to import

    figures = DeepFigures()
    violations: list[Violation] = []
    records = sorted((r for r in state.records.values() if r.block >= judge_from), key=lambda r: (r.block, r.record_id))
    batches = sorted((b for b in state.batches.values() if b.block >= judge_from), key=lambda b: (b.block, b.root))
    total = len(records) + len(batches)
    with IpfsClient(ipfs_url, secret=ipfs_secret) as ipfs:
        pinned = ipfs.pins()
        accounted: set[str] = set()

        def check_payload(record_id: str, cid_hex: str, content_hash: str, at: tuple[int, str], header: dict[str, Any] | None, erased: bool) -> bool:
            def flag(text: str) -> None:
                violations.append(Violation("payload-integrity", at[0], at[1], 0, f"record {record_id}: {text}", record_id))

            try:
                cid = cid_to_text(bytes.fromhex(cid_hex[2:]))
            except Exception:  # noqa: BLE001 - any undecodable CID is the finding itself
                flag(f"anchored CID {cid_hex} is not a valid CID")
                return False
            accounted.add(cid)
            if erased:
                if cid in pinned:
                    flag(f"erased, but its payload {cid} is still pinned")
                    return False
                try:
                    ipfs.cat(cid)
                except IpfsError:
                    return True
                flag(f"erased, but its payload {cid} is still served by IPFS")
                return False
            try:
                data = ipfs.cat(cid)
            except IpfsNotFound:
                flag(f"payload {cid} is missing from IPFS")
                return False
            except IpfsError as exc:
                flag(f"payload {cid} could not be read intact: {exc}")
                return False
            if "0x" + hashlib.sha256(data).hexdigest() != content_hash:
                flag(f"payload {cid} has sha256 0x{hashlib.sha256(data).hexdigest()}, the anchor says {content_hash} (altered)")
                return False
            if payload_cid(ipfs_url, data) != cid:
                flag(f"payload re-imports to CID {payload_cid(ipfs_url, data)}, not the anchored {cid}")
                return False
            if header is not None and (problem := _header_problem(data, header)):
                flag(problem)
                return False
            if cid not in pinned:
                flag(f"payload {cid} is served but not pinned: the next repo/gc would delete it")
                return False
            return True

        done = 0
        for r in records:
            expected = {"recordId": r.record_id, "patient": r.patient, "author": r.author, "category": r.category, "supersedes": r.supersedes}
            if check_payload(r.record_id, r.cid, r.content_hash, (r.block, r.tx), expected, r.erased):
                if r.erased:
                    figures.erasures_verified += 1
                else:
                    figures.payloads_verified += 1
            done += 1
            if progress:
                progress(done, total)
        for b in batches:
            accounted.add(_manifest_cid(b))
            ok, entries = _check_batch(ipfs, b, violations)
            if ok:
                figures.batches_verified += 1
            for entry in entries:
                rid = "0x" + entry.record_id.hex()
                # By leaf: an identical copy erased in another batch is erased here too; a reused id is not.
                erased = hx(batch_leaf(entry.digest, entry.patient, entry.category)) in state.erased_batched
                header = {"recordId": rid, "patient": entry.patient, "author": b.author, "category": entry.category, "supersedes": ZERO32}
                if check_payload(rid, "0x" + entry.cid.hex(), "0x" + entry.content_hash.hex(), (b.block, b.tx), header, erased) and not erased:
                    figures.batched_payloads_verified += 1
            done += 1
            if progress:
                progress(done, total)
        if count_orphans:
            figures.orphan_pins = len(pinned - accounted)
    return violations, figures


def _manifest_cid(b: Batch) -> str:
    from records.cid import cid_to_text

    try:
        return cid_to_text(bytes.fromhex(b.manifest_cid[2:]))
    except Exception:  # noqa: BLE001 - an undecodable manifest CID is reported by _check_batch
        return b.manifest_cid


def _check_batch(ipfs: IpfsClient, b: Batch, violations: list[Violation]) -> tuple[bool, list[BatchRecord]]:
    """Recompute the batch root from its manifest and re-check every proof; the manifest's records when usable."""
    from records.cid import cid_to_text

    def flag(text: str) -> None:
        violations.append(Violation("batch-proofs", b.block, b.tx, 0, f"batch {b.root}: {text}", b.root))

    try:
        manifest = json.loads(ipfs.cat(cid_to_text(bytes.fromhex(b.manifest_cid[2:]))))
        items = manifest["records"] if isinstance(manifest, dict) else manifest
        entries = [
            BatchRecord(bytes.fromhex(i["recordId"][2:]), i["patient"], int(i["category"]), bytes.fromhex(i["contentHash"][2:]), _cid_bytes(str(i["cid"])))
            for i in items
        ]
    except IpfsError as exc:
        flag(f"manifest {b.manifest_cid} is not available from IPFS ({exc})")
        return False, []
    except (ValueError, KeyError, TypeError) as exc:
        flag(f"manifest is not a readable batch manifest ({exc})")
        return False, []
    if not entries:
        flag("manifest lists no records")
        return False, []
    batch = RecordBatch(entries)
    if len(entries) != b.count or batch.root != bytes.fromhex(b.root[2:]):
        flag(f"manifest of {len(entries)} records gives root 0x{batch.root.hex()}; anchored: {b.count} records, root {b.root}")
        return False, entries
    for index, entry in enumerate(entries):
        if not verify(batch.root, batch_leaf(entry.digest, entry.patient, entry.category), batch.proof(index)):
            flag(f"the proof of record 0x{entry.record_id.hex()} does not verify")
            return False, entries
    return True, entries


def _cid_bytes(cid: str) -> bytes:
    from records.cid import cid_to_bytes

    return bytes.fromhex(cid[2:]) if cid.startswith("0x") else cid_to_bytes(cid)


def _header_problem(data: bytes, expected: dict[str, Any]) -> str:
    """Why the record object's header disagrees with the anchor ("" when it agrees)."""
    from crypto.errors import CryptoError
    from crypto.record_object import RecordObject

    try:
        obj = RecordObject.decode(data)
    except CryptoError as exc:
        return f"payload is not a valid record object ({exc})"
    found = {"recordId": "0x" + obj.record_id.hex(), "patient": obj.patient, "author": obj.author, "category": obj.category, "supersedes": "0x" + obj.supersedes.hex()}
    differing = [key for key in expected if str(found[key]).lower() != str(expected[key]).lower()]
    if differing:
        return "record object header disagrees with the anchor on " + ", ".join(f"{key} ({found[key]} vs {expected[key]})" for key in differing)
    return ""
