"""Record objects in IPFS: add + pin, and fetch-and-verify against the on-chain anchor."""

from __future__ import annotations

import hashlib
import time

from records.cid import cid_to_text, payload_cid
from records.errors import PayloadMissingError, PayloadTamperedError
from crypto import CryptoError
from crypto.record_object import RecordObject
from ledger.records import Anchor
from i18n import _
from network.ipfs_client import IpfsClient, IpfsError, IpfsNotFound


class ObjectStore:
    def __init__(self, ipfs: IpfsClient, api_url: str) -> None:
        self.ipfs = ipfs
        self.api_url = api_url

    def add(self, data: bytes) -> str:
        """Store and pin; adding the same bytes again is harmless and yields the same CID."""
        return self.ipfs.add(data, pin=True)

    def unpin(self, cid: str) -> bool:
        """Unpin if pinned; True when a pin was removed."""
        try:
            self.ipfs.pin_rm(cid)
        except IpfsNotFound:
            return False
        return True

    def fetch(self, anchor: Anchor, timings: dict[str, float] | None = None) -> tuple[RecordObject, bytes]:
        """The anchored object, checked against the anchor's sha256, CID and header fields."""
        cid = cid_to_text(anchor.cid)
        start = time.perf_counter()
        try:
            data = self.ipfs.cat(cid)
        except IpfsNotFound:
            raise PayloadMissingError(_("record 0x{record}: object {cid} is not on the IPFS node (unpinned or never replicated here)").format(record=anchor.record_id.hex(), cid=cid)) from None
        except IpfsError as exc:
            if "do not match" in str(exc):  # the client re-checks raw CIDs itself
                raise PayloadTamperedError(_("record 0x{record}: {reason}").format(record=anchor.record_id.hex(), reason=exc)) from None
            raise
        if timings is not None:
            timings["ipfs_cat"] = time.perf_counter() - start
        if hashlib.sha256(data).digest() != anchor.content_hash:
            raise PayloadTamperedError(_("record 0x{record}: object {cid} does not match the sha256 anchored on chain").format(record=anchor.record_id.hex(), cid=cid))
        if payload_cid(self.api_url, data) != cid:
            raise PayloadTamperedError(_("record 0x{record}: bytes served do not hash to the anchored CID {cid}").format(record=anchor.record_id.hex(), cid=cid))
        try:
            obj = RecordObject.decode(data)
        except CryptoError as exc:
            raise PayloadTamperedError(_("record 0x{record}: anchored object is malformed: {reason}").format(record=anchor.record_id.hex(), reason=exc)) from None
        mismatch = [
            name
            for name, ours, theirs in (
                ("recordId", obj.record_id, anchor.record_id),
                ("patient", obj.patient, anchor.patient),
                ("author", obj.author, anchor.author),
                ("category", obj.category, anchor.category),
                ("supersedes", obj.supersedes, anchor.supersedes),
            )
            if ours != theirs
        ]
        if mismatch:
            raise PayloadTamperedError(_("record 0x{record}: object header disagrees with the anchor on {fields}").format(record=anchor.record_id.hex(), fields=", ".join(mismatch)))
        return obj, data
